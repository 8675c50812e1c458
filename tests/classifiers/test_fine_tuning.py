"""The staged fine-tuning schedule: frozen head, last blocks, all, chosen by the validation split, within a CPU budget.

Tiny random-init timm networks on small synthetic images (a bright bar whose height is the class); nothing is
downloaded and no database is used.
"""

import functools

import numpy as np
import pytest
import torch

from classifiers.fine_tuning import (
    ALL,
    FROZEN,
    HEAD_C_GRID,
    LAST_BLOCKS,
    PSEUDO_LABELLING,
    REFIT,
    SELF_TRAINED,
    StageProgress,
    _Data,
    _mixup_loss,
    _pseudo_label,
    _random_erase,
    _refit,
    _train_stage,
    fine_tune_in_stages,
    student_is_kept,
    trainable_modules,
    validation_split,
)
from classifiers.image_training import classify, prepare_images
from classifiers.inference.image import create_network

ARCH = "mobilenetv3_small_050"
SIZE = 32


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _bars(n: int, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        images[index, 3 + 6 * label : 7 + 6 * label, 4:24] = 230
    return images, labels


def test_validation_split_is_stratified_disjoint_and_complete():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, val = validation_split(labels, 0.2, seed=3)
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(100))
    assert np.bincount(labels[val]).tolist() == [10, 6, 4]
    again_train, again_val = validation_split(labels, 0.2, seed=3)
    assert (again_val == val).all() and (again_train == train).all()


def test_last_blocks_are_the_tail_of_the_network():
    network = create_network(ARCH, num_classes=3)
    modules = trainable_modules(network, LAST_BLOCKS, 2)
    assert modules[:2] == list(network.blocks[-2:])
    assert network.get_classifier() in modules
    assert network.blocks[0] not in modules and network.conv_stem not in modules
    assert trainable_modules(network, ALL, 2) == [network]


def test_choice_follows_the_validation_metric_and_a_ruinous_fine_tune_is_not_chosen():
    images, labels = _bars(96)
    # A learning rate of 50 wrecks whatever it trains: the validation split must see that and keep the head.
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, epochs=2, lr=50.0, batch_size=16,
        budget_seconds=30, threads=1, val_fraction=0.25, seed=0,
    )  # fmt: skip
    accuracies = {stage.stage: stage.val_accuracy for stage in result.stages}
    assert list(accuracies) == [FROZEN, LAST_BLOCKS, ALL]
    assert accuracies[FROZEN] >= 0.9, accuracies
    assert accuracies[ALL] < 0.6, accuracies
    assert result.chosen == FROZEN
    # The recorded accuracies are those of the stored weights on the validation images (not the test data).
    _, val = validation_split(labels, 0.25, seed=0)
    pixels = prepare_images(images[val], result.network(), SIZE)
    for stage, accuracy in accuracies.items():
        predicted = classify(result.network(stage), pixels, result.mean, result.std)
        assert float((predicted == labels[val]).mean()) == pytest.approx(accuracy)
    assert result.val_images == len(val) == 24


def test_the_best_validation_stage_is_chosen_and_last_blocks_leave_the_rest_alone():
    images, labels = _bars(96)
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, epochs=2, lr=3e-3, batch_size=16,
        budget_seconds=30, threads=1, val_fraction=0.25, seed=0,
    )  # fmt: skip
    best = max(stage.val_accuracy for stage in result.stages)
    assert {s.stage: s.val_accuracy for s in result.stages}[result.chosen] == best
    assert [s.stage for s in result.stages if s.val_accuracy == best][0] == result.chosen  # ties go to the cheaper
    frozen, last = result.states[FROZEN], result.states[LAST_BLOCKS]
    first = next(key for key in frozen if key.startswith("blocks.0.") and key.endswith("weight"))
    tail = next(key for key in frozen if key.startswith(f"blocks.{len(result.network().blocks) - 1}."))
    assert torch.equal(frozen[first], last[first])
    assert torch.equal(frozen["conv_stem.weight"], last["conv_stem.weight"])
    assert not torch.equal(frozen[tail], last[tail])
    assert not torch.equal(last[first], result.states[ALL][first])
    # Training runs channels-last for speed; what it hands on is back in the default layout.
    assert all(tensor.is_contiguous() for state in result.states.values() for tensor in state.values())


