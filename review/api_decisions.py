"""REST API v1 for decisions: read them in cursor pages, and decide an item by its id."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.lists import SYNC_NOTE, KeysetListView
from api.models import ApiToken
from api.schema import ERROR_RESPONSES, ERROR_SCHEMA, NOT_FOUND, UNKNOWN_REFERENCE
from intake.models import Item
from intake.visibility import visible_item_filter, visible_items
from queues.models import Decision
from review.api import DecisionOutSerializer
from review.filters import DecisionFilter
from review.item_decisions import decide_item
from review.rows import DECISION_COLUMNS, DECISION_TIMES, decision_rows
from review.serializers import DecisionListOutSerializer, ItemDecisionInSerializer


class DecisionListView(KeysetListView):
    required_scope = {"GET": ApiToken.Scope.DECISIONS_READ}
    queryset = Decision.objects.all()
    serializer_class = DecisionListOutSerializer
    filterset_class = DecisionFilter
    key_field = "created_at"
    rows = staticmethod(decision_rows)
    columns, times = DECISION_COLUMNS, DECISION_TIMES

    def get_queryset(self):  # noqa: ANN201 - a QuerySet
        # A token sees the decisions on the items its user sees (intake.visibility).
        # Content decisions only: an account case's decision (no item) is the case's, in the accounts views.
        content = super().get_queryset().filter(item__isnull=False)
        return content.filter(visible_item_filter(self.request.user, prefix="item"))

    @extend_schema(
        operation_id="decisions_list",
        summary="List decisions, filtered, in cursor pages ordered by creation",
        description=(
            "Reviewers' and routing rules' decisions. A decision is never edited; a senior's QA verdict on it "
            "shows as `qa_verdict`. A decision undone by its reviewer (within seconds) is deleted."
            + SYNC_NOTE.format(key="created_at", verb="created")
        ),
        responses={200: DecisionListOutSerializer(many=True), **ERROR_RESPONSES, **UNKNOWN_REFERENCE},
        tags=["decisions"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)


class ItemDecisionView(APIView):
    """Decide an item from a ticket: takes the item's lease, decides, and releases it, in one call."""

    required_scope = {"POST": ApiToken.Scope.DECISIONS_WRITE}
    session_users_allowed = True

    @extend_schema(
        operation_id="items_decide",
        summary="Decide an item by its id (from a ticketing system)",
        description=(
            "Decides the item as the token's user, under the same rules as the review screen: the user must be "
            "a member of the queue the item waits in (403 `not_a_member`); the item must not be held by another "
            "reviewer (409 `lease_lost`); it must wait in a queue (409 `not_in_a_queue`); a removal names at "
            "least one category, 'no violation' names none, and categories must be known (400 "
            "`invalid_decision`). The call takes the item's lease and closes it with the decision, in one "
            "transaction: a refused call leaves the item as it was. The decision writes labels and an audit "
            "event like any other. `apply_to_group` decides the pending near-duplicates in the user's queues too."
        ),
        request=ItemDecisionInSerializer,
        responses={
            201: DecisionOutSerializer(many=True),
            **ERROR_RESPONSES,
            **NOT_FOUND,
            409: OpenApiResponse(ERROR_SCHEMA, description="Held by another reviewer, or in no queue."),
        },
        examples=[
            OpenApiExample(
                "Remove as spam",
                value={"action": "remove", "categories": ["spam"], "note": "Ticket ZD-40112: confirmed promo"},
                request_only=True,
            ),
            OpenApiExample(
                "Decided",
                value=[{"id": 912, "item_id": 41, "action": "remove"}],
                response_only=True,
                status_codes=["201"],
            ),
        ],
        tags=["decisions"],
    )
    def post(self, request: Request, item_id: int) -> Response:
        get_object_or_404(visible_items(request.user, Item.objects.only("pk")), pk=item_id)
        body = ItemDecisionInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decisions = decide_item(item_id=item_id, user=request.user, **body.validated_data)
        return Response(DecisionOutSerializer(decisions, many=True).data, status=status.HTTP_201_CREATED)
