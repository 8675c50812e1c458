"""REST API v1 of labeling: LLM runs and results, crowd task sets and answers, in cursor pages (read-only).

Scope ``decisions:read``, like the labels API: these are labels too, from labelers other than moderators.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.lists import SYNC_NOTE, KeysetListView
from api.permissions import Scope
from api.schema import ERROR_RESPONSES
from labeling.models import CrowdAssignment, CrowdTaskSet, LLMResult, LLMRun
from labeling.serializers import CrowdAnswerSerializer, CrowdTaskSetSerializer, LLMResultSerializer, LLMRunSerializer


class LLMRunListView(KeysetListView):
    required_scope = {"GET": Scope.DECISIONS_READ}
    queryset = LLMRun.objects.select_related("labeler__prompt__category")
    serializer_class = LLMRunSerializer
    key_field = "created_at"

    @extend_schema(
        operation_id="llm_runs_list",
        summary="Bulk LLM pre-labelling runs with their progress",
        description="Each run: its labeler (model and prompt version), state and counts."
        + SYNC_NOTE.format(key="created_at", verb="created"),
        responses={200: LLMRunSerializer(many=True), **ERROR_RESPONSES},
        tags=["labeling"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)


class LLMResultListView(KeysetListView):
    required_scope = {"GET": Scope.DECISIONS_READ}
    queryset = LLMResult.objects.exclude(state=LLMResult.State.PENDING).select_related("labeler__prompt__category")
    serializer_class = LLMResultSerializer
    key_field = "finished_at"

    @extend_schema(
        operation_id="llm_results_list",
        summary="LLM labels: verdict, probability, rationale, tokens, latency and cost, per item",
        description="Labels made by LLM labelers (never by moderators); failed ones carry `failure_reason`. "
        "`rationale` is the model's text: treat it as untrusted."
        + SYNC_NOTE.format(key="finished_at", verb="finished"),
        responses={200: LLMResultSerializer(many=True), **ERROR_RESPONSES},
        tags=["labeling"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)


class CrowdTaskSetListView(KeysetListView):
    required_scope = {"GET": Scope.DECISIONS_READ}
    queryset = CrowdTaskSet.objects.prefetch_related("categories")
    serializer_class = CrowdTaskSetSerializer
    key_field = "created_at"

    @extend_schema(
        operation_id="crowd_task_sets_list",
        summary="Crowd task sets",
        description="k labelers per item, the gold rate and the agreement threshold below which items go to a "
        "moderator." + SYNC_NOTE.format(key="created_at", verb="created"),
        responses={200: CrowdTaskSetSerializer(many=True), **ERROR_RESPONSES},
        tags=["labeling"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)


class CrowdAnswerListView(KeysetListView):
    required_scope = {"GET": Scope.DECISIONS_READ}
    queryset = CrowdAssignment.objects.filter(answered_at__isnull=False).select_related("task", "labeler")
    serializer_class = CrowdAnswerSerializer
    key_field = "answered_at"

    @extend_schema(
        operation_id="crowd_answers_list",
        summary="Crowd answers, one per labeler and task",
        description="`answer` is `none` or a category slug; `gold` marks tasks with a known answer."
        + SYNC_NOTE.format(key="answered_at", verb="answered"),
        responses={200: CrowdAnswerSerializer(many=True), **ERROR_RESPONSES},
        tags=["labeling"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)