def test_the_budget_stops_training_and_the_settings_give_budget_and_threads(settings):
    images, labels = _bars(48)
    settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS = 8
    settings.RETRAIN_IMAGE_FINE_TUNE_THREADS = 1
    torch.set_num_threads(2)  # the caller's setting, to be replaced during the run and restored after it
    seen: list[tuple[StageProgress, int]] = []
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, epochs=1000, batch_size=16, val_fraction=0.25,
        progress=lambda p: seen.append((p, torch.get_num_threads())),
    )  # fmt: skip
    tuned = [stage for stage in result.stages if stage.stage != FROZEN]
    assert all(stage.stopped_by_budget and 0 < stage.epochs < 1000 for stage in tuned), result.stages
    # One step, the BatchNorm pass and the validation pass may run past the budget; nothing more.
    assert sum(stage.cpu_seconds for stage in result.stages) < 8 + 6
    assert seen and {threads for _, threads in seen} == {1}
    assert torch.get_num_threads() == 2  # the caller's setting is back
    assert seen[0][0].describe().startswith("fine-tuning the backbone (last blocks): epoch 1, loss ")


def test_a_zero_budget_keeps_the_frozen_head():
    images, labels = _bars(64)
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, budget_seconds=0, threads=1, val_fraction=0.25
    )
    assert [s.steps for s in result.stages] == [0, 0, 0]
    assert result.chosen == FROZEN


def test_bad_stages_and_labels_are_refused():
    images, labels = _bars(40)
    with pytest.raises(ValueError, match="stages must be a subset"):
        fine_tune_in_stages(images, labels, architecture=ARCH, input_size=SIZE, stages=(ALL, LAST_BLOCKS),
                            budget_seconds=1, threads=1)  # fmt: skip
    with pytest.raises(ValueError, match="one integer label"):
        fine_tune_in_stages(images, labels[:3], architecture=ARCH, input_size=SIZE, budget_seconds=1, threads=1)


def test_refit_on_all_replays_the_chosen_fine_tuning_on_every_label():
    images, labels = _bars(96)
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, stages=(LAST_BLOCKS,), epochs=2, lr=3e-3,
        batch_size=16, budget_seconds=60, threads=1, val_fraction=0.25, seed=0,
    )  # fmt: skip
    # On these bars the frozen head usually wins; the replay of a chosen fine-tuning stage is what is tested here.
    result.chosen = LAST_BLOCKS
    pixels = prepare_images(images, result.network(), SIZE)
    _, val = validation_split(labels, 0.25, seed=0)
    everything = _Data(pixels, labels, pixels[val], labels[val], result.mean, result.std)
    seen: list[StageProgress] = []
    train = functools.partial(
        _train_stage, last_blocks=2, epochs=2, batch_size=16, weight_decay=0.05, label_smoothing=0.1, erase=0.0,
        mixup=0.0, seed=0, progress=seen.append,
    )  # fmt: skip
    refit, steps = _refit(
        result, everything, architecture=ARCH, initial_state=None, stages=(LAST_BLOCKS,), batch_size=16, lr=3e-3,
        all_lr=None, seed=0, train=train,
    )  # fmt: skip
    chosen = result.states[LAST_BLOCKS]
    # 2 epochs over all 96 images (6 batches of 16 each), where the choice ran 2 epochs of 4 batches over 72.
    assert result.stages[1].steps == 2 * 4 and steps == 2 * 6
    assert [(p.stage, p.epoch) for p in seen] == [(LAST_BLOCKS, 1), (LAST_BLOCKS, 2)]
    # Same frozen part as the chosen stage (same start, same seed), a different trained part.
    assert torch.equal(refit["conv_stem.weight"], chosen["conv_stem.weight"])
    assert torch.equal(refit["blocks.0.0.conv_dw.weight"], chosen["blocks.0.0.conv_dw.weight"])
    assert not torch.equal(refit["classifier.weight"], chosen["classifier.weight"])


