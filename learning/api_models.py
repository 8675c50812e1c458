"""REST API v1: a model version's monitoring health, as the periodic check last stored it."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import ApiToken
from api.schema import ERROR_RESPONSES, NOT_FOUND
from classifiers.models import ModelVersion
from learning.models import ModelHealth

NOT_CHECKED = "not_checked"


class ModelHealthOutSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField(help_text="The version's registry status: candidate, shadow, active, retired.")
    state = serializers.ChoiceField(
        choices=[*ModelHealth.State.values, NOT_CHECKED],
        help_text="`alert` while live precision at the routing threshold is under MONITOR_PRECISION_FLOOR or "
        "scores drifted past MONITOR_DRIFT_THRESHOLD (PSI); `insufficient` without enough labels; "
        "`not_checked` before the first periodic check.",
    )
    alert = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    precision = serializers.FloatField(allow_null=True, help_text="Live precision at the routing thresholds.")
    precision_support = serializers.IntegerField(help_text="Labelled items at or over a threshold in the window.")
    recall = serializers.FloatField(allow_null=True)
    pr_auc = serializers.FloatField(allow_null=True)
    drift_psi = serializers.FloatField(allow_null=True, help_text="The largest PSI over categories.")
    drift_category = serializers.CharField(allow_blank=True)
    drift_reference = serializers.CharField(allow_blank=True)
    precision_floor = serializers.FloatField()
    drift_threshold = serializers.FloatField()
    window_start = serializers.DateTimeField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    state_since = serializers.DateTimeField(allow_null=True)


def health_payload(version: ModelVersion, health: ModelHealth | None) -> dict:
    from django.conf import settings

    fields = ("precision", "recall", "pr_auc", "drift_psi", "window_start", "computed_at", "state_since")
    return {
        "model_version_id": version.pk,
        "name": version.name,
        "kind": version.kind,
        "status": version.status,
        "state": health.state if health else NOT_CHECKED,
        "alert": bool(health and health.state == ModelHealth.State.ALERT),
        "reasons": list(health.reasons) if health else [],
        **{name: getattr(health, name) if health else None for name in fields},
        "precision_support": health.precision_support if health else 0,
        "drift_category": health.drift_category if health else "",
        "drift_reference": health.drift_reference if health else "",
        "precision_floor": settings.MONITOR_PRECISION_FLOOR,
        "drift_threshold": settings.MONITOR_DRIFT_THRESHOLD,
    }


class ModelHealthView(APIView):
    required_scope = {"GET": (ApiToken.Scope.ITEMS_READ, ApiToken.Scope.DECISIONS_READ)}

    @extend_schema(
        operation_id="model_versions_health",
        summary="A model version's monitoring state: live precision, drift and whether it is in alert",
        description="Read from the row the periodic check (every MONITOR_INTERVAL_SECONDS) writes; the figures "
        "cover the last MONITOR_WINDOW_DAYS of reviewer labels. The charts are on `/models/{id}/`.",
        responses={200: ModelHealthOutSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["reference"],
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = get_object_or_404(ModelVersion.objects.select_related("health"), pk=version_id)
        health = getattr(version, "health", None)
        return Response(ModelHealthOutSerializer(health_payload(version, health)).data)
