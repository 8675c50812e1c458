"""Training a text version from a dataset, promoting it, and scoring items with it (shipped encoder, no download)."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from classifiers.models import Embedding, ModelVersion, Score
from classifiers.runtime import Content, forget_loaded_models, score_contents
from tests.factories import train_author_model

pytestmark = pytest.mark.django_db
TINY = Path(__file__).with_name("tiny_text_dataset.jsonl")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    forget_loaded_models()


def test_the_registered_head_is_trained_on_every_label_and_its_figures_are_cross_validated_with_intervals():
    from classifiers.heads import Head

    call_command("train_classifier", kind="text", dataset=TINY, name="text-all", held_out=0.2)
    version = ModelVersion.objects.get(name="text-all")
    assert Head.load(version.artifact.path).summary["rows"] == 10  # all ten labelled texts, none held back
    assert version.metrics["held_out_rows"] == version.metrics["train_rows"] == 10
    assert version.metrics["evaluation"].startswith("5-fold cross-validation")
    spam = version.metrics["held_out"]["spam"]
    assert spam["support"] == {"positives": 5, "negatives": 5}  # every text scored once, out of fold
    low, high = spam["f1_ci95"]
    assert 0.0 <= low <= spam["f1"] <= high <= 1.0


def test_train_classifier_registers_a_candidate_with_held_out_metrics_and_can_activate_it(capsys):
    call_command("train_classifier", kind="text", dataset=TINY, name="text-tiny", held_out=0.3, activate=True)
    version = ModelVersion.objects.get(name="text-tiny")
    assert version.status == "active"
    assert version.categories == ["spam"]
    assert len(version.artifact_sha256) == 64
    assert set(version.metrics["held_out"]["spam"]) >= {"precision", "recall", "f1", "roc_auc", "pr_auc", "ece"}
    assert "tiny_text_dataset.jsonl sha256:" in version.training_snapshot
    assert "Cross-validated metrics (out-of-fold, 10 examples; trained on all)" in capsys.readouterr().out
    assert ModelVersion.objects.get(name="text-prior").status == "retired"


def test_train_classifier_can_tune_the_encoder_measuring_on_texts_neither_the_layer_nor_the_head_saw(
    settings, capsys, tmp_path
):
    import tempfile

    from classifiers.heads import Head
    from classifiers.inference import CategoryInfo
    from classifiers.inference import text as text_model
    from classifiers.runtime import load_model
    from classifiers.text_tuning import tuned_backbone

    settings.RETRAIN_TEXT_TUNE_THREADS = 1
    leftovers = set(Path(tempfile.gettempdir()).glob("train-tuned-*"))
    call_command("train_classifier", kind="text", dataset=TINY, name="text-tuned", held_out=0.2, tune_encoder=True)
    version = ModelVersion.objects.get(name="text-tuned")
    tuning = version.metrics["text_tuning"]
    # The registered version: its own tuned encoder (the backbone file names the space), trained on every text.
    assert version.backbone_file and tuned_backbone(version.backbone_sha256) == tuning["backbone"]
    assert tuning["texts"] == 10 and Head.load(version.artifact.path).summary["rows"] == 10
    assert version.architecture == tuning["backbone"].removeprefix("sentence:")
    # Its figures: one held-out fold of 2 texts (stratified: a spam and a ham) from a layer and head tuned on 8.
    assert version.metrics["held_out_rows"] == 2 and version.metrics["train_rows"] == 10
    assert version.metrics["held_out"]["spam"]["support"] == {"positives": 1, "negatives": 1}
    assert "held out: 2 of 10 texts, which neither the tuned layer nor the head saw" in capsys.readouterr().out
    assert set(Path(tempfile.gettempdir()).glob("train-tuned-*")) == leftovers  # nothing left behind
    assert tuning["backbone"] not in text_model._encoders  # the command's process keeps no session

    forget_loaded_models()
    model = load_model(version, [CategoryInfo(slug="spam", description="Unsolicited bulk messages.")])
    assert model.backbone == tuning["backbone"]
    texts = ["Cheap pills, best price online, click here now", "The meeting moved to 3pm, see you there"]
    scores = model.predict(model.embed(texts), texts)
    assert scores[0]["spam"].probability > scores[1]["spam"].probability

    with pytest.raises(CommandError, match="--tune-encoder is for text models"):
        call_command("train_classifier", kind="image", dataset=tmp_path / "any.jsonl", tune_encoder=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "x", "labels": {"nudity": 1}}', "unknown category 'nudity'"),
        ('{"text": "x", "labels": {"spam": 2}}', "must be 0 or 1"),
        ('{"text": "", "labels": {"spam": 1}}', "needs non-empty 'text'"),
        ("not json", "not valid JSON"),
        ('{"text": "x"}', "'labels' must be"),
        ('{"text": "x", "author": 7, "labels": {"spam": 1}}', "'author' must be a string"),
    ],
)
def test_a_bad_dataset_line_is_named(tmp_path, line, message):
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"text": "fine", "labels": {"spam": 0}}\n' + line + "\n")
    with pytest.raises(CommandError, match=message) as error:
        call_command("train_classifier", kind="text", dataset=dataset)
    assert "bad.jsonl:2" in str(error.value)
    assert not ModelVersion.objects.filter(status="candidate").exists()


def test_scoring_uses_the_trained_head_where_it_exists_and_the_prior_elsewhere():
    call_command("train_classifier", kind="text", dataset=TINY, name="text-tiny", held_out=0.3, activate=True)
    version = ModelVersion.objects.get(name="text-tiny")
    report = score_contents(
        [
            Content(item_id=1, text="Cheap pills, limited offer, buy now and click here"),
            Content(item_id=2, text="The build fails on arm64, I attached the log"),
            Content(item_id=3, text="   "),
        ]
    )
    assert report.failures == {3: "The text is empty or only whitespace; the text model has nothing to read."}
    spam = dict(
        Score.objects.filter(model_version=version, category__slug="spam").values_list("item_id", "probability")
    )
    assert spam[1] > 0.5 > spam[2]
    assert not Score.objects.get(model_version=version, category__slug="spam", item_id=1).from_prior
    assert Score.objects.get(model_version=version, category__slug="hate", item_id=1).from_prior
    assert Embedding.objects.filter(item_id__in=[1, 2]).count() == 2

    # Scoring again (a redelivered task) writes nothing twice.
    before = Score.objects.count()
    score_contents([Content(item_id=1, text="Cheap pills, limited offer, buy now and click here")])
    assert Score.objects.count() == before


def test_an_item_is_scored_with_its_author_whose_earlier_labels_the_head_learned(tmp_path):
    # Ordinary texts whose label only the author tells: a dataset's "author" and an item's author key meet.
    bulk, friend = "mail:deals@bulk.example", "mail:ann@friends.example"
    version = train_author_model(tmp_path, bulk=bulk, friend=friend)
    text = "Are you coming to the party tonight?"
    score_contents([Content(item_id=1, text=text, author=bulk), Content(item_id=2, text=text, author=friend),
                    Content(item_id=3, text=text)])  # fmt: skip
    spam = dict(
        Score.objects.filter(model_version=version, category__slug="spam").values_list("item_id", "probability")
    )
    assert spam[1] > 0.5 > spam[2]
    assert spam[3] < 0.5  # no author: the text alone, which is ordinary


def test_the_model_page_says_what_the_version_reads_and_whether_the_author_counts(tmp_path, client):
    from django.contrib.auth.models import User

    with_author = train_author_model(tmp_path, bulk="mail:deals@bulk.example", friend="mail:ann@friends.example")
    call_command("train_classifier", kind="text", dataset=TINY, name="text-no-authors")
    without = ModelVersion.objects.get(name="text-no-authors")
    client.force_login(User.objects.create_user("lead", is_staff=True))

    page = client.get(f"/models/{with_author.pk}/").content.decode()
    assert "What it reads" in page and "packaged weights" in page
    assert "Character 3-5-grams of the first 20,000 characters, hashed into 2,048 features" in page
    assert "regression&#x27;s share: spam 0." in page  # the blend weight the head chose
    assert "The item&#x27;s author" in page
    assert "Not the author" in client.get(f"/models/{without.pk}/").content.decode()
    # A version registered before the registry kept its head's inputs says so rather than guessing.
    without.metrics.pop("features")
    without.save()
    assert "Not recorded" in client.get(f"/models/{without.pk}/").content.decode()
