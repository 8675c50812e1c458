"""Training snapshots: reproducible exports, the conflict rule, provenance, and the held-out split."""

import hashlib
import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from classifiers.models import PolicyCategory, TrainingSnapshot
from classifiers.snapshots import SnapshotError, read_snapshot
from learning.training_data import EmptySnapshot, export_training_snapshot, stable_bucket
from queues.models import Decision
from review import qa
from review.claims import claim_next_item
from review.decisions import record_decision
from review.models import Label
from tests.factories import enqueue, image_bytes, make_item, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.REVIEW_UNDO_SECONDS = 0


@pytest.fixture
def sam(queue):
    seniors = Group.objects.create(name="Senior moderators")
    seniors.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    user = make_user(username="sam")
    user.groups.add(seniors)
    queue.members.add(user)
    return user


def decide(queue, reviewer, item=None, *, action="remove", categories=("spam",), selection="routed", ago=None):
    """A real decision through the review service; ``ago`` moves its labels (and decision) into the past."""
    item = item or make_item()
    enqueue(item, queue, selection=selection)
    claim = claim_next_item(queue=queue, user=reviewer)
    assert claim.item_id == item.pk
    (decision,) = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=reviewer, action=action, categories=list(categories)
    )
    if ago is not None:
        Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - ago)
        Label.objects.filter(decision=decision).update(created_at=timezone.now() - ago)
    return decision


def lines(snapshot: TrainingSnapshot) -> list[dict]:
    return [json.loads(line) for line in (Path(snapshot.path) / "items.jsonl").read_text().splitlines()]


def by_item(snapshot: TrainingSnapshot) -> dict[int, dict]:
    return {record["item"]: record for record in lines(snapshot)}


def test_two_exports_with_the_same_cutoff_are_byte_identical_new_snapshots_with_verified_hashes(queue, mira, tmp_path):
    for index in range(6):
        decide(queue, mira, make_item(text=f"mail {index} ünïcode"), categories=["spam"] if index % 2 else [],
               action="remove" if index % 2 else "no_violation")  # fmt: skip
    cutoff = timezone.now()
    first = export_training_snapshot(cutoff=cutoff, out_dir=tmp_path / "a")
    second = export_training_snapshot(cutoff=cutoff, out_dir=tmp_path / "b")

    assert first.pk != second.pk and Path(first.path).name == f"snapshot-{first.pk}"
    one, two = (Path(s.path) / "items.jsonl" for s in (first, second))
    assert one.read_bytes() == two.read_bytes()
    assert first.items_sha256 == hashlib.sha256(one.read_bytes()).hexdigest() == second.items_sha256
    manifest = json.loads((Path(first.path) / "manifest.json").read_text())
    assert manifest["files"] == {"items.jsonl": first.items_sha256} == first.file_hashes
    assert manifest["label_cutoff"] == cutoff.isoformat().replace("+00:00", "Z")
    assert manifest["counts"]["items"] == 6 and manifest["counts"]["labels"] == 6 * PolicyCategory.objects.count()
    assert (
        manifest["counts"]["per_category"]["spam"]["train_positive"]
        + manifest["counts"]["per_category"]["spam"]["held_out_positive"]
        == 3
    )
    assert "QA overturn wins" in manifest["conflict_rule"] or "QA overturn" in manifest["conflict_rule"]
    assert manifest["code_version"] and manifest["reviewers"] == {str(mira.pk): "mira"}
    # Sorted by item id, stable JSON, every label with its provenance.
    records = lines(first)
    assert [r["item"] for r in records] == sorted(r["item"] for r in records)
    assert records[0]["provenance"]["spam"]["reviewer"] == mira.pk
    assert records[0]["provenance"]["spam"]["queue"] == queue.pk
    assert records[0]["provenance"]["spam"]["selection"] == "routed"
    assert "ünïcode" in one.read_text(encoding="utf-8")
    assert AuditEvent.objects.filter(action="training_snapshot.exported").count() == 2

    # Immutable: read-only files, and a changed file is refused by the reader.
    assert not one.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert len(read_snapshot(first.path).records) == 6
    one.chmod(0o644)
    one.write_bytes(one.read_bytes().replace(b"mail 0", b"mail 9"))
    with pytest.raises(SnapshotError, match="files changed since export: items.jsonl"):
        read_snapshot(first.path)


