"""REST API v1 reference reads: queues with their live stats, policy categories, model versions, labels."""

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifiers.models import ModelVersion, PolicyCategory
from queues.api import ERROR_RESPONSES, NOT_FOUND, SYNC_NOTE, KeysetListView
from queues.api_filters import LabelFilter
from queues.api_rows import LABEL_COLUMNS, LABEL_TIMES, label_rows
from queues.models import ApiToken, Label, Queue
from queues.selectors import pending_stats
from queues.serializers import (
    CategoryOutSerializer,
    LabelOutSerializer,
    ModelVersionOutSerializer,
    QueueOutSerializer,
)

Scope = ApiToken.Scope
# Reference data every integrator needs to read its own results (which queue, which category slug).
REFERENCE_SCOPES = (Scope.ITEMS_READ, Scope.DECISIONS_READ, Scope.DECISIONS_WRITE)


STATS_DESCRIPTION = (
    "`pending`, `oldest_enqueued_at`/`oldest_age_seconds` and `past_deadline` count the waiting (unclaimed) "
    "entries. They are computed at most every `API_QUEUE_STATS_SECONDS` (default 10) and shared by every "
    "caller: counting a few hundred thousand waiting entries takes tens of milliseconds, too much to redo "
    "on every call. `stats_as_of` says when they were computed."
)


QUEUE_STATS_KEY = "api:queue-stats"


def _with_stats(queues: list[Queue]) -> list[Queue]:
    """Set each queue's stats from one grouped query, cached for API_QUEUE_STATS_SECONDS."""
    seconds = settings.API_QUEUE_STATS_SECONDS
    cached = cache.get(QUEUE_STATS_KEY) if seconds > 0 else None
    if cached is None:
        cached = (timezone.now(), pending_stats())
        if seconds > 0:
            cache.set(QUEUE_STATS_KEY, cached, seconds)
    as_of, stats = cached
    for queue in queues:
        queue.pending, queue.oldest_enqueued_at, queue.past_deadline = stats.get(queue.pk, (0, None, 0))
        queue.stats_as_of = as_of
    return queues


class QueueListView(APIView):
    required_scope = {"GET": REFERENCE_SCOPES}

    @extend_schema(
        operation_id="queues_list",
        summary="All review queues with their depth, oldest waiting item and deadline breaches",
        description=STATS_DESCRIPTION,
        responses={200: QueueOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["queues"],
    )
    def get(self, request: Request) -> Response:
        queues = _with_stats(list(Queue.objects.order_by("name")))
        return Response(QueueOutSerializer(queues, many=True).data)


class QueueDetailView(APIView):
    required_scope = {"GET": REFERENCE_SCOPES}

    @extend_schema(
        operation_id="queues_retrieve",
        summary="One review queue with its depth, oldest waiting item and deadline breaches",
        description=STATS_DESCRIPTION,
        responses={200: QueueOutSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["queues"],
    )
    def get(self, request: Request, queue_id: int) -> Response:
        [queue] = _with_stats([get_object_or_404(Queue, pk=queue_id)])
        return Response(QueueOutSerializer(queue).data)


class CategoryListView(APIView):
    required_scope = {"GET": REFERENCE_SCOPES}

    @extend_schema(
        operation_id="categories_list",
        summary="Policy categories: the slugs that scores, decisions and labels use",
        responses={200: CategoryOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["reference"],
    )
    def get(self, request: Request) -> Response:
        return Response(CategoryOutSerializer(PolicyCategory.objects.all(), many=True).data)


class ModelVersionListView(APIView):
    required_scope = {"GET": (Scope.ITEMS_READ, Scope.DECISIONS_READ)}

    @extend_schema(
        operation_id="model_versions_list",
        summary="Classifier versions: status, categories, held-out metrics, training data",
        responses={200: ModelVersionOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["reference"],
    )
    def get(self, request: Request) -> Response:
        return Response(ModelVersionOutSerializer(ModelVersion.objects.all(), many=True).data)


class LabelListView(KeysetListView):
    required_scope = {"GET": Scope.DECISIONS_READ}
    queryset = Label.objects.current()
    serializer_class = LabelOutSerializer
    filterset_class = LabelFilter
    key_field = "created_at"
    rows = staticmethod(label_rows)
    columns, times = LABEL_COLUMNS, LABEL_TIMES

    @extend_schema(
        operation_id="labels_list",
        summary="Current labels (what training learns from), in cursor pages ordered by creation",
        description=(
            "One label per category per decision: `value` true when the item violates it. Only current labels: "
            "when a senior overturns a decision in QA, its labels are replaced by new ones (`from_qa` true) "
            "and no longer listed." + SYNC_NOTE.format(key="created_at", verb="created")
        ),
        responses={200: LabelOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["labels"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)
