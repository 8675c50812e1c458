"""The text head's lexical half (classifiers.lexical) and its blend with the embedding head."""

import numpy as np
import pytest

from classifiers import lexical
from classifiers.heads import Head, HeadConfig
from classifiers.inference import CategoryInfo
from classifiers.inference.text import EMBEDDING_DIM, TextFeatures, TextModel, text_head_proba, train_text_head

SPAM = [f"Buy cheap pills now, {n}% off, click the link to claim your free prize" for n in range(10, 30)]
HAM = [f"Minutes of meeting {n}: the build passed, the release moves to Thursday" for n in range(20)]
PROBE_SPAM, PROBE_HAM = "claim your free prize, cheap pills, click now", "the meeting minutes: release on Thursday"


def unit_vectors(n: int, seed: int) -> np.ndarray:
    """Random embeddings that carry no signal: whatever ranks the probes here comes from the n-grams."""
    x = np.random.default_rng(seed).normal(size=(n, EMBEDDING_DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_tfidf_rows_are_unit_length_and_idf_favours_rare_buckets():
    counts = lexical.hashed_counts(["free prize free prize", "meeting on thursday", "free lunch at the meeting"])
    idf = lexical.fit_idf(counts)
    x = lexical.tfidf(counts, idf)
    np.testing.assert_allclose(np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel(), 1.0, rtol=1e-5)
    assert counts.shape == (3, 2 * lexical.BUCKETS)
    assert idf.min() >= 1.0 and idf.max() > idf.min()


def test_the_lexical_model_ranks_by_words_and_skips_unknown_labels():
    texts = [*SPAM, *HAM, "an unlabelled text"]
    labels = np.array([[1]] * len(SPAM) + [[0]] * len(HAM) + [[-1]])
    model = lexical.fit_lexical(texts, labels, categories=["spam"])
    spam_logit, ham_logit = model.logits([PROBE_SPAM, PROBE_HAM])[:, 0]
    assert spam_logit > 0 > ham_logit
    with pytest.raises(ValueError, match="needs a positive and a negative"):
        lexical.fit_lexical(HAM, np.zeros((len(HAM), 1)), categories=["spam"])


def test_a_blended_head_survives_a_save_and_load_and_ranks_with_its_ngrams(tmp_path):
    texts = [*SPAM, *HAM]
    labels = np.array([[1]] * len(SPAM) + [[0]] * len(HAM))
    plain, blended = TextFeatures(), TextFeatures(lexical=True)
    config = HeadConfig(epochs=30, calibration_folds=0)
    vectors = unit_vectors(len(texts), 0)
    head = train_text_head(vectors, texts, labels, categories=["spam"], features=blended, config=config)
    without = train_text_head(vectors, texts, labels, categories=["spam"], features=plain, config=config)
    head.save(tmp_path / "head.pt")
    loaded = Head.load(tmp_path / "head.pt")
    probes, probe_vectors = [PROBE_SPAM, PROBE_HAM], unit_vectors(2, 1)
    np.testing.assert_array_equal(
        text_head_proba(head, probe_vectors, probes), text_head_proba(loaded, probe_vectors, probes)
    )
    spam, ham = text_head_proba(loaded, probe_vectors, probes)[:, 0]
    assert spam > 0.5 > ham
    assert "lexical_coef" not in without.extras  # a head without the lexical half scores as before
    assert text_head_proba(without, probe_vectors, probes).shape == (2, 1)


def test_a_head_whose_lexical_arrays_do_not_fit_is_refused_when_the_model_loads():
    texts = [*SPAM, *HAM]
    labels = np.array([[1]] * len(SPAM) + [[0]] * len(HAM))
    head = train_text_head(
        unit_vectors(len(texts), 0),
        texts,
        labels,
        categories=["spam"],
        features=TextFeatures(lexical=True),
        config=HeadConfig(epochs=10, calibration_folds=0),
    )
    head.extras["lexical_coef"] = head.extras["lexical_coef"][:, :100]
    with pytest.raises(ValueError, match="lexical model's arrays do not fit"):
        TextModel(head=head, categories=[CategoryInfo(slug="spam", description="Unsolicited advertising")])


# Texts that test where a text ends and an author's line begins: trailing and Unicode whitespace, a final sigma
# (lower-cased by context), a word at the cut, an empty text, and one at the length limit.
AWKWARD = [
    "Free prize!!", "ΟΔΟΣ", "ends in spaces   ", "tab\tand\u2003em space\u00a0nbsp", "", "word",
    "x" * (lexical.MAX_CHARS + 30), "Cheap pills " * 3000,
]  # fmt: skip


@pytest.mark.parametrize("kept", [True, False])  # a scoring batch's n-grams are kept; a training set's streamed
@pytest.mark.parametrize(("analyzer", "grams"), [("word", (1, 2)), ("char_wb", (3, 5)), ("char", (2, 4))])
def test_ngrams_hash_as_sklearns_vectorizer_does_with_and_without_an_authors_line(analyzer, grams, kept):
    from sklearn.feature_extraction.text import HashingVectorizer

    from classifiers.inference.text import _cut_for, author_line, with_author

    def reference(texts: list[str]) -> np.ndarray:
        vectorizer = HashingVectorizer(analyzer=analyzer, ngram_range=grams, n_features=2**12, norm=None)
        return vectorizer.transform([text[: lexical.MAX_CHARS] for text in texts]).toarray()

    def hashed(ngrams: lexical.Ngrams) -> np.ndarray:
        return ngrams.hashed(analyzer, grams, n_features=2**12, alternate_sign=True, dtype=np.float64).toarray()

    authors = ["mail:Jo@Example.com", "", "platform:u-1", "src:σ", "platform:u-2", "", "mail:a@b.org", "x:y"]
    lines = [author_line(author) for author in authors]
    bare = lexical.Ngrams([_cut_for(text, line) for text, line in zip(AWKWARD, lines, strict=True)], keep=kept)
    np.testing.assert_array_equal(hashed(lexical.Ngrams(AWKWARD, keep=kept)), reference(AWKWARD))
    # The texts with their authors' lines, from the texts' own n-grams, as if analysed whole.
    np.testing.assert_array_equal(
        hashed(bare.with_lines(lines)), reference([with_author(t, a) for t, a in zip(AWKWARD, authors, strict=True)])
    )
    with pytest.raises(ValueError, match="one line per text: 1 for 8"):
        bare.with_lines(["zzauthor_x"])
    with pytest.raises(ValueError, match="over 20000 characters"):
        lexical.Ngrams(["y" * lexical.MAX_CHARS]).with_lines(["zzauthor_x"])
