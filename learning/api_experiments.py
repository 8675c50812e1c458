"""REST API v1 for proving a candidate model: A/B experiments with their arm comparison, shadow, promotion, rollback.

Reads (``decisions:read``, like labels and snapshots) list experiments with the numbers the model
page shows: per arm and B - A, each with a 95 % confidence interval (``learning.experiments.compare_arms``).
Writes need the ``admin`` scope and go through the same audited services as the admin pages:
``start_experiment`` / ``stop_experiment`` for A/B, ``set_model_version_status`` for shadow scoring and
promotion, ``roll_back_model_version`` for a rollback. Refusals are 400s naming the field at fault.
"""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import StateConflict, UnknownReference
from api.models import ApiToken
from api.schema import ERROR_RESPONSES, NOT_FOUND, STATE_CONFLICT, UNKNOWN_REFERENCE
from api.serializers import StrictCharField, StrictSerializer
from classifiers.models import Experiment, ModelVersion
from classifiers.services import RegistryError, roll_back_model_version, set_model_version_status
from learning import experiments
from learning.serializers import ModelVersionOutSerializer

Scope = ApiToken.Scope
READ_SCOPES = (Scope.DECISIONS_READ,)
LIST_LIMIT = 50
TOP_FRACTION = 0.2  # each arm's top: this share of its human-decided items (the model page's default)
RESAMPLES = 1000  # bootstrap resamples for the median's interval: stable to about 0.1 minute at this count


# ---- output ------------------------------------------------------------------------------------------


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="Null when there is no data yet.")
    low = serializers.FloatField(allow_null=True, help_text="Lower end of the 95% confidence interval.")
    high = serializers.FloatField(allow_null=True, help_text="Upper end of the 95% confidence interval.")
    n = serializers.IntegerField(help_text="Observations behind it (for a difference: the smaller arm's).")


class ArmSerializer(serializers.Serializer):
    arm = serializers.ChoiceField(choices=["a", "b"], help_text="`a`: routed by the control, `b`: by the candidate.")
    items = serializers.IntegerField()
    queued = serializers.IntegerField(help_text="Items that reached a review queue (the rest were auto-decided).")
    human_decided = serializers.IntegerField()
    top_k = serializers.IntegerField(help_text="How many top-ranked decided items precision_at_top counts.")
    precision_at_top = EstimateSerializer(help_text="Share removed among the arm's top-ranked decided items (Wilson).")
    minutes_to_decision = EstimateSerializer(help_text="Median minutes from queue to decision (bootstrap).")
    removal_rate = EstimateSerializer(help_text="Share removed among decided items, automatic included (Wilson).")
    deadline_breaches = EstimateSerializer(help_text="Share decided late or still open past the deadline (Wilson).")


class DifferencesSerializer(serializers.Serializer):
    precision_at_top = EstimateSerializer(help_text="B - A (Newcombe's interval).")
    minutes_to_decision = EstimateSerializer(help_text="Median B - median A (bootstrap).")
    removal_rate = EstimateSerializer(help_text="B - A (Newcombe's interval).")
    deadline_breaches = EstimateSerializer(help_text="B - A (Newcombe's interval).")


class ComparisonSerializer(serializers.Serializer):
    confidence = serializers.FloatField(help_text="Confidence level of every interval: 0.95.")
    top_fraction = serializers.FloatField(help_text="Share of each arm's decided items counted as its top.")
    a = ArmSerializer()
    b = ArmSerializer()
    differences = DifferencesSerializer()
    computed_at = serializers.DateTimeField()


class VersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()


class ExperimentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    candidate = VersionRefSerializer(help_text="Routes arm B; scores every new item in shadow status.")
    control = VersionRefSerializer(allow_null=True, help_text="The active version when it started (arm A).")
    share = serializers.FloatField(help_text="Share of new items in arm B.")
    running = serializers.BooleanField()
    notes = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    stop_reason = serializers.CharField(allow_blank=True)
    comparison = ComparisonSerializer()


def _version_ref(version: ModelVersion | None) -> dict | None:
    return None if version is None else {"id": version.pk, "name": version.name, "status": version.status}


