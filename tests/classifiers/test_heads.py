"""The multi-label head on tiny synthetic features: no database, no encoder."""

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from classifiers.head_training import train_head
from classifiers.heads import FORMAT, LEGACY_FORMAT, Head, HeadConfig, evaluate

ROOT = Path(__file__).resolve().parents[2]

CATEGORIES = ["spam", "harassment"]
FAST = HeadConfig(epochs=100, seed=3)


def toy_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two linearly separable categories over 8 features, spam 30% and harassment 20% positive."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    spam = x[:, 0] > 0.52
    harassment = x[:, 1] + x[:, 2] > 1.19
    return x, np.stack([spam, harassment], axis=1).astype(np.int8)


@pytest.fixture(scope="module")
def toy_head() -> Head:
    x, y = toy_problem(600, seed=0)
    return train_head(x, y, categories=CATEGORIES, config=FAST, feature_spec={"kind": "toy"})


def test_it_separates_a_separable_problem_on_held_out_rows(toy_head):
    x, y = toy_problem(400, seed=1)
    report = evaluate(toy_head.predict_proba(x), y, categories=CATEGORIES)
    for slug in CATEGORIES:
        assert report[slug]["f1"] > 0.9, report[slug]
        assert report[slug]["roc_auc"] > 0.98, report[slug]
        assert report[slug]["ece"] < 0.1, report[slug]


def test_unknown_labels_are_not_counted_as_negatives():
    x, y = toy_problem(600, seed=0)
    hidden = np.flatnonzero(y[:, 1] == 1)[::4]
    y[np.setdiff1d(np.flatnonzero(y[:, 1] == 1), hidden), 1] = -1  # only a quarter of the positives are known
    # The loss mask seen without calibration on top: Platt, fitted on the known labels, would rightly
    # learn that a known harassment label is rare here and move the threshold with it.
    uncalibrated = HeadConfig(epochs=100, seed=3, calibration_folds=0)
    head = train_head(x, y, categories=CATEGORIES, config=uncalibrated)
    as_negatives = train_head(x, np.where(y == -1, 0, y), categories=CATEGORIES, config=uncalibrated)
    x_test, y_test = toy_problem(400, seed=1)
    report = evaluate(head.predict_proba(x_test), y_test, categories=CATEGORIES)
    wrong = evaluate(as_negatives.predict_proba(x_test), y_test, categories=CATEGORIES)
    # Read as negatives, the hidden positives teach the head that harassment is rare and lower its
    # recall; masked, the known quarter still carries the boundary.
    assert report["harassment"]["recall"] > 0.8, report["harassment"]
    assert report["harassment"]["roc_auc"] > 0.97
    assert wrong["harassment"]["recall"] < report["harassment"]["recall"] - 0.1, wrong["harassment"]


def test_rows_without_any_known_label_change_nothing():
    x, y = toy_problem(300, seed=0)
    noise = np.random.default_rng(9).normal(5.0, 3.0, (200, 8)).astype(np.float32)
    padded_x = np.concatenate([x, noise])
    padded_y = np.concatenate([y, np.full((200, 2), -1, dtype=np.int8)])
    plain = train_head(x, y, categories=CATEGORIES, config=FAST)
    padded = train_head(padded_x, padded_y, categories=CATEGORIES, config=FAST)
    probe = toy_problem(50, seed=2)[0]
    np.testing.assert_array_equal(plain.predict_proba(probe), padded.predict_proba(probe))


def test_training_is_deterministic_and_leaves_the_global_rng_alone():
    x, y = toy_problem(200, seed=0)
    before = torch.random.get_rng_state()
    losses = []
    first = train_head(x, y, categories=CATEGORIES, config=FAST, progress=lambda passes, loss: losses.append(loss))
    assert torch.equal(before, torch.random.get_rng_state())
    second = train_head(x, y, categories=CATEGORIES, config=FAST)
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))
    assert len(losses) > 3 and min(losses) < losses[0] / 2


def test_a_hidden_layer_head_trains_too():
    x, y = toy_problem(400, seed=0)
    head = train_head(x, y, categories=CATEGORIES, config=HeadConfig(hidden=16, epochs=40, seed=1))
    x_test, y_test = toy_problem(300, seed=1)
    assert evaluate(head.predict_proba(x_test), y_test, categories=CATEGORIES)["spam"]["f1"] > 0.9


