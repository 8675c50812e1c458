"""Which image embedding space is searched: one at a time, and only a complete one.

A new image backbone is a new space; its vectors fill in as the re-embedding job runs
(``ReembeddingJob``, run by ``learning.reembedding``). Searching the new space before the job has
finished would miss most stored images, and comparing vectors across spaces is meaningless, so
near-neighbour search reads exactly one image space: the active image version's once its job has
succeeded, until then the space of the last job that did. Text spaces are untouched here.
"""

from django.db.models import Q, QuerySet

from classifiers.models import Embedding, ModelVersion, ReembeddingJob

IMAGE_SPACE_PREFIX = "timm:"  # every image backbone's space name (classifiers.inference.image.ImageModel.backbone)


def searched_image_space() -> str | None:
    """The image space near-neighbour search reads, or None before any re-embedding job has finished."""
    done = ReembeddingJob.objects.filter(state=ReembeddingJob.State.SUCCEEDED).exclude(backbone="")
    active = done.filter(version__kind=ModelVersion.Kind.IMAGE, version__status=ModelVersion.Status.ACTIVE)
    job = active.order_by("-finished_at").first() or done.order_by("-finished_at").first()
    return job.backbone if job else None


def searchable_embeddings(item_ids: list[int]) -> QuerySet[Embedding]:
    """The stored embeddings of ``item_ids`` that near-neighbour search may compare: text spaces, and of the image
    spaces only ``searched_image_space()`` (every image space while no re-embedding has finished yet)."""
    rows = Embedding.objects.filter(item_id__in=item_ids)
    space = searched_image_space()
    if space is None:
        return rows
    return rows.filter(~Q(backbone__startswith=IMAGE_SPACE_PREFIX) | Q(backbone=space))