def experiment_payload(experiment: Experiment, *, now=None) -> dict:  # noqa: ANN001 - a datetime
    """An experiment and its arms compared, as the API returns it."""
    now = now or timezone.now()
    comparison = experiments.compare_arms(
        experiments.experiment_outcomes(experiment), now=now, top_fraction=TOP_FRACTION, resamples=RESAMPLES
    )
    return {
        "id": experiment.pk,
        "kind": experiment.kind,
        "candidate": _version_ref(experiment.candidate),
        "control": _version_ref(experiment.control),
        "share": experiment.share,
        "running": experiment.is_running,
        "notes": experiment.notes,
        "started_at": experiment.started_at,
        "stopped_at": experiment.stopped_at,
        "stop_reason": experiment.stop_reason,
        "comparison": {
            "confidence": 0.95,
            "top_fraction": TOP_FRACTION,
            "a": comparison.a,
            "b": comparison.b,
            "differences": comparison.differences,
            "computed_at": now,
        },
    }


# ---- input -------------------------------------------------------------------------------------------


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1, "exclusiveMaximum": True})
class ShareField(serializers.FloatField):
    """A share strictly between 0 and 1 (learning.experiments refuses 0 and 1); stated in the schema."""


class ExperimentInSerializer(StrictSerializer):
    candidate = serializers.IntegerField(help_text="Id of the model version to test (not the active one).")
    share = ShareField(help_text="Share of new items routed by the candidate, between 0 and 1 exclusive.")
    notes = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class StopInSerializer(StrictSerializer):
    reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class StatusInSerializer(StrictSerializer):
    status = serializers.ChoiceField(
        choices=ModelVersion.Status.choices,
        help_text="`shadow`: score every new item beside the active version, routing nothing; `candidate`: stop "
        "that; `active`: promote (the kind's active version is retired, running experiments of the kind stop, "
        "pending items are re-routed); `retired`: take it out of use.",
    )


class RollbackInSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ModelVersion.Kind.choices)


# ---- views -------------------------------------------------------------------------------------------

START_EXAMPLE = {"candidate": 12, "share": 0.2, "notes": "image heads retrained on November's labels"}