def test_a_later_label_or_overturn_does_not_change_an_export_at_an_earlier_cutoff(queue, mira, sam):
    decision = decide(queue, mira, categories=["spam"], ago=timedelta(minutes=10))
    cutoff = timezone.now() - timedelta(minutes=5)
    before = export_training_snapshot(cutoff=cutoff)
    qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="overturn", action="no_violation")
    decide(queue, mira, categories=["spam"])  # a new item, after the cutoff
    after = export_training_snapshot(cutoff=cutoff)
    assert (Path(before.path) / "items.jsonl").read_bytes() == (Path(after.path) / "items.jsonl").read_bytes()
    assert by_item(after)[decision.item_id]["labels"]["spam"] == 1
    assert by_item(export_training_snapshot())[decision.item_id]["labels"]["spam"] == 0


def test_a_senior_overturn_wins_even_over_a_later_reviewer_decision(queue, mira, sam):
    other = make_user(username="olga")
    queue.members.add(other)
    item = make_item(text="phishing for bank logins")
    decision = decide(queue, mira, item, categories=["spam"], ago=timedelta(minutes=10))
    review = qa.record_qa_review(
        decision_id=decision.pk, user=sam, verdict="overturn", action="remove", categories=["scam_fraud"]
    )
    Label.objects.filter(qa_review=review).update(created_at=timezone.now() - timedelta(minutes=5))
    decide(queue, other, item, action="no_violation", categories=[])  # later, but not a QA verdict

    record = by_item(export_training_snapshot())[item.pk]
    assert record["labels"]["scam_fraud"] == 1 and record["labels"]["spam"] == 0
    assert record["provenance"]["scam_fraud"]["reviewer"] == sam.pk
    assert record["provenance"]["scam_fraud"]["qa_review"] == review.pk
    assert record["provenance"]["scam_fraud"]["decision"] == decision.pk


def test_without_a_qa_verdict_the_most_recent_human_decision_wins(queue, mira):
    other = make_user(username="olga")
    queue.members.add(other)
    item = make_item()
    decide(queue, mira, item, categories=["spam"], ago=timedelta(minutes=10))
    latest = decide(queue, other, item, action="no_violation", categories=[], ago=timedelta(minutes=2))
    record = by_item(export_training_snapshot())[item.pk]
    assert record["labels"]["spam"] == 0
    assert record["provenance"]["spam"] == {
        "reviewer": other.pk, "queue": queue.pk, "selection": "routed", "decision": latest.pk, "qa_review": None,
        "at": record["provenance"]["spam"]["at"],
    }  # fmt: skip


def test_automatic_decisions_never_become_training_labels(queue, mira):
    human = decide(queue, mira, categories=["spam"])
    robot_item = make_item(text="auto removed")
    robot = Decision.objects.create(item=robot_item, action="remove", automatic=True, note="routing rule 1")
    # Today routing writes no labels for its decisions; one written by any future path is still left out.
    Label.objects.create(item=robot_item, category=PolicyCategory.objects.get(slug="spam"), value=True, decision=robot)
    snapshot = export_training_snapshot()
    assert set(by_item(snapshot)) == {human.item_id}


def test_needs_context_and_no_labels_at_all_export_nothing(queue, mira):
    with pytest.raises(EmptySnapshot):
        export_training_snapshot()
    decide(queue, mira, action="needs_context", categories=[])
    with pytest.raises(EmptySnapshot):
        export_training_snapshot()
    assert not TrainingSnapshot.objects.exists()


