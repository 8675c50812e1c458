"""The text model with the real shipped encoder (all-MiniLM-L6-v2 from its package, offline)."""

import importlib

import numpy as np
import pytest

from classifiers.head_training import train_head
from classifiers.heads import HeadConfig
from classifiers.inference import CategoryInfo
from classifiers.inference.text import LEXICAL_MAX_CHARS, TextFeatures, TextModel, train_text_head, with_author

SEEDED = importlib.import_module("classifiers.migrations.0002_seed_policy_categories").CATEGORIES
CATEGORIES = [CategoryInfo(slug=slug, description=description) for slug, _, _, description in SEEDED]
SLUGS = [category.slug for category in CATEGORIES]

SPAM = [
    "Click here to buy 10,000 followers now, limited offer, 80% off today only!",
    "Cheap designer watches and bags, free shipping, visit our store link below.",
    "Earn $500 a day working from home, no experience needed, sign up now.",
    "Best SEO backlinks package, rank first on Google, order today and save.",
    "Hot deal: buy one get one free on all supplements, click the link in bio.",
    "Subscribe to my channel and win an iPhone, giveaway ends tonight, share this!",
    "Get rich fast with our trading signals, join the VIP group for only $49.",
    "Unsubscribe from this mailing list any time. Special offer for members: 50% off.",
]
HAM = [
    "Thanks for the tutorial, the colour grading section finally made sense to me.",
    "Does anyone know when the next episode comes out? That cliffhanger was brutal.",
    "I tried the recipe yesterday and my kids loved it, will make it again.",
    "The referee made the right call, the replay was pretty clear.",
    "Great photo of the harbour at sunset, what lens did you use?",
    "Our meetup moved to Thursday because the library is closed on Wednesday.",
    "I disagree with the review, the second half of the book is much stronger.",
    "Happy birthday! Hope you have a relaxing day with your family.",
]


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel.load(None, CATEGORIES)


@pytest.fixture(scope="module")
def spam_head_path(tmp_path_factory, model):
    texts = SPAM + HAM
    labels = np.full((len(texts), len(SLUGS)), -1, dtype=np.int8)
    labels[:, SLUGS.index("spam")] = [1] * len(SPAM) + [0] * len(HAM)
    head = train_text_head(
        model.embed(texts), texts, labels, categories=SLUGS, config=HeadConfig(epochs=50, calibration_folds=4)
    )
    path = tmp_path_factory.mktemp("heads") / "text-head.pt"
    head.save(path)
    return path


def test_it_embeds_texts_as_unit_vectors_of_its_backbone(model):
    vectors = model.embed(["A cat sat on the mat.", "Quarterly revenue grew by four percent."])
    assert model.backbone == "sentence:all-MiniLM-L6-v2@onnx-int8"  # the default encoder: int8 on ONNX Runtime
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert model.embed([]).shape == (0, 384)


def test_similar_texts_are_closer_than_unrelated_ones(model):
    cat, kitten, stocks = model.embed(
        ["The cat is sleeping on the sofa.", "A kitten naps on the couch.", "Bond yields rose after the bank's report."]
    )
    assert cat @ kitten > cat @ stocks + 0.3


def test_text_beyond_the_encoder_limit_is_cut_off(model):
    opening = "moderation queue " * 400  # far more than 256 word pieces
    short, long = model.embed([opening, opening + "volcanoes erupt in Iceland " * 5_000])
    np.testing.assert_allclose(short, long, atol=1e-5)


def test_without_a_head_every_requested_category_comes_from_the_prior(model):
    texts = ["Lovely weather today.", "Buy followers now!"]
    scores = model.predict(model.embed(texts), texts)
    assert len(scores) == 2
    for row in scores:
        assert list(row) == SLUGS
        assert all(score.from_prior and 0.0 <= score.probability <= 1.0 for score in row.values())


def test_a_head_scores_the_categories_it_was_trained_on_and_the_prior_the_rest(model, spam_head_path):
    with_head = TextModel.load(spam_head_path, CATEGORIES)
    texts = ["Limited offer: buy cheap followers and likes now, click here!", "What a lovely sunset over the lake."]
    scores = with_head.predict(with_head.embed(texts), texts)
    for row in scores:
        assert list(row) == SLUGS
        assert {slug for slug, score in row.items() if not score.from_prior} == {"spam"}
    assert scores[0]["spam"].probability > 0.5 > scores[1]["spam"].probability


def test_a_model_asked_for_fewer_categories_returns_only_those(spam_head_path):
    subset = [category for category in CATEGORIES if category.slug in {"spam", "hate"}]
    model = TextModel.load(spam_head_path, subset)
    scores = model.predict(model.embed(["hello there"]), ["hello there"])
    assert {slug: score.from_prior for slug, score in scores[0].items()} == {"spam": False, "hate": True}