class ExperimentCollectionView(APIView):
    required_scope = {"GET": READ_SCOPES, "POST": Scope.ADMIN}

    @extend_schema(
        operation_id="experiments_list",
        summary="A/B experiments, newest first, each with its arms compared",
        description=f"At most the {LIST_LIMIT} newest. Each comparison is computed on the call from the items "
        "each arm routed: precision at the top of the queue (the top 20% of each arm's human-decided items by "
        "the arm's own risk), median minutes to decision, removal rate and deadline breaches, per arm and "
        "B - A, each with a 95% confidence interval (Wilson and Newcombe for shares, a seeded bootstrap for "
        "medians). A difference whose interval excludes 0 is a difference the data supports.",
        responses={200: ExperimentOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["models"],
    )
    def get(self, request: Request) -> Response:
        rows = Experiment.objects.select_related("candidate", "control").order_by("-started_at", "-pk")[:LIST_LIMIT]
        now = timezone.now()
        return Response(ExperimentOutSerializer([experiment_payload(e, now=now) for e in rows], many=True).data)

    @extend_schema(
        operation_id="experiments_create",
        summary="Start an A/B experiment: route a share of new items by a candidate's scores",
        description="The candidate is put in `shadow` status, so it scores every new item; an item's arm is a "
        "stable hash of the experiment and item ids. One experiment per kind at a time. 400 when the share is "
        "not strictly between 0 and 1, 404 when the candidate does not exist, 409 when it is the active "
        "version or an experiment of the kind is already running. Audited as `experiment.started`.",
        request=ExperimentInSerializer,
        responses={201: ExperimentOutSerializer, **ERROR_RESPONSES, **UNKNOWN_REFERENCE, **STATE_CONFLICT},
        examples=[OpenApiExample("20% of new items", value=START_EXAMPLE, request_only=True)],
        tags=["models"],
    )
    def post(self, request: Request) -> Response:
        body = ExperimentInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        candidate = ModelVersion.objects.filter(pk=body.validated_data["candidate"]).first()
        if candidate is None:
            raise UnknownReference({"candidate": [f"No model version with id {body.validated_data['candidate']}."]})
        try:
            experiment = experiments.start_experiment(
                candidate=candidate,
                share=body.validated_data["share"],
                notes=body.validated_data["notes"],
                actor=request.user,
            )
        except experiments.ExperimentError as exc:
            # The input is well formed (the schema states the share's bounds): what remains is the state of
            # the models, a candidate that is active or an experiment already running.
            refusal = serializers.ValidationError if exc.field == "share" else StateConflict
            raise refusal({exc.field or "non_field_errors": [str(exc)]}) from exc
        experiment = Experiment.objects.select_related("candidate", "control").get(pk=experiment.pk)
        return Response(ExperimentOutSerializer(experiment_payload(experiment)).data, status=status.HTTP_201_CREATED)


class ExperimentDetailView(APIView):
    required_scope = {"GET": READ_SCOPES}

    @extend_schema(
        operation_id="experiments_retrieve",
        summary="One A/B experiment with its arms compared",
        responses={200: ExperimentOutSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["models"],
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = get_object_or_404(Experiment.objects.select_related("candidate", "control"), pk=experiment_id)
        return Response(ExperimentOutSerializer(experiment_payload(experiment)).data)


class ExperimentStopView(APIView):
    required_scope = {"POST": Scope.ADMIN}

    @extend_schema(
        operation_id="experiments_stop",
        summary="Stop an A/B experiment: route every new item by the active version again",
        description="Queue entries keep their arms, so the comparison stays readable. The candidate keeps its "
        "status (set it to `candidate` to stop shadow scoring). Stopping a stopped experiment changes nothing "
        "and returns it. Audited as `experiment.stopped`.",
        request=StopInSerializer,
        responses={200: ExperimentOutSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        examples=[OpenApiExample("With a reason", value={"reason": "enough data"}, request_only=True)],
        tags=["models"],
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        experiment = get_object_or_404(Experiment, pk=experiment_id)
        body = StopInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        experiments.stop_experiment(
            experiment=experiment, actor=request.user, reason=body.validated_data["reason"] or "stopped through the API"
        )
        experiment = Experiment.objects.select_related("candidate", "control").get(pk=experiment.pk)
        return Response(ExperimentOutSerializer(experiment_payload(experiment)).data)


class ModelVersionStatusView(APIView):
    required_scope = {"POST": Scope.ADMIN}

    @extend_schema(
        operation_id="model_versions_set_status",
        summary="Shadow, promote or retire a model version",
        description="One audited step (`model_version.shadow`, `model_version.promoted`, ...). Promoting retires "
        "the kind's active version, stops the kind's running experiment, re-routes pending items and sends the "
        "`model.promoted` webhook. 409 when the change is not allowed (the active version cannot be demoted "
        "directly: promote another one, or roll back).",
        request=StatusInSerializer,
        responses={200: ModelVersionOutSerializer, **ERROR_RESPONSES, **NOT_FOUND, **STATE_CONFLICT},
        examples=[
            OpenApiExample("Start shadow scoring", value={"status": "shadow"}, request_only=True),
            OpenApiExample("Promote", value={"status": "active"}, request_only=True),
        ],
        tags=["models"],
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=version_id)
        body = StatusInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            version = set_model_version_status(
                version=version, status=body.validated_data["status"], actor=request.user, actor_label="api"
            )
        except RegistryError as exc:
            raise StateConflict({"status": [str(exc)]}) from exc
        return Response(ModelVersionOutSerializer(version).data)


class ModelRollbackView(APIView):
    required_scope = {"POST": Scope.ADMIN}

    @extend_schema(
        operation_id="model_versions_rollback",
        summary="Roll back: re-activate the version of a kind that was active before the current one",
        description="One audited step (`model_version.rolled_back`, with the promotion and retirement it "
        "implies). 409 when no earlier active version of the kind exists.",
        request=RollbackInSerializer,
        responses={200: ModelVersionOutSerializer, **ERROR_RESPONSES, **STATE_CONFLICT},
        examples=[OpenApiExample("Image model", value={"kind": "image"}, request_only=True)],
        tags=["models"],
    )
    def post(self, request: Request) -> Response:
        body = RollbackInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            version = roll_back_model_version(kind=body.validated_data["kind"], actor=request.user, actor_label="api")
        except RegistryError as exc:
            raise StateConflict({"kind": [str(exc)]}) from exc
        return Response(ModelVersionOutSerializer(version).data)
