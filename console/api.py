"""REST API v1: the console's search, for scripts and other tools.

The same filters as the search page (``console.forms.SearchForm``, so a bad value gets the same message),
the same visibility (only items of queues the token's user works; every queue for an admin) and the same
pages: newest first, ``before`` = the ``next_before`` of the previous page (keyset, no offset).
"""

from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import UnknownReference
from api.models import ApiToken
from api.schema import ERROR_RESPONSES, UNKNOWN_REFERENCE
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
    """The form's fields as query parameters, with the rules the form applies (bounds, choices, lengths)."""
    form = SearchForm(queues=(), categories=())
    described = []
    for name, field in form.fields.items():
        if name in {"author", "created_from", "created_to"}:
            continue
        if isinstance(field, forms.FloatField):
            schema = {"type": "number", **_bounds(field)}
        elif name in {"state", "decision"}:
            schema = {"type": "string", "enum": [value for value, _ in field.choices]}
        elif name == "labeler":
            schema = {"type": "string", "maxLength": field.max_length, "pattern": LABELER_PATTERN}
        else:
            schema = {"type": "string", "maxLength": getattr(field, "max_length", None) or 200}
        described.append(OpenApiParameter(name=name, type=schema, description=str(field.label or name)))
    return [
        *described,
        OpenApiParameter("author", {"type": "integer", "minimum": 1}, description="An author's id: their items only."),
        OpenApiParameter("created_from", OpenApiTypes.DATE, description="Received on or after this day."),
        OpenApiParameter("created_to", OpenApiTypes.DATE, description="Received on or before this day."),
        OpenApiParameter(
            "before", {"type": "integer", "minimum": 0}, description="The `next_before` of the previous page."
        ),
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            description=f"Rows per page, 1 to {MAX_LIMIT} (default 50).",
        ),
    ]


def _bounds(field: forms.FloatField) -> dict:
    bounds = {"minimum": field.min_value, "maximum": field.max_value}
    return {key: value for key, value in bounds.items() if value is not None}


# console.forms.parse_labeler: empty, or a kind's prefix and a name.
LABELER_PATTERN = r"^\s*((moderator|crowd|llm):[^\x00]*[^\x00\s][^\x00]*)?$"
# Parameters with a type: present but empty is not a value of it (the page's form reads "" as "no filter").
TYPED = ("score_min", "score_max", "risk_min", "risk_max", "created_from", "created_to", "author", "before")


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
            "are returned (an admin's token: every item). A value that does not parse is a 400, a queue the user "
            "does not work or an unknown category a 404, naming the parameter; a reversed range finds nothing."
        ),
        parameters=_parameters(),
        responses={200: SearchPageSerializer, **ERROR_RESPONSES, **UNKNOWN_REFERENCE},
        tags=["items"],
    )
    def get(self, request: Request) -> Response:
        viewer = selectors.viewer_for(request.user)
        categories = _categories()
        _refuse_unknown_references(request, queues=viewer.queues, categories=categories)
        form = SearchForm(request.query_params, queues=viewer.queues, categories=categories, ordered_ranges=False)
        errors = {} if form.is_valid() else {name: list(messages) for name, messages in form.errors.items()}
        for name in TYPED:
            if request.query_params.get(name) == "":
                errors[name] = ["Give a value, or leave the parameter out."]
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


def _refuse_unknown_references(request: Request, *, queues: list, categories: list[PolicyCategory]) -> None:
    """A queue the user does not work (or that does not exist: the same answer) or an unknown category is a 404
    naming the parameter: a well-formed request about something that is not there (for this user)."""
    queue, category = request.query_params.get("queue", ""), request.query_params.get("category", "")
    if queue and queue not in {q.slug for q in queues}:
        raise UnknownReference({"queue": [f"No queue {queue!r} among the queues you work."]})
    if category and category not in {c.slug for c in categories}:
        raise UnknownReference({"category": [f"Unknown category {category!r}."]})


def _categories() -> list[PolicyCategory]:
    return list(PolicyCategory.objects.filter(is_active=True))