def test_a_category_without_positives_is_left_to_the_prior():
    x, y = toy_problem(200, seed=0)
    y = np.concatenate([y, np.zeros((200, 1), dtype=np.int8)], axis=1)
    head = train_head(x, y, categories=[*CATEGORIES, "hate"], config=FAST)
    assert head.categories == ("spam", "harassment")
    assert head.predict_proba(x).shape == (200, 2)
    with pytest.raises(ValueError, match="both a positive and a negative"):
        train_head(x, np.full((200, 1), -1), categories=["hate"], config=FAST)


def test_save_and_load_give_identical_probabilities(toy_head, tmp_path):
    path = tmp_path / "head.pt"
    toy_head.save(path)
    loaded = Head.load(path, expected_dim=8)
    probe = toy_problem(100, seed=5)[0]
    np.testing.assert_array_equal(toy_head.predict_proba(probe), loaded.predict_proba(probe))
    assert loaded.categories == toy_head.categories
    assert loaded.features == {"kind": "toy"}
    assert loaded.config == FAST


def test_it_refuses_files_of_another_format_or_dimension(toy_head, tmp_path):
    toy_head.save(tmp_path / "head.npz")
    with pytest.raises(ValueError, match="expects 8-dimensional features"):
        Head.load(tmp_path / "head.npz", expected_dim=384)
    torch.save({"format": "moderation.head/0", "dim": 8}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=f"old.pt is not a {FORMAT} or {LEGACY_FORMAT} file"):
        Head.load(tmp_path / "old.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match=f"junk.pt is not a {FORMAT} file"):
        Head.load(tmp_path / "junk.pt")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match=f"other.npz is not a {FORMAT} file"):
        Head.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        Head.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        toy_head.predict_proba(np.zeros((2, 9), dtype=np.float32))


