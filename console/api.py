"""REST API v1: the console's search, for scripts and other tools.

The same filters as the search page (``console.forms.SearchForm``, so a bad value gets the same message),
the same visibility (only items of queues the token's user works; every queue for an admin) and the same
pages: newest first, ``before`` = the ``next_before`` of the previous page (keyset, no offset).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import ApiToken
from api.schema import ERROR_RESPONSES
from classifiers.models import PolicyCategory
from console import selectors
from console.forms import SearchForm

MAX_LIMIT = 100


class SearchRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    external_id = serializers.CharField()
    ticket_id = serializers.CharField(help_text="Empty when the item came without a ticket.")
    text_start = serializers.CharField(help_text=f"The text's first {selectors.SNIPPET_LENGTH} characters.")
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    author_handle = serializers.CharField()
    queue = serializers.CharField(help_text="The queue the item waits in; empty when it waits in none.")
    risk = serializers.FloatField(allow_null=True, help_text="Its risk in that queue.")
    last_decision = serializers.CharField(help_text="The newest decision's action; empty when undecided.")


class SearchPageSerializer(serializers.Serializer):
    results = SearchRowSerializer(many=True)
    next_before = serializers.IntegerField(allow_null=True, help_text="Pass as `before` for the next page.")


def _row(row: selectors.ItemRow) -> dict:
    return {
        "id": row.pk,
        "source": row.source,
        "external_id": row.external_id,
        "ticket_id": row.ticket_id,
        "text_start": row.snippet,
        "state": row.state,
        "created_at": row.created_at.isoformat(),
        "author_handle": row.author_handle,
        "queue": row.queue_name,
        "risk": row.risk,
        "last_decision": row.last_decision,
    }


def _parameters() -> list[OpenApiParameter]:
    form = SearchForm(queues=(), categories=())
    described = [
        OpenApiParameter(
            name=name,
            type=OpenApiTypes.NUMBER if "min" in name or "max" in name else OpenApiTypes.STR,
            description=str(field.label or name),
        )
        for name, field in form.fields.items()
        if name not in {"author", "created_from", "created_to"}
    ]
    return [
        *described,
        OpenApiParameter("author", OpenApiTypes.INT, description="An author's id: their items only."),
        OpenApiParameter("created_from", OpenApiTypes.DATE, description="Received on or after this day."),
        OpenApiParameter("created_to", OpenApiTypes.DATE, description="Received on or before this day."),
        OpenApiParameter("before", OpenApiTypes.INT, description="The `next_before` of the previous page."),
        OpenApiParameter("limit", OpenApiTypes.INT, description=f"Rows per page, 1 to {MAX_LIMIT} (default 50)."),
    ]


class ItemSearchView(APIView):
    required_scope = {"GET": ApiToken.Scope.ITEMS_READ}
    session_users_allowed = True

    @extend_schema(
        operation_id="items_search",
        summary="Search items as the console does: text, identifiers and filters, newest first",
        description=(
            "`q` matches the words of an item's text (PostgreSQL full-text search), or exactly its id, external "
            "id, ticket id, or its author's id or handle. The other parameters are the console's filters: "
            "`queue` is a queue's slug, `category` with `score_min`/`score_max` a policy category's active "
            "score range, `risk_min`/`risk_max` the risk in the queue the item waits in, `decision` and "
            "`reviewer` (a username) the decisions made on it. Only items of the queues the token's user works "
            "are returned (an admin's token: every item). A value that does not parse, a queue the user does "
            "not work or an unknown category is a 400 naming the parameter."
        ),
        parameters=_parameters(),
        responses={200: SearchPageSerializer, **ERROR_RESPONSES},
        tags=["items"],
    )
    def get(self, request: Request) -> Response:
        viewer = selectors.viewer_for(request.user)
        form = SearchForm(request.query_params, queues=viewer.queues, categories=_categories())
        errors = {} if form.is_valid() else {name: list(messages) for name, messages in form.errors.items()}
        before, limit = request.query_params.get("before", ""), request.query_params.get("limit", "50")
        if before and not before.isdigit():
            errors["before"] = ["Must be an item id (a whole number)."]
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            errors["limit"] = [f"Must be a whole number from 1 to {MAX_LIMIT}."]
        if errors:
            raise ValidationError(errors)
        page = selectors.search_items(
            viewer=viewer, criteria=form.criteria(), before=int(before) if before else None, size=int(limit)
        )
        return Response({"results": [_row(row) for row in page.rows], "next_before": page.next_before})


def _categories() -> list[PolicyCategory]:
    return list(PolicyCategory.objects.filter(is_active=True))
