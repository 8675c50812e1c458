"""The models that moved out of ``queues`` into the apps of their domain (issue 15) upgrade a database in place.

The test migrates the test database back to the last migration before the move, writes a row into every table
whose model moved (and the rows they hang from) with the models as they were then, migrates forward again, and
checks that every row, constraint and index is still there, that the constraints still hold, and that the moved
models' content types (and so their permissions and the groups holding them) followed them to their new app.
"""

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from api.models import ApiToken
from classifiers.models import Experiment
from intake.models import Author, Item, Report
from learning.models import ModelHealth
from queues.models import Decision, GoldItem, QueueEntry
from review.models import GoldAnswer, Label, QAReview, ReviewerPreference

BEFORE_THE_MOVE = [
    ("queues", "0017_queue_explore_rate_quarter"),
    ("classifiers", "0005_training_snapshots_and_retraining_runs"),
    ("api", None),
    ("intake", None),
    ("review", None),
    ("learning", None),
]
MOVED = {
    "api": ["apitoken"],
    "intake": ["author", "item", "report"],
    "review": ["label", "qareview", "goldanswer", "reviewerpreference"],
    "learning": ["modelhealth"],
    "classifiers": ["experiment"],
}
TABLES = [f"queues_{model}" for models in MOVED.values() for model in models] + [
    "queues_qareview_categories",
    "queues_queueentry",
    "queues_decision",
    "queues_golditem",
]