def _rewritten(head_file: Path, destination: Path, **changes: np.ndarray | None) -> Path:
    """A copy of a saved head's .npz with arrays replaced (or left out, for None)."""
    with np.load(head_file, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    with destination.open("wb") as handle:
        np.savez(handle, **arrays)
    return destination


def test_bad_weights_are_refused_with_an_error_naming_the_file(toy_head, tmp_path):
    saved = tmp_path / "head.npz"
    toy_head.save(saved)
    weight = toy_head.state_dict["0.weight"]
    nan = weight.copy()
    nan[0, 0] = np.nan
    cases = {
        "nan.npz": ({"net.0.weight": nan}, "layer 0 holds NaN or infinite weights"),
        "narrow.npz": ({"net.0.weight": weight[:, :4]}, r"layer 0 has weight \(2, 4\)"),
        "extra.npz": ({"net.2.weight": weight}, r"layers \['0.bias', '0.weight', '2.weight'\]"),
        "no-mean.npz": ({"mean": None}, "the array 'mean' is missing"),
        "pickled.npz": ({"mean": np.array([{"a": 1}], dtype=object)}, "is not a"),
    }
    for name, (changes, reason) in cases.items():
        with pytest.raises(ValueError, match=rf"{name}.*{reason}"):
            Head.load(_rewritten(saved, tmp_path / name, **changes))


@pytest.mark.parametrize("hidden", [0, 16])
def test_the_numpy_head_gives_the_torch_networks_logits(hidden):
    from classifiers.head_training import _build_net

    x, y = toy_problem(300, seed=0)
    head = train_head(x, y, categories=CATEGORIES, config=HeadConfig(hidden=hidden, epochs=40, seed=1))
    net = _build_net(8, 2, head.config)
    net.load_state_dict({key: torch.from_numpy(value) for key, value in head.state_dict.items()})
    probe = toy_problem(200, seed=4)[0]
    with torch.inference_mode():
        expected = net(torch.from_numpy((probe - head._mean) / head._scale)).numpy()
    np.testing.assert_allclose(head.logits(probe), expected, rtol=1e-5, atol=1e-5)


def _save_as_torch_did(head: Head, path: Path) -> None:
    """What ``Head.save`` wrote before heads were .npz files (format moderation.head/1)."""
    torch.save(
        {
            "format": LEGACY_FORMAT,
            "categories": list(head.categories),
            "dim": head.dim,
            "config": asdict(head.config),
            "state_dict": {key: torch.from_numpy(value) for key, value in head.state_dict.items()},
            "mean": torch.from_numpy(head._mean.copy()),
            "scale": torch.from_numpy(head._scale.copy()),
            "calibration": torch.from_numpy(head._calibration.copy()),
            "features": head.features,
            "summary": head.summary,
            "extras": {key: torch.from_numpy(value) for key, value in head.extras.items()},
        },
        path,
    )


def test_a_head_saved_by_torch_before_still_loads_and_scores_the_same(toy_head, tmp_path):
    _save_as_torch_did(toy_head, tmp_path / "legacy.pt")
    loaded = Head.load(tmp_path / "legacy.pt", expected_dim=8)
    probe = toy_problem(100, seed=5)[0]
    np.testing.assert_array_equal(toy_head.predict_proba(probe), loaded.predict_proba(probe))
    assert loaded.categories == toy_head.categories and loaded.features == {"kind": "toy"}


LOADING_PROCESS = """
import json, sys
import numpy as np
from classifiers.heads import Head
head = Head.load(sys.argv[1], expected_dim=8)
probs = head.predict_proba(np.ones((1, 8), dtype=np.float32))
print(json.dumps({"torch": "torch" in sys.modules, "sklearn": "sklearn" in sys.modules, "probs": probs.tolist()}))
"""


def test_loading_and_running_a_head_imports_neither_torch_nor_scikit_learn(toy_head, tmp_path):
    toy_head.save(tmp_path / "head.npz")
    done = subprocess.run(
        [sys.executable, "-c", LOADING_PROCESS, str(tmp_path / "head.npz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"] is False and result["sklearn"] is False
    expected = toy_head.predict_proba(np.ones((1, 8), dtype=np.float32))
    np.testing.assert_allclose(result["probs"], expected, rtol=1e-6)


def test_evaluate_reports_none_for_aucs_of_a_category_without_positives():
    probs = np.array([[0.9, 0.2], [0.1, 0.7], [0.8, 0.1], [0.3, 0.4]])
    labels = np.array([[1, 0], [0, 0], [1, -1], [0, 0]])
    report = evaluate(probs, labels, categories=["spam", "hate"])
    assert report["spam"]["f1"] == 1.0 and report["spam"]["roc_auc"] == 1.0 and report["spam"]["pr_auc"] == 1.0
    hate = report["hate"]
    assert hate["roc_auc"] is None and hate["pr_auc"] is None and hate["recall"] is None
    assert hate["support"] == {"positives": 0, "negatives": 3}
    assert hate["precision"] == 0.0  # it predicted one positive that was wrong
    assert hate["ece"] == pytest.approx((0.2 + 0.7 + 0.4) / 3)


def noisy_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One category whose label is a coin weighted by sigmoid(3 * x0): no head can be sure, so calibration shows."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    truth = rng.random(n) < 1 / (1 + np.exp(-3 * x[:, 0]))
    return x, truth.astype(np.int8).reshape(-1, 1)


def test_the_head_returned_is_trained_on_every_row_and_calibrated_out_of_fold():
    x, y = noisy_problem(500, seed=0)
    calibrated = train_head(x, y, categories=["spam"], config=FAST)
    raw = train_head(x, y, categories=["spam"], config=HeadConfig(epochs=100, seed=3, calibration_folds=0))
    # The same net (every row, no held-out split); only the calibration on top differs.
    np.testing.assert_allclose(calibrated.logits(x), raw.logits(x), rtol=1e-6)
    assert calibrated.summary["calibration_folds"] == 5 and raw.summary["calibration_folds"] == 0
    assert calibrated.summary["rows"] == 500
    # Calibrated on rows the fold heads did not see, the probabilities match the true frequencies on new rows.
    x_test, y_test = noisy_problem(4000, seed=1)
    p = calibrated.predict_proba(x_test)[:, 0]
    true_p = 1 / (1 + np.exp(-3 * x_test[:, 0]))
    assert evaluate(p.reshape(-1, 1), y_test, categories=["spam"])["spam"]["ece"] < 0.05
    assert np.abs(p - true_p).mean() < 0.06


def test_calibration_folds_are_stratified_and_tiny_sets_stay_uncalibrated():
    from classifiers.head_training import _calibration_folds

    y = np.zeros((103, 2), dtype=np.int8)
    y[:12, 0] = 1  # 12 rare positives: every one of 5 folds gets 2 or 3
    y[12:60, 1] = 1
    folds = _calibration_folds(y, 5, seed=0)
    for column in range(2):
        per_fold = np.bincount(folds[y[:, column] == 1], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1, per_fold
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 1
    np.testing.assert_array_equal(folds, _calibration_folds(y, 5, seed=0))
    assert _calibration_folds(y[:4], 5, seed=0) is None
    x, labels = toy_problem(4, seed=0)
    labels[:2], labels[2:] = 1, 0
    head = train_head(x, labels, categories=CATEGORIES, config=FAST)  # fewer rows than folds: no calibration
    assert head.summary["calibration_folds"] == 0