def test_a_refit_run_hands_out_the_refitted_model():
    images, labels = _bars(64)
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, stages=(LAST_BLOCKS,), epochs=1, batch_size=16,
        budget_seconds=30, threads=1, val_fraction=0.25, refit_on_all=True,
    )  # fmt: skip
    assert REFIT in result.states and result.as_dict()["refit_on_all"] is True and result.refit_cpu_seconds > 0
    assert 0 < result.refit_wall_seconds < result.wall_seconds
    # The frozen head refits in one LR fit; a chosen last-blocks stage replays its epochs over all 64 images.
    assert result.refit_steps == (0 if result.chosen == FROZEN else round(result.stages[1].epochs * 4))
    handed = result.network().state_dict()["classifier.weight"]
    assert torch.equal(handed, result.states[REFIT]["classifier.weight"])
    assert not torch.equal(handed, result.states[result.chosen]["classifier.weight"])


def test_refit_on_all_of_a_frozen_head_keeps_its_c_and_learns_from_the_validation_images_too():
    images, labels = _bars(64)
    kept = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, budget_seconds=0, threads=1, val_fraction=0.25
    )
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, budget_seconds=0, threads=1, val_fraction=0.25,
        refit_on_all=True,
    )  # fmt: skip
    assert result.chosen == FROZEN and REFIT not in kept.states and kept.as_dict()["refit_on_all"] is False
    assert result.head_c in HEAD_C_GRID and result.refit_steps == 0
    refit, frozen = result.states[REFIT], result.states[FROZEN]
    assert all(torch.equal(refit[key], frozen[key]) for key in frozen if not key.startswith("classifier."))
    assert not torch.equal(refit["classifier.weight"], frozen["classifier.weight"])
    assert torch.equal(frozen["classifier.weight"], kept.states[FROZEN]["classifier.weight"])
    pixels = prepare_images(images, result.network(), SIZE)
    assert (classify(result.network(), pixels, result.mean, result.std) == labels).mean() >= 0.9


def test_the_all_stage_takes_its_own_learning_rate():
    images, labels = _bars(48)
    common = {"architecture": ARCH, "input_size": SIZE, "epochs": 1, "lr": 3e-3, "batch_size": 16,
              "budget_seconds": 30, "threads": 1, "val_fraction": 0.25, "seed": 0}  # fmt: skip
    still = fine_tune_in_stages(images, labels, all_lr=0.0, **common)
    moved = fine_tune_in_stages(images, labels, **common)
    # A zero rate for the all stage leaves every weight where the last-blocks stage (at lr) put it.
    weights = [name for name, _ in still.network().named_parameters()]
    assert all(torch.equal(still.states[ALL][name], still.states[LAST_BLOCKS][name]) for name in weights)
    assert not torch.equal(still.states[LAST_BLOCKS]["classifier.weight"], still.states[FROZEN]["classifier.weight"])
    assert not torch.equal(moved.states[ALL]["conv_stem.weight"], moved.states[LAST_BLOCKS]["conv_stem.weight"])


