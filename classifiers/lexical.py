"""The text head's lexical half: TF-IDF over hashed word and character n-grams, one logistic regression per category.

Why: on SpamAssassin the embedding head ranked below TF-IDF + logistic regression by 0.002-0.004 PR-AUC
at every training size (bench/RESULTS.md, "Ranking against TF-IDF"); the 2,048 hashed n-gram buckets the
head reads beside the embedding cannot carry what a 500,000-term TF-IDF vocabulary does. This model is
that baseline, made stateless apart from its weights: n-grams are hashed (no vocabulary to store), and
what is fitted is the inverse document frequency per bucket and the regression's coefficients, plain
arrays a head file can carry. ``classifiers.inference.text`` blends its logit with the head's
(bench/ranking_baseline.py measures the blend against the baseline).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold

UNKNOWN = -1
BUCKETS = 2**18  # per analyzer; collisions among the ~10^5-10^6 distinct n-grams of a few thousand mails stay rare
MAX_CHARS = 20_000  # as the head's hashed n-grams (classifiers.inference.text.LEXICAL_MAX_CHARS)
C_GRID = (0.1, 1.0, 10.0, 100.0)  # the baseline's grid; chosen per category by 3-fold CV on average precision
DEFAULT_C = 10.0  # for a category with too few labels of a class to cross-validate
MIN_CLASS_FOR_CV = 10  # below this many positives or negatives, 3-fold CV of C is noise (and 12 fits of CPU)
_ANALYZERS = (("word", (1, 2)), ("char_wb", (3, 5)))


class Ngrams:
    """Each text's n-grams per analyzer, worked out once and hashed into as many spaces as read them.

    Why: analysing and hashing are most of a text head's CPU outside the encoder (a mail's character 3-5-grams:
    ~1 ms each), and the head's hashed n-grams and the lexical regression read the same character n-grams of the
    same texts. ``with_lines`` gives the texts with a line of tokens appended (an author's,
    ``classifiers.inference.text.with_author``) without analysing or hashing the texts' character n-grams again.

    ``keep``: hold the n-grams and counts for the next space, for a scoring batch (``SCORING_BATCH_SIZE`` texts).
    Without it (training sets) each space analyses the texts again and streams them into the hasher, as sklearn's
    vectorizer does: a mail's n-grams as strings take ~140 bytes per character (~200 KB for a typical mail).
    """

    def __init__(self, texts: Sequence[str], *, keep: bool = False) -> None:
        self.texts = [text[:MAX_CHARS] for text in texts]
        self._keeps = keep
        self._lists: dict[tuple[str, tuple[int, int]], list[list[str]]] = {}
        self._hashed: dict[tuple, sparse.csr_matrix] = {}
        self._base: Ngrams | None = None  # for with_lines: the texts before their lines, and the lines
        self._lines: list[str] = []

    def with_lines(self, lines: Sequence[str]) -> Ngrams:
        """The texts each followed by ``"\n" + lines[i]`` ("" adds nothing). The caller keeps the result under
        ``MAX_CHARS`` (``with_author`` cuts the text to make room), so no n-gram is cut off."""
        if len(lines) != len(self.texts):
            raise ValueError(f"need one line per text: {len(lines)} for {len(self.texts)} texts")
        joined = [text + "\n" + line if line else text for text, line in zip(self.texts, lines, strict=True)]
        if any(len(text) > MAX_CHARS for text in joined):
            raise ValueError(f"a text with its line is over {MAX_CHARS} characters; cut the text first")
        result = Ngrams(joined, keep=self._keeps)
        result._base, result._lines = self, list(lines)
        return result

    def _analysed(self, analyzer: str, ngram_range: tuple[int, int]) -> Iterable[list[str]]:
        """Each text's n-grams as sklearn's ``HashingVectorizer(analyzer, ngram_range)`` reads them."""
        key = (analyzer, tuple(ngram_range))
        if key in self._lists:
            return self._lists[key]
        analyse = HashingVectorizer(analyzer=analyzer, ngram_range=key[1]).build_analyzer()
        if not self._keeps:
            return (analyse(text) for text in self.texts)
        self._lists[key] = [analyse(text) for text in self.texts]
        return self._lists[key]

    def hashed(
        self, analyzer: str, ngram_range: tuple[int, int], *, n_features: int, alternate_sign: bool, dtype: type
    ) -> sparse.csr_matrix:
        """What ``HashingVectorizer(..., norm=None).transform(texts)`` gives, from the cached n-grams.

        Hashing costs about as much as analysing. For texts with lines, ``char_wb`` (n-grams within
        whitespace-separated words) counts are exactly the texts' plus the lines', so only the lines are analysed
        and hashed; a word analyzer's bigram spans the newline, so those texts are analysed whole (words are cheap).
        """
        key = (analyzer, tuple(ngram_range), n_features, alternate_sign, np.dtype(dtype).str)
        if key in self._hashed:
            return self._hashed[key]
        hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=alternate_sign, dtype=dtype)
        if self._base is not None and analyzer == "char_wb":
            lines = Ngrams(self._lines)._analysed(analyzer, ngram_range)
            texts = self._base.hashed(
                analyzer, ngram_range, n_features=n_features, alternate_sign=alternate_sign, dtype=dtype
            )
            counts = (texts + hasher.transform(lines)).tocsr()
        else:
            counts = hasher.transform(self._analysed(analyzer, ngram_range))
        if self._keeps:
            self._hashed[key] = counts
        return counts


def hashed_counts(texts: Sequence[str] | Ngrams) -> sparse.csr_matrix:
    """Raw n-gram counts, word 1-2-grams then character 3-5-grams, ``(n, 2 * BUCKETS)`` float32."""
    ngrams = texts if isinstance(texts, Ngrams) else Ngrams(texts)
    blocks = [
        ngrams.hashed(analyzer, grams, n_features=BUCKETS, alternate_sign=False, dtype=np.float64)
        for analyzer, grams in _ANALYZERS
    ]
    return sparse.hstack(blocks, format="csr", dtype=np.float32)


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear tf (1 + log count) times idf, each row L2-normalised (what TfidfVectorizer(sublinear_tf=True) does)."""
    x = counts.copy()
    x.data = 1.0 + np.log(x.data)
    x = x.multiply(idf.reshape(1, -1)).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)).dot(x).tocsr().astype(np.float32)


