"""Training and calibrating the classification heads of ``classifiers.heads`` (torch; training only).

The backbones (sentence encoder, timm image model) stay frozen; what is trained on reviewer labels
is this small head: a linear layer (``hidden=0``, one logistic regression per category) or a
one-hidden-layer MLP, over standardised features. A label matrix holds 1 (violates), 0 (does not)
or -1 (unknown: nobody decided that category for that item), and unknown entries are masked out of
the loss, so a decision about one category never counts as a negative for another.

Probabilities are calibrated per category with Platt scaling (a temperature and a bias on the
logit), fitted as a maximum a posteriori estimate on out-of-fold logits: the rows are split into
``calibration_folds`` folds, a head trained on the other folds scores each fold, Platt is fitted on
those scores, and the head returned is then trained on every row (k-fold cross-fitting, what
scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does). Why not a calibration split held out
of training, as before: with the few hundred labels a new deployment has, the fifth of them it held
back cost the head up to 0.8 F1 points and gave Platt only a fifth of the rows (bench/RESULTS.md,
"Learning from nothing"); cross-fitting trains on every label and calibrates on every label, for
``calibration_folds`` extra trainings (seconds at 10,000 rows). Why not isotonic
regression: heads are trained from as few as a few dozen labels, where isotonic regression overfits
its step function, and its flat steps tie scores, which lowers ROC-AUC and blurs the ordering of a
review queue; Platt scaling has two parameters and is strictly monotone, so it never changes the
ranking. Why a bias as well as a temperature: the class weighting of training (``pos_weight``) and
the weight decay both move the point of even odds away from logit 0, and a temperature cannot move
it back. ``bench/text_quality.py`` compares the calibration error of each choice (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from classifiers.heads import UNKNOWN, Head, HeadConfig, sigmoid

logger = logging.getLogger(__name__)

# A category with one positive among thousands would otherwise get a weight large enough to
# destabilise training; beyond 100:1 the calibration bias absorbs the rest of the imbalance.
MAX_POS_WEIGHT = 100.0


def train_head(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    categories: Sequence[str],
    config: HeadConfig | None = None,
    feature_spec: Mapping[str, Any] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> Head:
    """Train and calibrate a head on ``features`` (n, d) and ``labels`` (n, C) of 1, 0 or -1 (unknown).

    ``categories`` names the label columns. A category is trained only if it has at least one known
    positive and one known negative; the others are left out of the returned head (its
    ``categories`` say which were trained). ``feature_spec`` is stored in the head for the model that
    builds the features. ``progress(passes, loss)`` is called after every full pass over the data by the head
    returned (the fold heads that calibrate it report nothing). The result is
    deterministic for a given seed, data and torch thread count; global RNG state is left untouched.
    """
    config = config or HeadConfig()
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or y.shape[1] != len(categories):
        raise ValueError(f"need features (n, d) and labels (n, {len(categories)}); got {x.shape} and {y.shape}")
    if not np.isin(y, (UNKNOWN, 0, 1)).all():
        raise ValueError("labels must be 1, 0 or -1 (unknown)")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinity")
    trainable = ((y == 1).sum(axis=0) > 0) & ((y == 0).sum(axis=0) > 0)
    if not trainable.any():
        raise ValueError("no category has both a positive and a negative label")
    skipped = [slug for slug, ok in zip(categories, trainable, strict=True) if not ok]
    if skipped:
        logger.info("head: no positive or no negative labels for %s; left to the prior", ", ".join(skipped))
    slugs = [slug for slug, ok in zip(categories, trainable, strict=True) if ok]
    y = y[:, trainable].astype(np.int8)
    labelled = (y != UNKNOWN).any(axis=1)  # rows with nothing known add nothing to any loss
    x, y = x[labelled], y[labelled]

    net, mean, scale = _fit_standardized(x, y, config, progress)  # the head returned: trained on every row
    folds = _calibration_folds(y, config.calibration_folds, config.seed)
    if folds is None:
        calibration = np.tile([1.0, 0.0], (len(slugs), 1))
    else:  # the fold heads only score the rows they did not see, for Platt
        out_of_fold = np.zeros(y.shape, dtype=np.float64)
        for fold in range(config.calibration_folds):
            rows = folds == fold
            fold_net, fold_mean, fold_scale = _fit_standardized(x[~rows], y[~rows], config, None)
            with torch.inference_mode():
                out_of_fold[rows] = fold_net(torch.from_numpy((x[rows] - fold_mean) / fold_scale)).numpy()
        calibration = np.array([fit_platt(out_of_fold[:, j], y[:, j]) for j in range(len(slugs))])
    summary = {
        "rows": int(len(x)),
        "calibration_folds": config.calibration_folds if folds is not None else 0,
        "positives": {slug: int((y[:, j] == 1).sum()) for j, slug in enumerate(slugs)},
        "negatives": {slug: int((y[:, j] == 0).sum()) for j, slug in enumerate(slugs)},
        "skipped": skipped,
    }
    head = Head(
        categories=slugs,
        dim=x.shape[1],
        config=config,
        state_dict={key: value.detach().numpy() for key, value in net.state_dict().items()},
        mean=mean,
        scale=scale,
        calibration=calibration,
        features=feature_spec,
        summary=summary,
    )
    if folds is not None:
        head.out_of_fold_proba = np.full((len(labelled), len(slugs)), np.nan)
        head.out_of_fold_proba[labelled] = sigmoid(out_of_fold * calibration[:, 0] + calibration[:, 1])
        head.out_of_fold_folds = np.full(len(labelled), -1, dtype=np.int64)
        head.out_of_fold_folds[labelled] = folds
    return head


def _build_net(dim: int, n_categories: int, config: HeadConfig) -> nn.Module:
    if config.hidden <= 0:
        return nn.Sequential(nn.Linear(dim, n_categories))
    return nn.Sequential(nn.Linear(dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, n_categories))


def _fit(x: np.ndarray, y: np.ndarray, config: HeadConfig, progress: Callable[[int, float], None] | None) -> nn.Module:
    known = y != UNKNOWN
    positives = (y == 1).sum(axis=0)
    negatives = (y == 0).sum(axis=0)
    pos_weight = np.clip(negatives / np.maximum(positives, 1), 1 / MAX_POS_WEIGHT, MAX_POS_WEIGHT)
    features = torch.from_numpy(np.ascontiguousarray(x))
    targets = torch.from_numpy((y == 1).astype(np.float32))
    mask = torch.from_numpy(known.astype(np.float32))
    # Each category's loss is the mean over its known labels; unknown entries weigh nothing.
    entry_weight = mask / mask.sum(dim=0).clamp(min=1) / y.shape[1]
    weight = torch.from_numpy(pos_weight.astype(np.float32))

    with torch.random.fork_rng(devices=[]):  # seeded initialisation, caller's RNG state untouched
        torch.manual_seed(config.seed)
        net = _build_net(x.shape[1], y.shape[1], config)
    matrices = [p for name, p in net.named_parameters() if name.endswith("weight")]
    optimizer = torch.optim.LBFGS(
        net.parameters(),
        lr=config.lr,
        max_iter=config.epochs,
        max_eval=config.epochs * 5 // 4,
        history_size=20,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )
    passes = 0

    def closure() -> torch.Tensor:
        nonlocal passes
        optimizer.zero_grad()
        losses = F.binary_cross_entropy_with_logits(net(features), targets, pos_weight=weight, reduction="none")
        loss = (losses * entry_weight).sum()
        loss = loss + 0.5 * config.weight_decay * sum((m * m).sum() for m in matrices)
        loss.backward()
        passes += 1
        if progress is not None:
            progress(passes, loss.detach().item())
        return loss

    net.train()
    optimizer.step(closure)  # one call: L-BFGS keeps its curvature history only within a call
    net.eval()
    return net


def _fit_standardized(
    x: np.ndarray, y: np.ndarray, config: HeadConfig, progress: Callable[[int, float], None] | None
) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """A net trained on ``x`` standardised by its own mean and scale, which are returned with it."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
    return _fit((x - mean) / scale, y, config, progress), mean, scale