def test_random_erasing_blanks_one_rectangle_in_the_chosen_share_of_images():
    x = torch.ones(400, 3, 32, 32)
    erased = _random_erase(x, torch.Generator().manual_seed(0), 0.5)
    blank = (erased == 0).all(dim=1)  # pixels blanked in every channel
    assert ((erased == 0) == blank.unsqueeze(1)).all()
    area = blank.flatten(1).sum(1).float() / (32 * 32)
    touched = area > 0
    assert 0.4 < touched.float().mean() < 0.6
    assert (area[touched] <= 0.3).all() and (area[touched] >= 0.005).all()
    for index in np.flatnonzero(touched.numpy())[:20]:  # one solid rectangle: its bounding box is all blank
        rows, cols = np.nonzero(blank[index].numpy())
        assert blank[index, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    assert torch.equal(_random_erase(x, torch.Generator().manual_seed(0), 0.0), x)


def test_mixup_trains_on_blends_of_pairs_against_the_same_blend_of_their_labels():
    x = torch.stack([torch.full((3, 8, 8), float(i)) for i in range(6)])
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    seen: list[torch.Tensor] = []

    def network(batch: torch.Tensor) -> torch.Tensor:  # fixed logits: the loss is a function of the blend alone
        seen.append(batch)
        return torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(len(batch), 3)

    rng = np.random.default_rng(4)
    lam = float(np.random.default_rng(4).beta(0.4, 0.4))
    loss = _mixup_loss(network, x, target, rng, torch.Generator().manual_seed(0), 0.4, 0.0)
    partner = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(partner, torch.arange(6))
    blended = seen[0][:, 0, 0, 0]
    assert torch.allclose(blended, lam * torch.arange(6.0) + (1 - lam) * partner.float())
    log_p = torch.log(torch.tensor([0.7, 0.2, 0.1]))
    expected = -(lam * log_p[target] + (1 - lam) * log_p[target[partner]]).mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_mixup_changes_the_training_and_the_options_are_recorded():
    images, labels = _bars(48)
    common = {"architecture": ARCH, "input_size": SIZE, "stages": (LAST_BLOCKS,), "epochs": 1, "lr": 3e-3,
              "batch_size": 16, "budget_seconds": 30, "threads": 1, "val_fraction": 0.25, "seed": 0}  # fmt: skip
    plain = fine_tune_in_stages(images, labels, **common)
    again = fine_tune_in_stages(images, labels, **common)
    mixed = fine_tune_in_stages(images, labels, mixup=0.4, erase=0.5, all_lr=1e-4, **common)
    key = "classifier.weight"
    assert torch.equal(plain.states[LAST_BLOCKS][key], again.states[LAST_BLOCKS][key])  # same seed, same weights
    assert not torch.equal(plain.states[LAST_BLOCKS][key], mixed.states[LAST_BLOCKS][key])
    assert plain.as_dict()["options"] == {"lr": 3e-3, "all_lr": 3e-3, "erase": 0.0, "mixup": 0.0,
                                          "refit_on_all": False, "val_fraction": 0.25, "self_train_share": 0.0,
                                          "self_train_confidence": 0.9}  # fmt: skip
    assert mixed.as_dict()["options"]["mixup"] == 0.4 and mixed.options["all_lr"] == 1e-4
    with pytest.raises(ValueError, match="mixup an alpha"):
        fine_tune_in_stages(images, labels, mixup=-1.0, **common)
    with pytest.raises(ValueError, match="erase must be a probability"):
        fine_tune_in_stages(images, labels, erase=1.5, **common)


def _teacher(images: np.ndarray, labels: np.ndarray):
    """A frozen head on the bars (validation accuracy 0.9+): its confident predictions mean something."""
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, stages=(), budget_seconds=0, threads=1, val_fraction=0.25
    )
    assert result.stages[0].val_accuracy >= 0.9
    return result


def _softmax(network: torch.nn.Module, pixels: np.ndarray, mean, std) -> np.ndarray:
    from classifiers.image_training import _to_tensor

    with torch.inference_mode():
        x = _to_tensor(pixels, torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1))
        return torch.softmax(network.eval()(x), dim=1).numpy()


