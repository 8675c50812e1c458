"""Tuning the encoder's last layer: what training optimises is what the exported encoder computes, the tuned space
is named by its file and refused when the file does not match, and the tuning stops within its budget."""

import hashlib
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from classifiers import text_tuning
from classifiers.heads import HeadConfig
from classifiers.inference import CategoryInfo, onnx_text
from classifiers.inference.text import (
    DEFAULT_FEATURES,
    TextFeatures,
    TextModel,
    embed_texts,
    register_tuned_encoder,
    train_text_head,
)

pytestmark = pytest.mark.timeout(900)  # exports and quantises a network: seconds alone, minutes on a busy machine

SPAM = [
    "WIN a FREE cruise now, reply with your card number",
    "Cheap pills online, best price, click here today",
    "Make money fast from home, guaranteed income, act now",
    "Lowest mortgage rates, refinance today, limited offer",
    "You have been selected for a cash prize, claim it now",
    "Hot singles in your area want to meet you tonight",
]
HAM = [
    "The meeting moved to 3pm, see you in room B",
    "Thanks for the patch, I merged it into main",
    "Can you review my pull request when you have time?",
    "Dinner at our place on Saturday? Bring the kids",
    "The kernel build fails on arm64 with gcc 12, log attached",
    "Notes from today's planning call are in the shared folder",
]
TEXTS = SPAM + HAM
LABELS = np.array([[1]] * len(SPAM) + [[0]] * len(HAM))
CONFIG = text_tuning.TuningConfig(epochs=6, layer_lr=1e-4)  # a dozen texts: larger steps, more epochs


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    torch.set_num_threads(1)
    return text_tuning.tune_text_encoder(TEXTS, LABELS, tmp_path_factory.mktemp("tuned"), config=CONFIG)


def centroid_cosine(vectors: np.ndarray) -> float:
    spam, ham = vectors[: len(SPAM)].mean(axis=0), vectors[len(SPAM) :].mean(axis=0)
    return float(spam @ ham / np.linalg.norm(spam) / np.linalg.norm(ham))


def test_the_tuned_encoder_is_an_int8_file_named_by_its_hash_that_learned_the_labels(tuned):
    digest = hashlib.sha256(tuned.path.read_bytes()).hexdigest()
    assert tuned.sha256 == digest and tuned.backbone == text_tuning.tuned_backbone(digest)
    assert tuned.path.name.endswith(".int8.onnx") and list(tuned.path.parent.iterdir()) == [tuned.path]
    assert tuned.epochs == CONFIG.epochs and len(tuned.losses) == CONFIG.epochs
    assert tuned.losses[-1] < 0.5 * tuned.losses[0], tuned.losses

    register_tuned_encoder(tuned.backbone, tuned.path)
    after = embed_texts(TEXTS, backbone=tuned.backbone)
    before = embed_texts(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-4)
    # Same network but for one layer trained with small steps: close to the packaged space, and the classes apart.
    assert ((after * before).sum(axis=1) > 0.8).all()
    assert centroid_cosine(after) < centroid_cosine(before) - 0.02, (centroid_cosine(before), centroid_cosine(after))


@pytest.mark.parametrize("count", [1, 2])
def test_what_training_optimises_is_what_the_exported_encoder_computes(tmp_path, count):
    torch.set_num_threads(1)
    bert = text_tuning.load_bert()
    inputs = text_tuning.layer_inputs(TEXTS, layers=count, bert=bert)
    config = replace(CONFIG, layers=count)
    layers, _, _ = text_tuning.tune_last_layers(inputs, LABELS, bert=bert, config=config)
    assert len(layers) == count
    with torch.inference_mode():
        trained = text_tuning.pooled(layers, *inputs.batch(range(len(TEXTS)))).numpy()
    for offset, layer in enumerate(layers):
        bert.encoder.layer[6 - count + offset] = layer
    onnx_text.export(bert, tmp_path / "tuned.onnx", tmp_path / "tuned.int8.onnx")
    assert not any(module.training for module in bert.modules())  # the export leaves no dropout on
    exported = onnx_text.OnnxEncoder(tmp_path / "tuned.onnx").embed(TEXTS)
    np.testing.assert_allclose(exported, trained, atol=2e-4)  # float32 on both sides: the same function
    quantised = onnx_text.OnnxEncoder(tmp_path / "tuned.int8.onnx").embed(TEXTS)
    assert ((quantised * trained).sum(axis=1) > 0.97).all()