def fit_idf(counts: sparse.csr_matrix) -> np.ndarray:
    """Smoothed inverse document frequency per bucket: ln((1 + n) / (1 + df)) + 1."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + counts.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)


@dataclass(frozen=True)
class LexicalModel:
    categories: tuple[str, ...]
    idf: np.ndarray  # (2 * BUCKETS,)
    coef: np.ndarray  # (len(categories), 2 * BUCKETS)
    intercept: np.ndarray  # (len(categories),)

    def logits(self, texts: Sequence[str] | Ngrams) -> np.ndarray:
        """Log-odds ``(n, len(categories))`` of the regressions (of texts, or of their ``Ngrams``)."""
        x = tfidf(hashed_counts(texts), self.idf)
        return np.asarray(x @ self.coef.T, dtype=np.float64) + self.intercept

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"lexical_idf": self.idf, "lexical_coef": self.coef, "lexical_intercept": self.intercept}

    @classmethod
    def from_arrays(cls, categories: Sequence[str], arrays: dict[str, np.ndarray]) -> LexicalModel:
        idf, coef = np.asarray(arrays["lexical_idf"]), np.asarray(arrays["lexical_coef"])
        intercept = np.asarray(arrays["lexical_intercept"])
        width = 2 * BUCKETS
        if idf.shape != (width,) or coef.shape != (len(categories), width) or intercept.shape != (len(categories),):
            raise ValueError(f"the lexical model's arrays do not fit {len(categories)} categories of {width} buckets")
        return cls(
            tuple(categories),
            idf.astype(np.float32, copy=False),
            coef.astype(np.float32, copy=False),
            intercept.astype(np.float64, copy=False),
        )


def fit_lexical(texts: Sequence[str] | Ngrams, labels: np.ndarray, *, categories: Sequence[str]) -> LexicalModel:
    """One regression per category on its known labels (1/0; -1 is left out); idf from every text given."""
    return fit_lexical_out_of_fold(texts, labels, categories=categories, folds=None)[0]


def fit_lexical_out_of_fold(
    texts: Sequence[str] | Ngrams, labels: np.ndarray, *, categories: Sequence[str], folds: np.ndarray | None
) -> tuple[LexicalModel, np.ndarray | None]:
    """``fit_lexical``, and with ``folds`` (each row's fold, -1 for none) each row's out-of-fold log-odds too.

    A row's out-of-fold log-odds come from a regression fitted on the other folds' known labels, with the C
    chosen on every label and the idf of every text (idf uses no labels, and searching C again per fold would
    cost 12 fits per fold for a choice that moves little); rows of fold -1 get NaN. The blend's calibration
    (``classifiers.inference.text``) is fitted on these, as the head's Platt scaling is on its own.
    """
    counts = hashed_counts(texts)
    idf = fit_idf(counts)
    x = tfidf(counts, idf)
    y = np.asarray(labels)
    coef = np.zeros((len(categories), x.shape[1]), dtype=np.float32)
    intercept = np.zeros(len(categories))
    out_of_fold = None if folds is None else np.full((len(y), len(categories)), np.nan)
    for j in range(len(categories)):
        known = np.flatnonzero(y[:, j] != UNKNOWN)
        truth = (y[known, j] == 1).astype(int)
        if truth.min(initial=1) == truth.max(initial=0):
            raise ValueError(f"category {categories[j]!r} needs a positive and a negative label")
        c = choose_c(x[known], truth)
        coef[j], intercept[j] = fit_regression(x[known], truth, c)
        if out_of_fold is None or folds is None:
            continue
        for fold in np.unique(folds[folds >= 0]):
            held = folds == fold
            fit_rows = known[~held[known]]
            fit_truth = y[fit_rows, j] == 1
            if fit_truth.all() or not fit_truth.any():  # a fold without both classes left: the full model stands in
                out_of_fold[held, j] = np.asarray(x[held] @ coef[j], dtype=np.float64) + intercept[j]
                continue
            fold_coef, fold_intercept = fit_regression(x[fit_rows], fit_truth.astype(int), c)
            out_of_fold[held, j] = np.asarray(x[held] @ fold_coef, dtype=np.float64) + fold_intercept
    return LexicalModel(tuple(categories), idf, coef, intercept), out_of_fold


def fit_regression(x: sparse.csr_matrix, truth: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Coefficients ``(x.shape[1],)`` and intercept of an L2 logistic regression, fitted on the columns in use.

    Why only those: of the 2^19 buckets a few hundred mails fill a few tens of thousands, and L-BFGS pays for
    every coefficient on every iteration. A column that is zero in every row gets coefficient 0 at the L2
    optimum anyway, so the fit is the same, and several times faster at the label counts a category starts with.
    """
    used = np.unique(x.indices)
    model = LogisticRegression(C=c, max_iter=2000).fit(x[:, used], truth)
    coef = np.zeros(x.shape[1], dtype=np.float32)
    coef[used] = model.coef_[0]
    return coef, float(model.intercept_[0])


def choose_c(x: sparse.csr_matrix, truth: np.ndarray) -> float:
    """The C of ``C_GRID`` with the best mean average precision over 3 stratified folds."""
    if min(int(truth.sum()), int(len(truth) - truth.sum())) < MIN_CLASS_FOR_CV:
        return DEFAULT_C
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(np.zeros(len(truth)), truth))
    best, best_score = DEFAULT_C, -1.0
    for c in C_GRID:
        scores = []
        for train, test in folds:
            fold_coef, fold_intercept = fit_regression(x[train], truth[train], c)
            scores.append(average_precision_score(truth[test], x[test] @ fold_coef + fold_intercept))
        if np.mean(scores) > best_score:
            best, best_score = c, float(np.mean(scores))
    return best