def test_pseudo_labels_are_the_confident_predictions_each_class_capped_at_its_share_of_the_labels():
    images, labels = _bars(64)
    teacher = _teacher(images, labels)
    pool, truth = _bars(120, seed=5)
    network = teacher.network()
    data = _Data(np.zeros((0, SIZE, SIZE, 3), np.uint8), labels, np.zeros((0, SIZE, SIZE, 3), np.uint8),
                 labels[:0], teacher.mean, teacher.std)  # fmt: skip
    shares = np.array([0.5, 0.1, 0.2, 0.2])  # class 1 may have at most 12 of the 120, class 0 up to 60
    seen: list[StageProgress] = []
    kept_pixels, kept, index, labelled, skipped = _pseudo_label(
        network, pool, data, input_size=SIZE, confidence=0.6, class_shares=shares, deadline=float("inf"),
        progress=seen.append,
    )  # fmt: skip
    assert (labelled, skipped) == (120, 0)
    probabilities = _softmax(network, prepare_images(pool, network, SIZE), teacher.mean, teacher.std)
    top, predicted = probabilities.max(1), probabilities.argmax(1)
    assert (kept == predicted[index]).all() and (top[index] >= 0.6).all()
    assert (kept_pixels == prepare_images(pool[index], network, SIZE)).all()
    for label in range(4):
        confident = np.flatnonzero((predicted == label) & (top >= 0.6))
        cap = round(shares[label] * 120)
        mine = index[kept == label]
        assert len(mine) == min(cap, len(confident)), (label, len(mine), cap, len(confident))
        # The capped class keeps its most confident predictions, not the first ones in the pool.
        if len(confident) > cap:
            assert top[mine].min() >= np.sort(top[confident])[::-1][cap - 1] - 1e-6
    assert any(len(index[kept == label]) < (predicted == label).sum() for label in range(4))  # a cap bit
    assert float((truth[index] == kept).mean()) >= 0.9
    assert seen[-1].stage == PSEUDO_LABELLING and seen[-1].pool == (120, 120)
    assert seen[-1].describe() == "self-training: pseudo-labelled 120 of 120 unlabelled images"


def test_pseudo_labelling_stops_at_its_deadline_and_skips_images_that_do_not_decode():
    from PIL import Image

    images, labels = _bars(64)
    teacher = _teacher(images, labels)
    pool, _ = _bars(600, seed=6)

    class Flaky(list):  # a stored image that has gone bad raises when read, as StoredImages does
        def __getitem__(self, index):
            if isinstance(index, int) and index % 7 == 3:
                raise ValueError(f"cannot decode image {index}")
            return super().__getitem__(index)

    flaky = Flaky(Image.fromarray(row) for row in pool[:40])
    data = _Data(images[:0], labels, images[:0], labels[:0], teacher.mean, teacher.std)
    _, kept, index, labelled, skipped = _pseudo_label(
        teacher.network(), flaky, data, input_size=SIZE, confidence=0.0, class_shares=np.full(4, 1.0),
        deadline=float("inf"), progress=None,
    )  # fmt: skip
    assert (labelled, skipped) == (40, 6)
    assert len(index) == 34 and not {i for i in index if i % 7 == 3}
    # A deadline already passed labels nothing; the schedule then trains the student on the labels alone.
    _, kept, index, labelled, _ = _pseudo_label(
        teacher.network(), pool, data, input_size=SIZE, confidence=0.0, class_shares=np.full(4, 1.0),
        deadline=0.0, progress=None,
    )  # fmt: skip
    assert labelled == 0 and len(kept) == len(index) == 0


