"""REST API v1 reference reads: queues with their live stats, policy categories, model versions, labels."""

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import REFERENCE_SCOPES
from api.schema import ERROR_RESPONSES, NOT_FOUND
from queues.membership import queues_for
from queues.models import Queue
from queues.selectors import pending_stats
from queues.serializers import QueueOutSerializer

STATS_DESCRIPTION = (
    "`pending`, `oldest_enqueued_at`/`oldest_age_seconds` and `past_deadline` count the waiting (unclaimed) "
    "entries. They are computed at most every `API_QUEUE_STATS_SECONDS` (default 10) and shared by every "
    "caller: counting a few hundred thousand waiting entries takes tens of milliseconds, too much to redo "
    "on every call. `stats_as_of` says when they were computed."
)


QUEUE_STATS_KEY = "api:queue-stats"


def visible_queues(user):  # noqa: ANN001, ANN201 - a user, a QuerySet[Queue]
    """Staff (and their tokens) see every queue; anyone else the queues they work (intake.visibility)."""
    return Queue.objects.all() if user.is_staff else queues_for(user)


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
        queues = _with_stats(list(visible_queues(request.user).order_by("name")))
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
        [queue] = _with_stats([get_object_or_404(visible_queues(request.user), pk=queue_id)])
        return Response(QueueOutSerializer(queue).data)
