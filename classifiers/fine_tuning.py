"""Fine-tuning an image backbone in stages (frozen head, last blocks, all); the held-out labels pick the stage.

Heads on frozen embeddings are the cheap path; fine-tuning pays off only when there are enough labels and
CPU for it, and a pretrained backbone is easily damaged by a large step on a few hundred images. So the
schedule tries the stages in order of cost and risk, each starting from the previous one's weights:

1. ``frozen``: a logistic regression on the pooled features of the unchanged backbone (L2 strength chosen
   on the validation split), folded into the network's classifier.
2. ``last_blocks``: under a fresh classifier, the last ``last_blocks`` stages of the network's ``blocks``,
   everything after them (head convolution, its norm) and the classifier train; the rest stays frozen, its
   BatchNorm layers in eval mode (statistics re-estimated on a few thousand small greyscale images would
   describe those, not what the weights learned on).
3. ``all``: every layer trains, BatchNorm in train mode.

Which one the caller gets is decided by accuracy on a validation split of the training labels (stratified,
``val_fraction``), never by the data it will be tested on. All stages share one CPU budget
(``budget_seconds`` of process CPU time, i.e. summed over ``threads``): a stage plans its cosine
learning-rate schedule for the steps that fit in its share after timing its first steps, and stops at the
budget regardless. ``progress`` receives a ``StageProgress`` after each epoch, which ``describe`` turns into
the line a retraining run shows the admin (``learning.retraining``'s heartbeat stage text).

Self-training (``unlabelled`` images and ``self_train_share`` > 0): a product has many stored images nobody
labelled. After the stages have chosen, the chosen network (the teacher) labels a pool of them; only
confident predictions are kept, and no class more than its share of the training labels (an easy class
would otherwise fill the pseudo-labels with more of what the network already knows). The teacher then
trains on, as the ``self_trained`` student, over the labelled training images plus the pseudo-labelled
ones, with the same augmentation. The student replaces its teacher unless the same validation split (labelled
images only) shows it worse beyond chance, in a paired comparison (``student_is_kept``): it learned from every
label the teacher did and more, and a split of a few hundred images cannot rank two models half a point apart.
Self-training gets ``self_train_share`` of the budget: pseudo-labelling stops when it has used half of that, the
student gets the rest.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from torch.nn import functional as F

from classifiers.image_training import (
    ImagesLike,
    _augment,
    _channel_stats,
    _count,
    _load_backbone_state,
    _reset_classifier,
    _to_tensor,
    classify,
    prepare_images,
)
from classifiers.inference.image import create_network

logger = logging.getLogger(__name__)

FROZEN, LAST_BLOCKS, ALL = "frozen", "last_blocks", "all"
SELF_TRAINED = "self_trained"  # key of the student trained on labelled + pseudo-labelled images
PSEUDO_LABELLING = "pseudo_labelling"
REFIT = "refit"  # key of the chosen path trained again on every label (``refit_on_all``)
FINE_TUNE_STAGES = (LAST_BLOCKS, ALL)
HEAD_C_GRID = (0.1, 1.0, 10.0)  # inverse L2 strengths tried for the frozen head, on standardised features
TIMED_STEPS = 3  # steps timed before a stage plans how many fit in its budget
POOL_CHUNK = 256  # unlabelled images decoded and resized at a time: the pool need not fit in memory


@dataclass(frozen=True)
class StageProgress:
    stage: str
    epoch: int
    loss: float
    cpu_seconds: float
    pool: tuple[int, int] | None = None  # pseudo-labelling: (images labelled so far, pool size)

    def describe(self) -> str:
        if self.stage == PSEUDO_LABELLING and self.pool is not None:
            return f"self-training: pseudo-labelled {self.pool[0]:,} of {self.pool[1]:,} unlabelled images"
        return f"fine-tuning the backbone ({self.stage.replace('_', ' ')}): epoch {self.epoch}, loss {self.loss:.4f}"


@dataclass(frozen=True)
class StageResult:
    stage: str
    val_accuracy: float
    steps: int
    epochs: float  # steps over steps per epoch: a stage cut by the budget ends mid-epoch
    cpu_seconds: float
    wall_seconds: float
    stopped_by_budget: bool


@dataclass
class ScheduleResult:
    """Every stage's validation accuracy and weights, and which stage was chosen."""

    architecture: str
    input_size: int
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    train_images: int
    val_images: int
    stages: list[StageResult] = field(default_factory=list)
    states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)
    chosen: str = FROZEN
    head_c: float = 1.0  # the frozen head's inverse L2 strength, chosen on the validation split
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    refit_cpu_seconds: float = 0.0  # included in cpu_seconds
    refit_wall_seconds: float = 0.0  # included in wall_seconds
    refit_steps: int = 0  # training steps of the refit on every label (0 for a refitted frozen head)
    options: dict[str, Any] = field(default_factory=dict)  # the training options the run used (lr, erase, mixup...)
    self_training: dict[str, Any] = field(default_factory=dict)  # pool, kept per class, teacher (when it ran)
    pseudo_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)  # into the pool
    pseudo_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def network(self, stage: str | None = None) -> torch.nn.Module:
        """The network (with its classifier, in eval mode) as ``stage`` left it.

        Default: the chosen stage refitted on every label when the run did that (``REFIT``), else the chosen stage.
        """
        network = create_network(self.architecture, num_classes=self.num_classes)
        network.load_state_dict(self.states[stage or (REFIT if REFIT in self.states else self.chosen)])
        return network.eval()

    def as_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "refit_on_all": REFIT in self.states,
            "train_images": self.train_images,
            "val_images": self.val_images,
            "cpu_seconds": round(self.cpu_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 1),
            "options": self.options,
            "self_training": self.self_training,
            "stages": [
                {
                    "stage": s.stage,
                    "val_accuracy": round(s.val_accuracy, 4),
                    "epochs": round(s.epochs, 2),
                    "cpu_seconds": round(s.cpu_seconds, 1),
                    "stopped_by_budget": s.stopped_by_budget,
                }
                for s in self.stages
            ],
        }


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices, each class split in the same proportion (one at least, if it has two)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = min(len(members) - 1, max(1, round(len(members) * fraction))) if len(members) > 1 else 0
        val.extend(members[:cut])
        train.extend(members[cut:])
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(val), dtype=np.int64)