def _calibration_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray | None:
    """Each row's fold (0..folds-1), stratified by the row's rarest positive category; None for fewer than 2 folds.

    Within a stratum the rows are shuffled and dealt out in turn, so every fold gets its share of each
    category's positives (a category with fewer positives than folds leaves some folds without one:
    Platt's prior keeps those scores' calibration near the head's own).
    """
    if folds < 2 or len(y) < folds:
        return None
    rng = np.random.default_rng(seed)
    rarity = np.argsort(np.argsort((y == 1).sum(axis=0)))  # 0 = the category with fewest positives
    stratum = np.full(len(y), len(rarity), dtype=np.int64)  # rows without a positive share one stratum
    for j in np.argsort(-rarity):  # rarest last, so it wins
        stratum[y[:, j] == 1] = rarity[j]
    fold = np.empty(len(y), dtype=np.int64)
    dealt = 0
    for value in np.unique(stratum):
        rows = rng.permutation(np.flatnonzero(stratum == value))
        fold[rows] = (dealt + np.arange(len(rows))) % folds  # carry on where the last stratum stopped
        dealt += len(rows)
    return fold


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Slope and bias of sigmoid(slope * logit + bias) fitted to the known labels (1/0/-1) of one category.

    A maximum a posteriori fit: the log-likelihood of the labels plus a unit Gaussian prior on the
    log-slope and on the bias, centred on the head's own probabilities (slope 1, bias 0). Large
    calibration sets are ruled by the data; small or separable ones stay near the head's output
    instead of driving the slope to infinity. (Platt's smoothed targets, the classic fix, pull the
    minority class's probabilities down and cost recall at 0.5.) Without both classes among the
    labels the prior alone decides: slope 1, bias 0.
    """
    known = labels != UNKNOWN
    z, truth = logits[known].astype(np.float64), (labels[known] == 1).astype(np.float64)
    if truth.min(initial=1.0) == truth.max(initial=0.0):
        return 1.0, 0.0
    scores, targets = torch.from_numpy(z), torch.from_numpy(truth)
    log_slope = torch.zeros((), dtype=torch.float64, requires_grad=True)  # slope = exp(.) > 0: monotone
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_slope, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(scores * log_slope.exp() + bias, targets, reduction="sum")
        loss = loss + 0.5 * (log_slope**2 + bias**2)
        loss.backward()
        return loss

    optimizer.step(closure)
    slope, offset = float(log_slope.detach().exp()), float(bias.detach())
    if not (math.isfinite(slope) and math.isfinite(offset)):
        return 1.0, 0.0
    return slope, offset