def test_held_out_items_are_the_random_samples_when_there_are_enough(queue, mira, settings):
    settings.TRAINING_MIN_RANDOM_HELD_OUT = 3
    sampled = {decide(queue, mira, selection="sampled").item_id for _ in range(3)}
    routed = {decide(queue, mira).item_id for _ in range(12)}
    snapshot = export_training_snapshot()
    records = by_item(snapshot)
    assert {i for i, r in records.items() if r["split"] == "held_out"} == sampled
    assert {i for i, r in records.items() if r["split"] == "train"} == routed
    assert snapshot.held_out_source == "random_sample" and snapshot.held_out_count == 3
    assert snapshot.manifest["split"]["mode"] == "random_sample"


def test_too_few_random_samples_add_a_stable_hash_split_of_the_rest(queue, mira, settings):
    settings.TRAINING_MIN_RANDOM_HELD_OUT = 50
    settings.TRAINING_HELD_OUT_FRACTION = 0.3
    sampled = decide(queue, mira, selection="sampled").item_id
    routed = [decide(queue, mira).item_id for _ in range(20)]
    snapshot = export_training_snapshot()
    held_out = {i for i, r in by_item(snapshot).items() if r["split"] == "held_out"}
    assert held_out == {sampled} | {i for i in routed if stable_bucket(i) < 3000}
    assert snapshot.held_out_source == "random_sample+hash"
    assert stable_bucket(12345) == int.from_bytes(hashlib.sha256(b"12345").digest()[:8], "big") % 10_000


def test_images_are_copied_content_addressed(queue, mira):
    data = image_bytes()
    name = default_storage.save("items/photo.png", ContentFile(data))
    sha = hashlib.sha256(data).hexdigest()
    item = make_item(text="a caption", image=name, image_sha256=sha, image_format="png")
    decide(queue, mira, item, action="no_violation", categories=[])
    snapshot = export_training_snapshot()
    record = by_item(snapshot)[item.pk]
    assert record["image"] == f"images/{sha}.png"
    assert (Path(snapshot.path) / record["image"]).read_bytes() == data
    assert snapshot.file_hashes[record["image"]] == sha
    assert read_snapshot(snapshot.path).records[0].image == f"images/{sha}.png"


def test_the_export_command_writes_a_snapshot_and_prints_its_counts(queue, mira, tmp_path, capsys):
    decide(queue, mira, categories=["spam"])
    call_command("export_training_set", out=tmp_path / "out")
    snapshot = TrainingSnapshot.objects.get()
    assert Path(snapshot.path).parent == tmp_path / "out"
    out = capsys.readouterr().out
    assert f"Snapshot {snapshot.pk} written" in out and "1 items" in out and snapshot.items_sha256 in out
    with pytest.raises(CommandError, match="--cutoff must be"):
        call_command("export_training_set", cutoff="yesterday")
    with pytest.raises(CommandError, match="No human labels"):
        call_command("export_training_set", cutoff="2000-01-01T00:00:00Z")


def test_the_admin_lists_snapshots_read_only(client, queue, mira):
    decide(queue, mira, categories=["spam"])
    snapshot = export_training_snapshot()
    admin_user = make_user(username="ada", is_staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    listing = client.get("/admin/classifiers/trainingsnapshot/").content.decode()
    assert f"/admin/classifiers/trainingsnapshot/{snapshot.pk}/change/" in listing
    page = client.get(f"/admin/classifiers/trainingsnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200 and snapshot.items_sha256 in page.content.decode()
    assert 'name="_save"' not in page.content.decode()  # immutable: nothing to save


def test_each_record_carries_its_authors_key_for_the_text_heads(queue, mira, tmp_path):
    from intake.models import Author

    author = Author.objects.create(source="creatorhub", external_id="u-88", handle="Bulk Deals")
    posted = decide(queue, mira, make_item(text="deal of the day", author=author)).item_id
    anonymous = decide(queue, mira, make_item(text="hello"), action="no_violation", categories=[]).item_id
    snapshot = export_training_snapshot(cutoff=timezone.now(), out_dir=tmp_path / "s")

    records = by_item(snapshot)
    assert records[posted]["author"] == "creatorhub:u-88" and records[anonymous]["author"] == ""
    read = {record.item_id: record for record in read_snapshot(snapshot.path).records}
    assert read[posted].author == "creatorhub:u-88" and read[anonymous].author == ""
