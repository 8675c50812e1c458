"""Re-embedding stored images into a new backbone's space: started on activation or by an admin, resumable, never
embedding an item twice, and near-neighbour search reading one complete space only.

Backbones are tiny timm networks (mobilenetv3_small_050, random weights saved as a checkpoint) and the images
small PNGs in a temporary media folder; the database and the broker are the real ones.
"""

import io

import numpy as np
import pytest
import timm
import torch
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from classifiers import runtime
from classifiers.inference.image import clear_cache
from classifiers.models import Embedding, ReembeddingJob
from classifiers.services import register_model_version, set_model_version_status
from classifiers.spaces import searchable_embeddings, searched_image_space
from learning.reembedding import run_reembedding, start_after_activation, start_reembedding
from tests.factories import make_item, make_user


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    runtime.forget_loaded_models()
    clear_cache()
    yield
    runtime.forget_loaded_models()
    clear_cache()


def _version(tmp_path, name: str, seed: int):
    torch.manual_seed(seed)
    path = tmp_path / f"{name}.pt"
    torch.save(timm.create_model("mobilenetv3_small_050", pretrained=False).state_dict(), path)
    return register_model_version(name=name, kind="image", architecture="mobilenetv3_small_050", backbone_path=path)


def _items_with_images(count: int) -> list:
    items = []
    rng = np.random.default_rng(0)
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(buffer, format="PNG")
        item = make_item()
        item.image.save("items/tile.png", ContentFile(buffer.getvalue()))
        items.append(item)
    make_item()  # a text-only item: nothing to embed
    return items


class Crash(Exception):
    """Stands in for a worker killed between two batches."""


@pytest.mark.django_db
def test_a_killed_run_resumes_after_its_cursor_and_embeds_no_item_twice(tmp_path):
    items = _items_with_images(10)
    version = _version(tmp_path, "img-new", 1)
    job = start_reembedding(version=version, trigger=ReembeddingJob.Trigger.ADMIN)
    assert job.total == 10 and job.state == "queued"

    first_run: list[int] = []

    def crash_after_two_batches(ids: list[int]) -> None:
        first_run.extend(ids)
        if len(first_run) >= 6:
            raise Crash

    with pytest.raises(Crash):
        run_reembedding(job.pk, batch_size=3, after_batch=crash_after_two_batches)
    job.refresh_from_db()
    assert job.state == "running" and job.processed == 6 and job.cursor == items[5].pk
    assert run_reembedding(job.pk, batch_size=3).endswith("not claimed (state running)")  # its lease still holds

    ReembeddingJob.objects.filter(pk=job.pk).update(lease_until=timezone.now())  # the dead worker's lease runs out
    second_run: list[int] = []
    assert run_reembedding(job.pk, batch_size=3, after_batch=second_run.extend) == f"job {job.pk} done"
    assert first_run == [item.pk for item in items[:6]] and second_run == [item.pk for item in items[6:]]
    job.refresh_from_db()
    assert (job.state, job.processed, job.embedded, job.skipped, job.failed) == ("succeeded", 10, 10, 0, 0)
    assert job.attempts == 2 and job.backbone.startswith("timm:mobilenetv3_small_050@")
    assert Embedding.objects.filter(backbone=job.backbone).count() == 10


@pytest.mark.django_db
def test_items_already_in_the_space_are_skipped_and_an_unreadable_image_fails_alone(tmp_path):
    items = _items_with_images(4)
    version = _version(tmp_path, "img-a", 1)
    first = start_reembedding(version=version, trigger=ReembeddingJob.Trigger.ADMIN)
    run_reembedding(first.pk, batch_size=2)
    items[0].image.save("items/broken.png", ContentFile(b"not an image"))
    make_item().image.save("items/broken2.png", ContentFile(b"\x89PNG truncated"))
    again = start_reembedding(version=version, trigger=ReembeddingJob.Trigger.ADMIN)
    embedded: list[int] = []
    run_reembedding(again.pk, batch_size=2, after_batch=embedded.extend)
    again.refresh_from_db()
    assert embedded == [] and (again.skipped, again.embedded, again.failed, again.state) == (4, 0, 1, "succeeded")
    assert "could not" in again.last_error.lower() or "image" in again.last_error.lower()


@pytest.mark.django_db
def test_a_new_active_backbone_gets_a_job_and_the_same_backbone_again_does_not(tmp_path):
    _items_with_images(2)
    version = _version(tmp_path, "img-a", 1)
    set_model_version_status(version=version, status="active")
    job = start_after_activation(version_id=version.pk)
    assert job is not None and job.trigger == "activation" and job.total == 2
    assert start_after_activation(version_id=version.pk) == job  # the open job, not a second one
    run_reembedding(job.pk)
    assert start_after_activation(version_id=version.pk) is None  # that backbone's space is complete


@pytest.mark.django_db
def test_near_neighbour_search_reads_one_complete_image_space(tmp_path):
    items = _items_with_images(3)
    ids = [item.pk for item in items]
    old = _version(tmp_path, "img-old", 1)
    set_model_version_status(version=old, status="active")
    run_reembedding(start_reembedding(version=old, trigger="admin").pk)
    old_space = searched_image_space()
    assert {row.backbone for row in searchable_embeddings(ids)} == {old_space}

    new = _version(tmp_path, "img-new", 2)
    set_model_version_status(version=new, status="active")
    job = start_reembedding(version=new, trigger="admin")
    with pytest.raises(Crash):
        run_reembedding(job.pk, batch_size=1, after_batch=lambda ids: (_ for _ in ()).throw(Crash()))
    # Half-filled: the new space has one item; search still reads the old one, and never both.
    assert Embedding.objects.exclude(backbone=old_space).count() == 1
    assert searched_image_space() == old_space
    assert {row.backbone for row in searchable_embeddings(ids)} == {old_space}

    ReembeddingJob.objects.filter(pk=job.pk).update(lease_until=timezone.now())
    run_reembedding(job.pk)
    new_space = searched_image_space()
    assert new_space != old_space and new_space.startswith("timm:")
    assert {row.backbone for row in searchable_embeddings(ids)} == {new_space}
    assert searchable_embeddings(ids).count() == 3


@pytest.mark.django_db
def test_the_admin_starts_a_job_and_the_model_version_page_shows_its_progress(client, tmp_path):
    _items_with_images(2)
    version = _version(tmp_path, "img-a", 1)
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    page = client.get(reverse("admin:classifiers_modelversion_change", args=[version.pk])).content.decode()
    assert "No re-embedding job yet" in page

    response = client.post(reverse("admin:classifiers_reembeddingjob_add"), {"version": version.pk})
    assert response.status_code == 302
    job = ReembeddingJob.objects.get(version=version)
    assert job.trigger == "admin" and job.requested_by == admin and job.state == "queued"
    run_reembedding(job.pk, batch_size=1, after_batch=lambda ids: None)
    page = client.get(reverse("admin:classifiers_modelversion_change", args=[version.pk])).content.decode()
    assert "Succeeded: 2 of 2 images (100%); embedded 2" in page

    text_only = make_user()  # not staff: no admin at all
    client.force_login(text_only)
    assert client.post(reverse("admin:classifiers_reembeddingjob_add"), {"version": version.pk}).status_code == 302
    assert ReembeddingJob.objects.count() == 1