def fine_tune_in_stages(
    images: ImagesLike,
    labels: Sequence[int] | np.ndarray,
    *,
    architecture: str,
    input_size: int,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
    stages: Sequence[str] = FINE_TUNE_STAGES,
    epochs: int = 10,
    last_blocks: int = 2,
    last_blocks_share: float = 0.4,
    budget_seconds: float | None = None,
    threads: int | None = None,
    val_fraction: float = 0.2,
    batch_size: int = 64,
    lr: float = 1e-3,
    all_lr: float | None = None,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    erase: float = 0.0,
    mixup: float = 0.0,
    refit_on_all: bool = False,
    unlabelled: ImagesLike | None = None,
    self_train_share: float = 0.0,
    self_train_confidence: float = 0.9,
    seed: int = 0,
    progress: Callable[[StageProgress], None] | None = None,
) -> ScheduleResult:
    """Run the frozen head, then each of ``stages`` (a subset of ``last_blocks``, ``all``, in that order).

    ``images``/``labels`` as for ``image_training.train_backbone``; ``initial_state`` is a backbone's
    state_dict (None: random init) and ``normalization`` its ``(mean, std)`` (None: measured on the
    images). A fine-tuning stage runs up to ``epochs`` epochs within its share of the budget:
    ``last_blocks_share`` of what the frozen head left when ``all`` follows, else all of it; ``all``
    gets whatever is left. ``budget_seconds`` and ``threads`` default to the settings
    ``RETRAIN_IMAGE_FINE_TUNE_SECONDS`` and ``RETRAIN_IMAGE_FINE_TUNE_THREADS``.

    ``all_lr`` is the peak learning rate of the ``all`` stage (default ``lr``): it moves the pretrained stem
    too, which a rate fit for a fresh classifier damages on few labels. ``erase`` is the probability that a
    training image gets a random rectangle blanked (random erasing) on top of flips and shifts. ``mixup`` > 0
    trains each batch on convex blends of pairs of its images (weight ~ Beta(mixup, mixup)) against the same
    blend of their labels (mixup); 0 leaves the batches as they are.
    ``refit_on_all``: after the validation split has chosen, the chosen path is trained again on every label
    (training and validation images) with the same C or the same number of epochs per stage, and that model
    is the one ``network()`` returns; its cost is added to the run's CPU seconds but not limited by the
    budget (it replays what the budget allowed), and no held-out figure describes it. When the self-trained
    student is chosen there is nothing to replay (its pseudo-labels came from the teacher): no refit then.

    ``unlabelled`` (images as ``images``, no labels) with ``self_train_share`` > 0 turns self-training on (see
    the module docstring): the stages get ``1 - self_train_share`` of the budget, pseudo-labels need a softmax
    probability of at least ``self_train_confidence`` (mind that label smoothing keeps a trained network's
    probabilities under about ``1 - label_smoothing + label_smoothing / classes``, 0.91 for 10 classes at 0.1; on
    Fashion-MNIST at 1,000 labels 0.9 still kept 40 % of the pool). An unlabelled image that does not decode is
    skipped.
    """
    unknown = [stage for stage in stages if stage not in FINE_TUNE_STAGES]
    if unknown or list(stages) != [s for s in FINE_TUNE_STAGES if s in stages]:
        raise ValueError(f"stages must be a subset of {FINE_TUNE_STAGES} in that order; got {list(stages)}")
    if not 0 <= erase <= 1 or mixup < 0:
        raise ValueError(f"erase must be a probability and mixup an alpha >= 0; got {erase} and {mixup}")
    if not 0 <= self_train_share < 1 or not 0 < self_train_confidence <= 1:
        raise ValueError(
            f"self_train_share must be in [0, 1) and self_train_confidence in (0, 1]; "
            f"got {self_train_share} and {self_train_confidence}"
        )
    self_training = self_train_share > 0 and unlabelled is not None and _count(unlabelled) > 0
    if budget_seconds is None or threads is None:
        from django.conf import settings

        budget_seconds = settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS if budget_seconds is None else budget_seconds
        threads = settings.RETRAIN_IMAGE_FINE_TUNE_THREADS if threads is None else threads
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1 or len(y) != _count(images) or len(y) < 4 or y.min() < 0:
        raise ValueError(f"need one integer label 0..C-1 per image, at least 4; got {len(y)} for {_count(images)}")
    train_index, val_index = validation_split(y, val_fraction, seed)
    if len(val_index) == 0 or len(np.unique(y[train_index])) < 2:
        raise ValueError("need at least two images in two classes to hold out a validation split")
    num_classes = int(y.max()) + 1

    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = create_network(architecture, num_classes=num_classes, seed=seed)
            if initial_state is not None:
                _load_backbone_state(network, initial_state, architecture)
            _reset_classifier(network)
            pixels = prepare_images(images, network, input_size)
            train_pixels, val_pixels = pixels[train_index], pixels[val_index]
            del pixels
            if normalization is not None:
                mean, std = (tuple(float(v) for v in normalization[0]), tuple(float(v) for v in normalization[1]))
            else:
                mean, std = _channel_stats(train_pixels)
            result = ScheduleResult(architecture, input_size, num_classes, mean, std, len(train_index), len(val_index))
            result.options = {
                "lr": lr, "all_lr": _stage_lr(ALL, lr, all_lr), "erase": erase, "mixup": mixup,
                "refit_on_all": refit_on_all, "val_fraction": val_fraction,
                "self_train_share": self_train_share if self_training else 0.0,
                "self_train_confidence": self_train_confidence,
            }  # fmt: skip
            stages_budget = budget_seconds * (1 - self_train_share) if self_training else budget_seconds
            data = _Data(train_pixels, y[train_index], val_pixels, y[val_index], mean, std)

            stage_started = (time.process_time(), time.perf_counter())
            accuracy, result.head_c = _fit_frozen_head(network, data)
            _record(result, network, FROZEN, accuracy, 0, 0.0, stage_started, stopped=False)
            # The fine-tuning stages start from a fresh, small classifier, not the frozen head: in train mode the
            # BatchNorm layers normalise by batch statistics, not the running ones the head was fitted under, and
            # that head's logits on the shifted features start training with a loss in the tens or hundreds.
            _reset_classifier(network)
            # The run's training options, bound once: every stage and the self-trained student train with them.
            train = functools.partial(
                _train_stage, last_blocks=last_blocks, epochs=epochs, batch_size=batch_size,
                weight_decay=weight_decay, label_smoothing=label_smoothing, erase=erase, mixup=mixup, seed=seed,
                progress=progress,
            )  # fmt: skip
            for stage in stages:
                spent = time.process_time() - started_cpu
                share = last_blocks_share if stage == LAST_BLOCKS and ALL in stages else 1.0
                stage_budget = max(0.0, stages_budget - spent) * share
                stage_started = (time.process_time(), time.perf_counter())
                steps, per_epoch, stopped = train(
                    network, stage, data, budget=stage_budget, lr=_stage_lr(stage, lr, all_lr)
                )
                accuracy = _accuracy(network, data)
                _record(result, network, stage, accuracy, steps, steps / per_epoch, stage_started, stopped=stopped)
            # The cheaper, earlier stage wins a tie: it changed less on the evidence of the same labels.
            result.chosen = max(result.stages, key=lambda s: s.val_accuracy).stage
            if self_training:
                assert unlabelled is not None
                student_stage = result.chosen if result.chosen != FROZEN else (list(stages) or [ALL])[-1]
                _self_train(
                    result, network, data, unlabelled, student_stage=student_stage, started_cpu=started_cpu,
                    budget_seconds=budget_seconds, share=self_train_share, confidence=self_train_confidence,
                    input_size=input_size, train=functools.partial(train, lr=_stage_lr(student_stage, lr, all_lr)),
                    progress=progress,
                )  # fmt: skip
                result.chosen = _student_or_teacher(result, network, data)
            if refit_on_all and result.chosen != SELF_TRAINED:
                del network
                refit_started = (time.process_time(), time.perf_counter())
                everything = _Data(
                    np.concatenate([train_pixels, val_pixels]),
                    np.concatenate([y[train_index], y[val_index]]),
                    val_pixels,
                    y[val_index],
                    mean,
                    std,
                )
                result.states[REFIT], result.refit_steps = _refit(
                    result, everything, architecture=architecture, initial_state=initial_state, stages=stages,
                    batch_size=batch_size, lr=lr, all_lr=all_lr, seed=seed, train=train,
                )  # fmt: skip
                result.refit_cpu_seconds = time.process_time() - refit_started[0]
                result.refit_wall_seconds = time.perf_counter() - refit_started[1]
    finally:
        torch.set_num_threads(previous_threads)
    result.cpu_seconds = time.process_time() - started_cpu
    result.wall_seconds = time.perf_counter() - started_wall
    return result