def test_self_training_adds_a_student_the_validation_split_judges_within_the_budget():
    images, labels = _bars(64)
    pool, truth = _bars(160, seed=7)
    seen: list[StageProgress] = []
    started = torch.get_num_threads()
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, stages=(ALL,), epochs=3, batch_size=16,
        budget_seconds=20, threads=1, val_fraction=0.25, unlabelled=pool, self_train_share=0.5,
        self_train_confidence=0.5, progress=seen.append,
    )  # fmt: skip
    assert torch.get_num_threads() == started
    assert [s.stage for s in result.stages] == [FROZEN, ALL, SELF_TRAINED]
    student = result.stages[-1]
    assert student.steps > 0
    info = result.self_training
    assert info["pool"] == info["pseudo_labelled"] == 160 and info["kept"] == len(result.pseudo_labels) > 0
    assert info["teacher"] in (FROZEN, ALL) and info["student_stage"] == ALL
    assert sum(info["kept_per_class"]) == info["kept"]
    # One epoch of the student covers the 48 labelled training images and the kept pseudo-labelled ones.
    assert student.epochs == pytest.approx(student.steps / ((48 + info["kept"]) // 16))
    assert info["teacher"] == max(result.stages[:2], key=lambda s: s.val_accuracy).stage
    only = info["validation_only_right"]
    assert result.chosen == (SELF_TRAINED if student_is_kept(only["teacher"], only["student"]) else info["teacher"])
    _, val = validation_split(labels, 0.25, seed=0)
    pixels = prepare_images(images[val], result.network(), SIZE)
    predicted = classify(result.network(SELF_TRAINED), pixels, result.mean, result.std)
    assert float((predicted == labels[val]).mean()) == pytest.approx(student.val_accuracy)
    assert result.as_dict()["self_training"] == info and result.options["self_train_share"] == 0.5
    assert {p.stage for p in seen} >= {ALL, PSEUDO_LABELLING, SELF_TRAINED}
    # The stages had half the budget, self-training the other half: the run stays near 20 CPU s.
    assert sum(s.cpu_seconds for s in result.stages[:2]) < 10 + 5
    assert result.cpu_seconds < 20 + 8


def test_a_ruinous_student_is_not_chosen_and_refit_leaves_a_chosen_teacher_as_it_was():
    images, labels = _bars(64)
    pool, _ = _bars(96, seed=8)
    # No fine-tuning stage: the frozen head teaches; the student (the all stage at lr 50) is wrecked.
    result = fine_tune_in_stages(
        images, labels, architecture=ARCH, input_size=SIZE, stages=(), epochs=2, batch_size=16, lr=50.0,
        budget_seconds=20, threads=1, val_fraction=0.25, unlabelled=pool, self_train_share=0.9,
        self_train_confidence=0.5,
    )  # fmt: skip
    accuracies = {s.stage: s.val_accuracy for s in result.stages}
    assert list(accuracies) == [FROZEN, SELF_TRAINED]
    assert accuracies[SELF_TRAINED] < 0.6 <= 0.9 <= accuracies[FROZEN], accuracies
    assert result.chosen == FROZEN and result.self_training["student_stage"] == ALL
    network = result.network()
    assert all(torch.equal(network.state_dict()[k], v) for k, v in result.states[FROZEN].items())


def test_self_training_is_off_without_a_pool_or_a_share_and_bad_settings_are_refused():
    images, labels = _bars(48)
    for unlabelled, share in ((None, 0.5), (images[:0], 0.5), (images, 0.0)):
        result = fine_tune_in_stages(
            images, labels, architecture=ARCH, input_size=SIZE, stages=(), budget_seconds=0, threads=1,
            val_fraction=0.25, unlabelled=unlabelled, self_train_share=share,
        )  # fmt: skip
        assert [s.stage for s in result.stages] == [FROZEN] and not result.self_training
    for share, confidence in ((1.0, 0.9), (-0.1, 0.9), (0.5, 0.0), (0.5, 1.5)):
        with pytest.raises(ValueError, match="self_train"):
            fine_tune_in_stages(
                images, labels, architecture=ARCH, input_size=SIZE, budget_seconds=0, threads=1,
                unlabelled=images, self_train_share=share, self_train_confidence=confidence,
            )  # fmt: skip


def test_the_student_is_dropped_only_when_the_teacher_is_right_significantly_more_often():
    assert student_is_kept(0, 0)
    assert student_is_kept(3, 9)  # the student ahead
    assert student_is_kept(11, 10)  # one image: chance (the choice by accuracy would keep the teacher)
    assert student_is_kept(14, 6)  # p = 0.058: not beyond chance at 5 %
    assert not student_is_kept(15, 5)  # p = 0.021
    assert not student_is_kept(8, 0)  # p = 0.004
    assert student_is_kept(15, 5, alpha=0.01)