def test_layer_inputs_written_to_a_folder_are_memory_mapped_and_the_same(tmp_path):
    bert = text_tuning.load_bert()
    in_memory = text_tuning.layer_inputs(TEXTS[:5], bert=bert)
    mapped = text_tuning.layer_inputs(TEXTS[:5], bert=bert, folder=tmp_path)
    assert isinstance(mapped.flat, np.memmap) and [p.suffix for p in tmp_path.iterdir()] == [".npy"]
    np.testing.assert_array_equal(mapped.offsets, in_memory.offsets)
    np.testing.assert_array_equal(mapped.flat, in_memory.flat)
    assert (np.diff(mapped.offsets) > 2).all()  # every text's word pieces, [CLS] and [SEP] included


def test_a_tampered_or_swapped_encoder_file_is_refused_naming_it(tuned, tmp_path):
    copy = tmp_path / "copy.int8.onnx"
    shutil.copyfile(tuned.path, copy)
    with copy.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ValueError, match=r"copy\.int8\.onnx: sha256 .* is not the tuned encoder of space"):
        register_tuned_encoder(tuned.backbone, copy)
    with pytest.raises(ValueError, match="is not a tuned encoder's space"):
        register_tuned_encoder("sentence:all-MiniLM-L6-v2@onnx-int8", tuned.path)


def test_a_head_in_a_tuned_space_scores_only_with_its_encoder(tuned):
    register_tuned_encoder(tuned.backbone, tuned.path)
    features = TextFeatures(**{**DEFAULT_FEATURES.__dict__, "backbone": tuned.backbone})
    head = train_text_head(
        embed_texts(TEXTS, backbone=tuned.backbone),
        TEXTS,
        LABELS,
        categories=["spam"],
        features=features,
        config=HeadConfig(calibration_folds=2),
    )
    assert TextFeatures.from_spec(head.features).backbone == tuned.backbone
    spam = [CategoryInfo(slug="spam", description="Unsolicited bulk messages.")]
    with pytest.raises(ValueError, match="no encoder file came with it"):
        TextModel(head=head, categories=spam)
    model = TextModel(head=head, categories=spam, encoder_file=tuned.path)
    texts = ["Claim your FREE prize now, click here", "See you at the planning call tomorrow"]
    scores = model.predict(model.embed(texts), texts)
    assert scores[0]["spam"].probability > scores[1]["spam"].probability
    assert not scores[0]["spam"].from_prior


def test_a_spec_naming_a_malformed_tuned_space_is_refused():
    spec = {**DEFAULT_FEATURES.to_spec(), "backbone": "sentence:all-MiniLM-L6-v2@tuned-../../etc"}
    with pytest.raises(ValueError, match="not on text features of a known encoder"):
        TextFeatures.from_spec(spec)


def test_the_cpu_budget_stops_tuning_within_the_first_epoch():
    bert = text_tuning.load_bert()
    inputs = text_tuning.layer_inputs(TEXTS, bert=bert)
    config = text_tuning.TuningConfig(epochs=50, batch_size=2, budget_seconds=1e-6)
    seen = []
    _, epochs, losses = text_tuning.tune_last_layers(
        inputs, LABELS, bert=bert, config=config, progress=lambda done, loss: seen.append((done, loss))
    )
    assert 0 < epochs < 1 and len(losses) == 1
    assert seen == [(epochs, losses[0])]  # the heartbeat shows the partial epoch the budget stopped in


def test_labels_nobody_decided_are_left_out_and_none_at_all_is_refused():
    bert = text_tuning.load_bert()
    inputs = text_tuning.layer_inputs(TEXTS[:4], bert=bert)
    with pytest.raises(ValueError, match="no known label"):
        text_tuning.tune_last_layers(inputs, np.full((4, 1), -1), bert=bert)
    with pytest.raises(ValueError, match="can tune 1 to 6 layers, not 7"):
        text_tuning.tune_last_layers(inputs, np.ones((4, 1)), bert=bert, config=text_tuning.TuningConfig(layers=7))
    with pytest.raises(ValueError, match="one row of labels per text"):
        text_tuning.tune_last_layers(inputs, np.ones((3, 1)), bert=bert)
    _, epochs, _ = text_tuning.tune_last_layers(
        inputs, np.array([[1], [-1], [0], [-1]]), bert=bert, config=text_tuning.TuningConfig(epochs=1)
    )
    assert epochs == 1