@dataclass(frozen=True)
class _Data:
    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _record(
    result: ScheduleResult,
    network: torch.nn.Module,
    stage: str,
    accuracy: float,
    steps: int,
    epochs: float,
    started: tuple[float, float],
    *,
    stopped: bool,
) -> None:
    result.stages.append(
        StageResult(
            stage=stage,
            val_accuracy=accuracy,
            steps=steps,
            epochs=epochs,
            cpu_seconds=time.process_time() - started[0],
            wall_seconds=time.perf_counter() - started[1],
            stopped_by_budget=stopped,
        )
    )
    result.states[stage] = copy.deepcopy(network.state_dict())


def _accuracy(network: torch.nn.Module, data: _Data) -> float:
    return float((classify(network, data.val, data.mean, data.std) == data.val_labels).mean())


def _pooled(network: torch.nn.Module, pixels: np.ndarray, data: _Data, batch_size: int = 256) -> np.ndarray:
    mean_t = torch.tensor(data.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(data.std).view(1, 3, 1, 1)
    network.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(pixels), batch_size):
            x = _to_tensor(pixels[start : start + batch_size], mean_t, std_t)
            out.append(network.forward_head(network.forward_features(x), pre_logits=True).numpy())
    return np.concatenate(out).astype(np.float64)