def test_a_head_built_for_other_features_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([[1], [0]] * 10, dtype=np.int8)
    image_head = train_head(
        rng.standard_normal((20, 384)).astype(np.float32),
        labels,
        categories=["spam"],
        config=HeadConfig(epochs=5),
        feature_spec={"kind": "image", "backbone": "timm:convnext_nano"},
    )
    image_head.save(tmp_path / "image-head.pt")
    with pytest.raises(ValueError, match="sentence:all-MiniLM-L6-v2"):
        TextModel.load(tmp_path / "image-head.pt", CATEGORIES)
    wrong_width = train_head(
        rng.standard_normal((20, 400)).astype(np.float32),
        labels,
        categories=["spam"],
        config=HeadConfig(epochs=5),
        feature_spec=TextFeatures().to_spec(),
    )
    wrong_width.save(tmp_path / "wrong-width.pt")
    with pytest.raises(ValueError, match="400 features"):
        TextModel.load(tmp_path / "wrong-width.pt", CATEGORIES)


def prior_scores(model: TextModel, texts: list[str]) -> list[dict[str, float]]:
    return [
        {slug: score.probability for slug, score in row.items()} for row in model.predict(model.embed(texts), texts)
    ]


def test_the_prior_ranks_a_scam_above_a_benign_text(model):
    scam, benign = prior_scores(
        model,
        [
            "Congratulations! You won our crypto giveaway. Send 0.1 BTC to verify your wallet and get 2 BTC back.",
            "Thanks for the tutorial, the colour grading section was really helpful.",
        ],
    )
    assert scam["scam_fraud"] > benign["scam_fraud"] + 0.1
    assert scam["spam"] > benign["spam"]


def test_the_prior_ranks_an_insult_above_a_benign_text_for_harassment(model):
    insult, benign = prior_scores(
        model,
        ["You are a pathetic idiot and everyone hates you, just disappear.", "See you at the meetup on Thursday!"],
    )
    assert insult["harassment"] > benign["harassment"] + 0.3
    assert insult["harassment"] > insult["spam"]


def test_author_tokens_name_the_author_and_a_mail_domain_and_survive_a_text_at_the_cut():
    assert with_author("Hello", "") == "Hello"  # no author: the text as it is
    assert with_author("Hello", "creatorhub:u-88") == "Hello\nzzauthor_creatorhub_u_88"
    assert with_author("Hi", "mail:Jo.Doe@Example.com") == "Hi\nzzauthor_mail_jo_doe_example_com zzdomain_example_com"
    long = "x" * (LEXICAL_MAX_CHARS + 50)
    read = with_author(long, "mail:jo@example.com")
    assert len(read) <= LEXICAL_MAX_CHARS and read.endswith("zzauthor_mail_jo_example_com zzdomain_example_com")
    hostile = with_author("t", "src:" + "a" * 5000)
    assert len(hostile) < 600  # a long key is capped, not a second text


def test_a_head_trained_with_authors_carries_an_authors_labels_to_the_next_item(model):
    # The same ordinary texts; only the author tells spam from ham, as with a sender whose mailings a
    # recipient did or did not ask for.
    texts = [f"{text} (post {n})" for n in range(3) for text in HAM]
    authors = [f"platform:{'bulk-sender' if i % 2 else 'friend'}-{i % 4}" for i in range(len(texts))]
    labels = np.array([[1 if author.startswith("platform:bulk") else 0] for author in authors], dtype=np.int8)
    head = train_text_head(model.embed(texts), texts, labels, categories=["spam"], authors=authors,
                           config=HeadConfig(epochs=50, calibration_folds=4))  # fmt: skip
    assert head.features["author"] is True
    spam_model = TextModel(head=head, categories=[CategoryInfo(slug="spam", description="spam")])
    new = ["Loved the new episode, the ending surprised me.", "Loved the new episode, the ending surprised me."]
    scored = spam_model.predict(model.embed(new), new, authors=["platform:bulk-sender-1", "platform:friend-0"])
    assert scored[0]["spam"].probability > scored[1]["spam"].probability + 0.2
    # Without authors (a caller that has none) both read the text alone and score alike.
    alone = spam_model.predict(model.embed(new), new)
    assert alone[0]["spam"].probability == pytest.approx(alone[1]["spam"].probability)
    # Each scored item carries what it would score with no author: the author's part, shown to reviewers.
    for row, bare in zip(scored, alone, strict=True):
        assert row["spam"].without_author == pytest.approx(bare["spam"].probability)
    assert alone[0]["spam"].without_author is None  # told no author: nothing to take out
    mixed = spam_model.predict(model.embed(new), new, authors=["platform:bulk-sender-1", ""])
    assert mixed[0]["spam"].without_author is not None and mixed[1]["spam"].without_author is None
    with pytest.raises(ValueError, match="one author key per text: 1 for 2 texts"):
        spam_model.predict(model.embed(new), new, authors=["platform:friend-0"])


def test_a_head_trained_without_authors_ignores_them(model, spam_head_path):
    from classifiers.heads import Head

    head = Head.load(spam_head_path)
    assert head.features["author"] is False  # trained with none: its n-grams are the texts' alone
    head.features.pop("author")  # as a head file written before authors existed: the same
    assert TextModel(head=head, categories=CATEGORIES).features.author is False
    untold = TextModel(head=head, categories=CATEGORIES)
    texts = SPAM[:2]
    with_keys = untold.predict(model.embed(texts), texts, authors=["a:1", "b:2"])
    assert [r["spam"].probability for r in with_keys] == [
        r["spam"].probability for r in untold.predict(model.embed(texts), texts)
    ]
    assert all(r["spam"].without_author is None for r in with_keys)  # it read no author, so none moved it