def _migrate(targets: list[tuple[str, str | None]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def _schema() -> dict[str, dict]:
    with connection.cursor() as cursor:
        return {
            table: {
                name: (tuple(info["columns"]), info["unique"], info["index"], info["foreign_key"])
                for name, info in connection.introspection.get_constraints(cursor, table).items()
            }
            for table in TABLES
        }


def _without_later_migrations(schema: dict[str, dict]) -> dict[str, dict]:
    """``schema`` less what migrations after the move added to these tables (queues 0021: decisions on any
    subject; console 0009: the index of items without a search vector), which going back to before the move
    takes away like any later migration."""
    later = {"decision_has_subject", "console_item_without_search_vector"}
    return {
        table: {
            name: info
            for name, info in constraints.items()
            if name not in later and info[0] != ("second_review_of_id",)
        }
        for table, constraints in schema.items()
    }


def _old_rows(old) -> dict:  # noqa: ANN001 - the historical app registry
    """One row in every moved table, written with the models as they were before the move."""
    get = old.get_model
    user = get("auth", "User").objects.create(username="before-the-move")
    category = get("classifiers", "PolicyCategory").objects.get(slug="spam")
    version = get("classifiers", "ModelVersion").objects.filter(kind="text").first()
    queue = get("queues", "Queue").objects.create(name="Legacy", slug="legacy")
    author = get("queues", "Author").objects.create(source="legacy", external_id="u-1", handle="@old")
    item = get("queues", "Item").objects.create(source="legacy", external_id="i-1", text="buy now", author=author)
    get("queues", "Report").objects.create(item=item, reason="spam", reported_at=timezone.now(), fingerprint="f1")
    token = get("queues", "ApiToken").objects.create(
        name="bridge", user=user, scopes=["items:read"], prefix="abcd1234", secret_hash="0" * 64
    )
    experiment = get("queues", "Experiment").objects.create(kind="text", candidate=version, share=0.2)
    entry = get("queues", "QueueEntry").objects.create(
        item=item, queue=queue, status="done", sort_key=0.5, enqueued_at=timezone.now(),
        deadline_at=timezone.now(), experiment=experiment, arm="b",
    )  # fmt: skip
    decision = get("queues", "Decision").objects.create(item=item, entry=entry, reviewer=user, action="remove")
    decision.categories.add(category)
    qa = get("queues", "QAReview").objects.create(
        decision=decision, reviewer=user, verdict="overturn", new_action="no_violation"
    )
    qa.categories.add(category)
    get("queues", "Label").objects.create(item=item, category=category, value=True, decision=decision, superseded_by=qa)
    gold = get("queues", "GoldItem").objects.create(item=item, expected_action="remove")
    get("queues", "GoldAnswer").objects.create(
        decision=decision, gold_item=gold, reviewer=user, action_correct=True, categories_correct=True, correct=True
    )
    get("queues", "ReviewerPreference").objects.create(user=user, blur_images=False)
    get("queues", "ModelHealth").objects.create(
        model_version=version, state="ok", computed_at=timezone.now(), state_since=timezone.now()
    )
    return {"item": item.pk, "token": token.pk, "experiment": experiment.pk, "decision": decision.pk, "qa": qa.pk}


@pytest.fixture
def fresh_content_type_cache():
    """The test deletes and renames content types: later tests must not see the cached ones."""
    ContentType.objects.clear_cache()
    yield
    ContentType.objects.clear_cache()


# serialized_rollback: the tests after this one start from the database as the suite migrated it, content types
# included (a plain flush would recreate those under new ids, which the next serialized test could not restore).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("fresh_content_type_cache")
def test_an_existing_database_upgrades_in_place_with_every_row_constraint_and_index_intact():
    schema_after = _schema()
    _migrate(BEFORE_THE_MOVE)
    old = MigrationExecutor(connection).loader.project_state([node for node in BEFORE_THE_MOVE if node[1]]).apps
    # A database made before the move knows the models' content types under "queues".
    ContentType.objects.filter(app_label__in=list(MOVED), model__in=sum(MOVED.values(), [])).delete()
    ContentType.objects.clear_cache()
    item_type = ContentType.objects.create(app_label="queues", model="item")
    view_item = item_type.permission_set.create(codename="view_item", name="Can view item")
    Group.objects.create(name="Auditors").permissions.add(view_item)
    ids = _old_rows(old)
    # Going back changed no table but for later migrations: the move is state-only.
    assert _schema() == _without_later_migrations(schema_after)

    _migrate()

    assert _schema() == schema_after
    item = Item.objects.select_related("author").get(pk=ids["item"])
    assert (item.source, item.external_id, item.text, item.author.handle) == ("legacy", "i-1", "buy now", "@old")
    assert Report.objects.get(item=item).reason == "spam"
    assert Author.objects.count() >= 1
    assert ApiToken.objects.get(pk=ids["token"]).has_scope("items:read")
    experiment = Experiment.objects.get(pk=ids["experiment"])
    assert QueueEntry.objects.get(item=item).experiment == experiment
    decision = Decision.objects.get(pk=ids["decision"])
    assert [c.slug for c in decision.categories.all()] == ["spam"]
    qa = QAReview.objects.get(pk=ids["qa"])
    assert (qa.decision, [c.slug for c in qa.categories.all()]) == (decision, ["spam"])
    assert Label.objects.get(decision=decision).superseded_by == qa
    assert GoldAnswer.objects.get(decision=decision).gold_item == GoldItem.objects.get(item=item)
    assert ReviewerPreference.objects.get(user__username="before-the-move").blur_images is False
    assert ModelHealth.objects.get().state == "ok"
    # Content types followed the models, and the group kept its permission under the new app label.
    assert ContentType.objects.get(pk=item_type.pk).app_label == "intake"
    assert Group.objects.get(name="Auditors").permissions.get().natural_key() == ("view_item", "intake", "item")
    # The constraints still hold.
    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(source="legacy", external_id="i-1", text="again")
    Label.objects.create(item=item, category=decision.categories.get(), value=False, decision=decision)
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(item=item, category=decision.categories.get(), value=True, decision=decision)


@pytest.mark.django_db
def test_the_old_admin_address_of_a_moved_model_redirects_to_its_new_app(admin_client):
    moved = admin_client.get("/admin/queues/item/?q=spam")
    assert (moved.status_code, moved["Location"]) == (301, "/admin/intake/item/?q=spam")
    assert admin_client.get("/admin/queues/apitoken/7/change/")["Location"] == "/admin/api/apitoken/7/change/"
    assert admin_client.get("/admin/queues/queue/").status_code == 200  # models that stayed are not redirected