def _fit_frozen_head(
    network: torch.nn.Module, data: _Data, c_grid: Sequence[float] = HEAD_C_GRID
) -> tuple[float, float]:
    """A logistic regression on the frozen pooled features (C by validation accuracy), written into the classifier.

    Returns the validation accuracy and the C chosen.
    """
    classifier = network.get_classifier()
    if not isinstance(classifier, torch.nn.Linear):
        raise ValueError(f"the frozen head needs a linear classifier, not {type(classifier).__name__}")
    train, val = _pooled(network, data.train, data), _pooled(network, data.val, data)
    centre, scale = train.mean(0), train.std(0) + 1e-6
    best: tuple[float, Any, float] | None = None
    for c in c_grid:
        model = LogisticRegression(C=c, max_iter=500).fit((train - centre) / scale, data.train_labels)
        accuracy = float((model.predict((val - centre) / scale) == data.val_labels).mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, model, c)
    assert best is not None
    model = best[1]
    # Classes absent from the training split keep a zero row and a very low bias: never predicted.
    weight = np.zeros((classifier.out_features, train.shape[1]))
    bias = np.full(classifier.out_features, -1e3)
    coef = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
    intercept = model.intercept_ if len(model.classes_) > 2 else np.array([-1, 1]) * model.intercept_[0] / 2
    weight[model.classes_] = coef / scale
    bias[model.classes_] = intercept - (coef / scale) @ centre
    with torch.no_grad():
        classifier.weight.copy_(torch.from_numpy(weight))
        classifier.bias.copy_(torch.from_numpy(bias))
    return _accuracy(network, data), best[2]


