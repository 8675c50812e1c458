"""REST API v1 for working queues: the same review service the browser uses."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import UnknownReference
from api.models import ApiToken
from api.schema import ERROR_RESPONSES, ERROR_SCHEMA, NOT_FOUND
from api.serializers import StrictCharField, StrictSerializer
from queues.models import Decision, Queue
from review import claims
from review import decisions as deciding
from review.serializers import DECISION_RULES

CONFLICT = {409: OpenApiResponse(ERROR_SCHEMA, description="You do not hold this item under this token.")}


class ClaimOutSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    token = serializers.IntegerField(help_text="Fencing token: send it with every call on this item.")
    lease_until = serializers.DateTimeField()


class TokenInSerializer(StrictSerializer):
    token = serializers.IntegerField(min_value=0)


class EscalateInSerializer(TokenInSerializer):
    queue = serializers.IntegerField(help_text="Id of the queue to move the item to.")
    note = StrictCharField(max_length=2000)


class DecisionInSerializer(TokenInSerializer):
    schema_rules = DECISION_RULES
    action = serializers.ChoiceField(
        choices=[Decision.Action.NO_VIOLATION, Decision.Action.REMOVE, Decision.Action.NEEDS_CONTEXT]
    )
    categories = serializers.ListField(child=StrictCharField(max_length=40), required=False, default=list)
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    apply_to_group = serializers.BooleanField(required=False, default=False)


class DecisionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    action = serializers.CharField()


class ReviewView(APIView):
    """Reviewer calls: tokens need ``decisions:write``; any signed-in user may call, and the service
    checks queue membership and leases."""

    required_scope = {"POST": ApiToken.Scope.DECISIONS_WRITE}
    session_users_allowed = True


class ClaimView(ReviewView):
    @extend_schema(
        operation_id="queues_claim",
        summary="Claim the best unclaimed item of a queue under a lease",
        request=None,
        responses={
            200: ClaimOutSerializer,
            204: OpenApiResponse(description="The queue is empty."),
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
        tags=["review"],
    )
    def post(self, request: Request, queue_id: int) -> Response:
        claim = claims.claim_next_item(queue=get_object_or_404(Queue, pk=queue_id), user=request.user)
        if claim is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ClaimOutSerializer(claim).data)


class HeartbeatView(ReviewView):
    @extend_schema(
        operation_id="entries_heartbeat",
        summary="Renew the lease on a held item",
        request=TokenInSerializer,
        responses={200: ClaimOutSerializer, **ERROR_RESPONSES, **NOT_FOUND, **CONFLICT},
        tags=["review"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        body = TokenInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = claims.renew_lease(entry_id=entry_id, token=body.validated_data["token"], user=request.user)
        return Response(
            {
                "entry_id": entry.pk,
                "item_id": entry.item_id,
                "token": entry.fencing_token,
                "lease_until": entry.lease_until,
            }
        )


class ReleaseView(ReviewView):
    @extend_schema(
        operation_id="entries_release",
        summary="Skip: put a held item back in its queue",
        request=TokenInSerializer,
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND, **CONFLICT},
        tags=["review"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        body = TokenInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        claims.release_item(entry_id=entry_id, token=body.validated_data["token"], user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EscalateView(ReviewView):
    @extend_schema(
        operation_id="entries_escalate",
        summary="Move a held item to another queue with a note",
        request=EscalateInSerializer,
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND, **CONFLICT},
        tags=["review"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        body = EscalateInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        target = Queue.objects.filter(pk=body.validated_data["queue"]).first()
        if target is None:
            raise UnknownReference({"queue": ["No such queue."]})
        claims.escalate_item(
            entry_id=entry_id, token=body.validated_data["token"], user=request.user, to_queue=target,
            note=body.validated_data["note"],
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)


class DecisionView(ReviewView):
    @extend_schema(
        operation_id="entries_decide",
        summary="Decide a held item (optionally its whole near-duplicate group)",
        request=DecisionInSerializer,
        responses={201: DecisionOutSerializer(many=True), **ERROR_RESPONSES, **NOT_FOUND, **CONFLICT},
        tags=["review"],
    )
    def post(self, request: Request, entry_id: int) -> Response:
        body = DecisionInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        decisions = deciding.record_decision(
            entry_id=entry_id, token=data["token"], user=request.user, action=data["action"],
            categories=data["categories"], note=data["note"], apply_to_group=data["apply_to_group"],
        )  # fmt: skip
        return Response(DecisionOutSerializer(decisions, many=True).data, status=status.HTTP_201_CREATED)