def trainable_modules(network: torch.nn.Module, stage: str, last_blocks: int) -> list[torch.nn.Module]:
    """The modules a stage trains: the whole network, or the last ``last_blocks`` block stages and all after them."""
    if stage == ALL:
        return [network]
    blocks = getattr(network, "blocks", None)
    if not isinstance(blocks, torch.nn.Sequential) or len(blocks) < last_blocks:
        raise ValueError(f"{type(network).__name__} has no sequence of {last_blocks}+ blocks to fine-tune the last of")
    after, seen = [], False
    for name, child in network.named_children():
        if seen:
            after.append(child)
        seen = seen or name == "blocks"
    return list(blocks[len(blocks) - last_blocks :]) + after


def _train_stage(
    network: torch.nn.Module,
    stage: str,
    data: _Data,
    *,
    last_blocks: int,
    epochs: int,
    budget: float,
    batch_size: int,
    lr: float,
    weight_decay: float,
    label_smoothing: float,
    erase: float,
    mixup: float,
    seed: int,
    progress: Callable[[StageProgress], None] | None,
    fixed_steps: int | None = None,
    name: str | None = None,
) -> tuple[int, int, bool]:
    """Train ``stage``'s modules under a cosine schedule sized to the budget; return (steps, steps per epoch, cut).

    ``fixed_steps``: run exactly that many steps (the cosine planned for them), whatever the budget. ``name``: the
    stage named in progress reports (default ``stage``).
    """
    modules = trainable_modules(network, stage, last_blocks)
    # Channels-last tensors let oneDNN's convolutions skip a layout conversion per layer: a training step of
    # efficientnet_lite0 at 96 px took 1.1 CPU s against 1.65 contiguous (2 threads, batch 64), so a CPU budget
    # buys 1.5x the epochs. The network goes back to the default layout at the end, so saved states are as before.
    network.to(memory_format=torch.channels_last)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    parameters = [p for module in modules for p in module.parameters()]
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    n = len(data.train_labels)
    batch_size = min(batch_size, n)
    per_epoch = max(1, n // batch_size)  # the ragged last batch is dropped: BatchNorm and a batch of one
    planned = epochs * per_epoch if fixed_steps is None else fixed_steps
    if fixed_steps is not None:
        budget = math.inf
    mean_t = torch.tensor(data.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(data.std).view(1, 3, 1, 1)
    order_rng = np.random.default_rng(seed + 1)
    augment_rng = torch.Generator().manual_seed(seed + 1)
    mixup_rng = np.random.default_rng(seed + 2)
    started = time.process_time()
    step, stopped, total_loss, seen, order = 0, False, 0.0, 0, None
    while step < planned:
        elapsed = time.process_time() - started
        if elapsed >= budget:
            stopped = True
            break
        # Plan the cosine for the steps that fit, so the rate reaches its floor in time.
        if step == TIMED_STEPS and fixed_steps is None:
            planned = min(planned, max(step + 1, int(budget / (elapsed / step))))
            stopped = planned < epochs * per_epoch
        position = step % per_epoch
        if position == 0:
            order = order_rng.permutation(n)
        index = np.sort(order[position * batch_size : (position + 1) * batch_size])
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(lr, step, planned)
        network.eval()
        for module in modules:
            module.train()
        x = _augment(_to_tensor(data.train[index], mean_t, std_t), augment_rng)
        if erase:
            x = _random_erase(x, augment_rng, erase)
        x = x.contiguous(memory_format=torch.channels_last)
        target = torch.from_numpy(data.train_labels[index])
        if mixup:
            loss = _mixup_loss(network, x, target, mixup_rng, augment_rng, mixup, label_smoothing)
        else:
            loss = F.cross_entropy(network(x), target, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        total_loss, seen = total_loss + float(loss.detach()) * len(index), seen + len(index)
        if progress is not None and (step % per_epoch == 0 or step == planned):
            progress(
                StageProgress(
                    name or stage, math.ceil(step / per_epoch), total_loss / seen, time.process_time() - started
                )
            )
            total_loss, seen = 0.0, 0
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    if step:
        _recalibrate(network, modules, data)
    network.to(memory_format=torch.contiguous_format)
    network.eval()
    return step, per_epoch, stopped


def _stage_lr(stage: str, lr: float, all_lr: float | None) -> float:
    return all_lr if stage == ALL and all_lr is not None else lr


def _mixup_loss(
    network: torch.nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    rng: np.random.Generator,
    generator: torch.Generator,
    alpha: float,
    label_smoothing: float,
) -> torch.Tensor:
    """Cross-entropy of the network on ``lam * x + (1 - lam) * x[partner]`` against the same blend of the labels.

    With few labels the network otherwise learns the exact training images by heart; blends between them ask for
    answers that change smoothly from one garment to another (Zhang et al., mixup, 2018).
    """
    lam = float(rng.beta(alpha, alpha))
    partner = torch.randperm(len(x), generator=generator)
    logits = network(lam * x + (1 - lam) * x[partner])
    return lam * F.cross_entropy(logits, target, label_smoothing=label_smoothing) + (1 - lam) * F.cross_entropy(
        logits, target[partner], label_smoothing=label_smoothing
    )


def _random_erase(x: torch.Tensor, generator: torch.Generator, probability: float) -> torch.Tensor:
    """Blank (to the normalised mean, 0) one rectangle of 2-25 % of the area, aspect 0.3-3.3, in a share of images.

    Few labels are memorised by their details; hiding a part forces the network to use the rest of the garment.
    """
    n, _, h, w = x.shape
    area = torch.empty(n).uniform_(0.02, 0.25, generator=generator) * h * w
    aspect = torch.exp(torch.empty(n).uniform_(math.log(0.3), math.log(3.3), generator=generator))
    height = (area * aspect).sqrt().round().clamp(1, h)
    width = (area / aspect).sqrt().round().clamp(1, w)
    top = (torch.rand(n, generator=generator) * (h - height + 1)).floor()
    left = (torch.rand(n, generator=generator) * (w - width + 1)).floor()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + height).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + width).view(n, 1, 1))
    )
    chosen = (torch.rand(n, generator=generator) < probability).view(n, 1, 1)
    return x.masked_fill((inside & chosen).unsqueeze(1), 0.0)


def _refit(
    result: ScheduleResult,
    data: _Data,
    *,
    architecture: str,
    initial_state: Mapping[str, torch.Tensor] | None,
    stages: Sequence[str],
    batch_size: int,
    lr: float,
    all_lr: float | None,
    seed: int,
    train: Callable[..., tuple[int, int, bool]],
) -> tuple[dict[str, torch.Tensor], int]:
    """The chosen path replayed on every label (weights, training steps): the frozen head with its C, or each stage.

    Each fine-tuning stage runs the epochs it ran under the budget (so more steps: there are more images per
    epoch), from the same starting weights and with the same seeds; the frozen head is skipped on that path
    because the fine-tuning stages start from a fresh classifier anyway. ``train``: ``_train_stage`` bound to the
    run's training options, as the stages used it.
    """
    torch.manual_seed(seed)
    network = create_network(architecture, num_classes=result.num_classes, seed=seed)
    if initial_state is not None:
        _load_backbone_state(network, initial_state, architecture)
    _reset_classifier(network)
    if result.chosen == FROZEN:
        _fit_frozen_head(network, data, c_grid=(result.head_c,))
        return copy.deepcopy(network.state_dict()), 0
    per_epoch = max(1, len(data.train_labels) // min(batch_size, len(data.train_labels)))
    done = {s.stage: s for s in result.stages}
    total = 0
    for stage in stages[: list(stages).index(result.chosen) + 1]:
        steps = round(done[stage].epochs * per_epoch)
        if steps:
            train(network, stage, data, epochs=1, budget=math.inf, lr=_stage_lr(stage, lr, all_lr), fixed_steps=steps)
            total += steps
    return copy.deepcopy(network.state_dict()), total


def _self_train(
    result: ScheduleResult,
    network: torch.nn.Module,
    data: _Data,
    unlabelled: ImagesLike,
    *,
    student_stage: str,
    started_cpu: float,
    budget_seconds: float,
    share: float,
    confidence: float,
    input_size: int,
    train: Callable[..., tuple[int, int, bool]],
    progress: Callable[[StageProgress], None] | None,
) -> None:
    """Pseudo-label ``unlabelled`` with the chosen network, train it on as the student, record ``SELF_TRAINED``.

    ``train``: ``_train_stage`` bound to the run's options and the student stage's learning rate.
    """
    stage_started = (time.process_time(), time.perf_counter())
    network.load_state_dict(result.states[result.chosen])
    # Pseudo-labelling may use half of what self-training was given; the student gets whatever is left.
    labelling_deadline = started_cpu + budget_seconds * (1 - share / 2)
    class_shares = np.bincount(data.train_labels, minlength=result.num_classes) / len(data.train_labels)
    pixels, labels, index, seen, skipped = _pseudo_label(
        network, unlabelled, data, input_size=input_size, confidence=confidence, class_shares=class_shares,
        deadline=labelling_deadline, progress=progress,
    )  # fmt: skip
    result.pseudo_index, result.pseudo_labels = index, labels
    result.self_training = {
        "teacher": result.chosen,
        "student_stage": student_stage,
        "pool": _count(unlabelled),
        "pseudo_labelled": seen,
        "undecodable": skipped,
        "kept": len(labels),
        "kept_per_class": np.bincount(labels, minlength=result.num_classes).tolist(),
        "confidence": confidence,
        "labelling_cpu_seconds": round(time.process_time() - stage_started[0], 1),
    }
    if result.chosen == FROZEN:
        _reset_classifier(network)  # as after the frozen head: train mode's batch statistics do not fit its logits
    combined = _Data(
        np.concatenate([data.train, pixels]), np.concatenate([data.train_labels, labels]),
        data.val, data.val_labels, data.mean, data.std,
    )  # fmt: skip
    budget = max(0.0, budget_seconds - (time.process_time() - started_cpu))
    steps, per_epoch, stopped = train(network, student_stage, combined, budget=budget, name=SELF_TRAINED)
    _record(result, network, SELF_TRAINED, _accuracy(network, data), steps, steps / per_epoch, stage_started,
            stopped=stopped)  # fmt: skip


def student_is_kept(teacher_only: int, student_only: int, *, alpha: float = 0.05) -> bool:
    """Whether the student stays, given how many validation images only the teacher, only the student got right.

    Only the images exactly one of them gets right tell the two apart. The student is dropped when the teacher
    wins significantly more of those: McNemar's exact test, one-sided at ``alpha``. Picking the higher of two
    accuracies instead let one image decide: on 500 Fashion-MNIST validation images (5,000 labels, session 11)
    it kept a teacher 0.9220 against its student's 0.9200, where the 10,000 test images put the student 34
    images ahead; one standard error of an accuracy near 0.92 on 500 images is 1.2 points.
    """
    if teacher_only <= student_only:
        return True
    return binomtest(teacher_only, teacher_only + student_only, 0.5, alternative="greater").pvalue >= alpha


def _student_or_teacher(result: ScheduleResult, network: torch.nn.Module, data: _Data) -> str:
    """The stage ``_self_train`` leaves chosen: its student, or the teacher when ``student_is_kept`` says no.

    ``network`` holds the student on entry and is left holding whichever is chosen. The two counts the choice
    rests on are recorded in ``result.self_training["validation_only_right"]``.
    """
    teacher = result.self_training["teacher"]
    student_right = classify(network, data.val, data.mean, data.std) == data.val_labels
    network.load_state_dict(result.states[teacher])
    teacher_right = classify(network, data.val, data.mean, data.std) == data.val_labels
    only = {
        "teacher": int(np.sum(teacher_right & ~student_right)),
        "student": int(np.sum(student_right & ~teacher_right)),
    }
    result.self_training["validation_only_right"] = only
    if not student_is_kept(only["teacher"], only["student"]):
        return teacher
    network.load_state_dict(result.states[SELF_TRAINED])
    return SELF_TRAINED


def _pseudo_label(
    network: torch.nn.Module,
    unlabelled: ImagesLike,
    data: _Data,
    *,
    input_size: int,
    confidence: float,
    class_shares: np.ndarray,
    deadline: float,
    progress: Callable[[StageProgress], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Confident, class-capped pseudo-labels: (pixels, labels, indices into the pool, images labelled, undecodable).

    The pool is read ``POOL_CHUNK`` images at a time until it ends or the CPU clock passes ``deadline``. Of the
    predictions with a top probability of at least ``confidence``, each class keeps its most confident ones, at
    most its share of the training labels times the images labelled.
    """
    total = _count(unlabelled)
    mean_t = torch.tensor(data.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(data.std).view(1, 3, 1, 1)
    kept_pixels, kept_index, kept_labels, kept_top = [], [], [], []
    seen = skipped = 0
    started = time.process_time()
    network.eval()
    for start in range(0, total, POOL_CHUNK):
        if time.process_time() >= deadline:
            break
        chunk, rows = _readable(unlabelled, start, min(total, start + POOL_CHUNK))
        skipped += (min(total, start + POOL_CHUNK) - start) - len(rows)
        seen += min(total, start + POOL_CHUNK) - start
        if rows:
            pixels = prepare_images(chunk, network, input_size)
            with torch.inference_mode():
                probabilities = torch.softmax(network(_to_tensor(pixels, mean_t, std_t)), dim=1).numpy()
            top, predicted = probabilities.max(1), probabilities.argmax(1)
            sure = top >= confidence
            kept_pixels.append(pixels[sure])
            kept_index.append(np.asarray(rows)[sure])
            kept_labels.append(predicted[sure])
            kept_top.append(top[sure])
        if progress is not None:
            progress(StageProgress(PSEUDO_LABELLING, 0, 0.0, time.process_time() - started, pool=(seen, total)))
    if not kept_labels:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros((0, input_size, input_size, 3), dtype=np.uint8), empty, empty, seen, skipped
    pixels, index = np.concatenate(kept_pixels), np.concatenate(kept_index).astype(np.int64)
    labels, top = np.concatenate(kept_labels).astype(np.int64), np.concatenate(kept_top)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        cap = int(round(class_shares[label] * (seen - skipped))) if label < len(class_shares) else 0
        chosen.extend(members[np.argsort(-top[members], kind="stable")[:cap]])
    keep = np.array(sorted(chosen), dtype=np.int64)
    return pixels[keep], labels[keep], index[keep], seen, skipped


def _readable(images: ImagesLike, start: int, stop: int) -> tuple[ImagesLike, list[int]]:
    """Images ``start:stop`` that can be read (a stored image may have gone bad), and their indices."""
    if isinstance(images, np.ndarray):
        return images[start:stop], list(range(start, stop))
    chunk, rows = [], []
    for row in range(start, stop):
        try:
            chunk.append(images[row])
        except (OSError, ValueError) as exc:  # undecodable or missing: one bad image fails alone
            logger.warning("self-training: skipping unlabelled image %s: %s", row, exc)
            continue
        rows.append(row)
    return chunk, rows


def _learning_rate(peak: float, step: int, steps: int) -> float:
    """Linear warm-up over the first 5 % of the steps (a fresh classifier's first gradients are large), then cosine."""
    warm_up = max(1, steps // 20)
    if step < warm_up:
        return peak * (step + 1) / warm_up
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm_up) / max(1, steps - warm_up)))


def _recalibrate(network: torch.nn.Module, modules: list[torch.nn.Module], data: _Data, max_images: int = 1024) -> None:
    """Exact BatchNorm statistics of the trained modules over training images: running averages lag moving weights."""
    norms = [m for module in modules for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    network.eval()
    for m in norms:
        m.train()
    mean_t = torch.tensor(data.mean).view(1, 3, 1, 1)
    std_t = torch.tensor(data.std).view(1, 3, 1, 1)
    with torch.no_grad():
        for start in range(0, min(max_images, len(data.train)), 128):
            chunk = data.train[start : min(start + 128, max_images)]
            if len(chunk) > 1:
                network(_to_tensor(chunk, mean_t, std_t))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    network.eval()
