"""REST API v1 for items: ingestion and read-back."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiRequest,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import Conflict
from api.json_input import load_json_text
from api.lists import SYNC_NOTE, KeysetListView
from api.models import ApiToken
from api.schema import ERROR_RESPONSES, ERROR_SCHEMA, NOT_FOUND, UNKNOWN_REFERENCE
from intake.filters import ItemFilter
from intake.item_input import quick_submission
from intake.models import Item
from intake.rescoring import is_rescorable, rescore_failed_items
from intake.rows import ITEM_COLUMNS, ITEM_TIMES, item_rows
from intake.serializers import (
    BatchResultSerializer,
    ItemBatchInSerializer,
    ItemInSerializer,
    ItemListOutSerializer,
    ItemOutSerializer,
    SubmissionResultSerializer,
    TicketInSerializer,
    TicketOutSerializer,
    submission_from,
)
from intake.submission import submit_items
from intake.tickets import attach_ticket
from intake.visibility import visible_items

SINGLE_EXAMPLE = {
    "source": "creatorhub.comments",
    "external_id": "c-98812",
    "text": "DM me to double your crypto in 24h, guaranteed!!!",
    "author": {"external_id": "u-551", "handle": "@quickprofits", "account_created_at": "2026-11-20T08:00:00Z"},
    "metadata": {"surface": "comment", "language": "en"},
    "reports": [{"id": "r-1", "reporter_id": "u-77", "reason": "scam_fraud", "text": "asks for money"}],
}


ITEM_REQUEST = PolymorphicProxySerializer(
    component_name="ItemSubmission",
    serializers=[ItemInSerializer, ItemBatchInSerializer],
    resource_type_field_name=None,
)


def _payload_of(request: Request) -> object:
    """The JSON document of the request: the body itself, or the `payload` part of a multipart body."""
    if request.content_type.startswith("multipart/"):
        # Parts besides `payload` are images, named by an item's `image_part`; one sent without a file name is
        # an image all the same (api.json_input), and one no item names is not read.
        raw = request.data.get("payload")
        if raw is None:
            raise serializers.ValidationError({"payload": ["A multipart request needs a 'payload' part (JSON)."]})
        try:
            # The same rules as a JSON body: nesting depth, NUL and lone surrogates (the part's bytes were
            # already refused if they were not UTF-8, by api.json_input.StrictMultiPartParser).
            return load_json_text(raw, where="The payload part")
        except ParseError as exc:
            raise serializers.ValidationError({"payload": [str(exc.detail)]}) from exc
    return request.data


class ItemCollectionView(KeysetListView):
    required_scope = {"GET": ApiToken.Scope.ITEMS_READ, "POST": ApiToken.Scope.ITEMS_WRITE}
    queryset = Item.objects.all()
    serializer_class = ItemListOutSerializer
    filterset_class = ItemFilter
    rows = staticmethod(item_rows)
    columns, times = ITEM_COLUMNS, ITEM_TIMES

    def get_queryset(self):  # noqa: ANN201 - a QuerySet
        # A token sees what its user sees (intake.visibility).
        return visible_items(self.request.user, super().get_queryset())

    @extend_schema(
        operation_id="items_list",
        summary="List items, filtered, in cursor pages ordered by last change",
        description=(
            "Items with their state, scores (active and shadow models) and ticket. Every filter is optional "
            "and they combine with AND; `score_min`/`score_max` compare the active model's probability "
            "for `category` (without it, for any category); a `queue` or `category` that does not exist is a "
            "404. `updated_at` changes when the item's state, report count or ticket changes."
            + SYNC_NOTE.format(key="updated_at", verb="changed")
        ),
        responses={200: ItemListOutSerializer(many=True), **ERROR_RESPONSES, **UNKNOWN_REFERENCE},
        tags=["items"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="items_create",
        summary="Send one flagged item or a batch of up to 500",
        description=(
            'Send one item as a JSON object, or a batch as `{"items": [...]}` (at most 500). Images go in '
            "`image_base64`, or, in a `multipart/form-data` request, in a file part named by `image_part`, "
            "with the JSON document in a part called `payload`.\n\n"
            "**Identity and idempotency.** An item is identified by `(source, external_id)`. Sending an item "
            "that exists does not create a second one: its new reports are added and `status` is `merged`. "
            "A report is recognised by its `id`, or without one by reporter, reason, text and time, so sending "
            "the same request twice creates nothing.\n\n"
            "**Bad input.** A batch is all or nothing: if any item is invalid the whole batch is refused "
            "with 400, nothing is written, and `errors` names every bad field by path "
            "(`items[3].image_base64`). Limits: text 20,000 characters; images JPEG, PNG, WebP or GIF (judged "
            "by content), 10 MB, 40 megapixels; request body 64 MiB (413 above)."
        ),
        request={
            "application/json": ITEM_REQUEST,
            "multipart/form-data": OpenApiRequest(
                {
                    "type": "object",
                    "properties": {
                        # The same document as a JSON body: the schema says so, and that the part is JSON.
                        "payload": {
                            "$ref": "#/components/schemas/ItemSubmissionRequest",
                            "description": "The JSON document: one item or {items: [...]}",
                        },
                    },
                    "additionalProperties": {"type": "string", "format": "binary"},
                    "required": ["payload"],
                },
                encoding={"payload": {"contentType": "application/json"}},
            ),
        },
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="ItemSubmissionOk",
                    serializers=[BatchResultSerializer, SubmissionResultSerializer],
                    resource_type_field_name=None,
                ),
                description="A batch: one result per item, in order. Or one item that existed: merged.",
            ),
            201: OpenApiResponse(SubmissionResultSerializer, description="One item, created."),
            **ERROR_RESPONSES,
            404: OpenApiResponse(ERROR_SCHEMA, description="`image_part` names a part the request does not have."),
            413: OpenApiResponse(ERROR_SCHEMA, description="The request body is over the size limit."),
        },
        examples=[
            OpenApiExample("One item", value=SINGLE_EXAMPLE, request_only=True),
            OpenApiExample(
                "A batch",
                value={"items": [SINGLE_EXAMPLE, {"source": "creatorhub.posts", "external_id": "p-1", "text": "hi"}]},
                request_only=True,
            ),
            OpenApiExample(
                "Result of one item",
                value={
                    "index": 0,
                    "id": 41,
                    "source": "creatorhub.comments",
                    "external_id": "c-98812",
                    "status": "created",
                    "state": "received",
                    "report_count": 1,
                },
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "A refused batch",
                value={
                    "code": "invalid",
                    "message": "items[1].text: An item needs text, an image, or both.",
                    "errors": {"items[1].text": ["An item needs text, an image, or both; this one has neither."]},
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
        tags=["items"],
    )
    def post(self, request: Request) -> Response:
        payload = _payload_of(request)
        if not isinstance(payload, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ['The body must be a JSON object: one item, or {"items": [...]}.']}
            )
        context = {"files": request.FILES}
        if "items" in payload:
            batch = ItemBatchInSerializer(data=payload, context=context)
            batch.is_valid(raise_exception=True)
            results = submit_items(submissions=[submission_from(item) for item in batch.validated_data["items"]])
            body = {
                "created": sum(result.created for result in results),
                "merged": sum(not result.created for result in results),
                "results": [SubmissionResultSerializer.from_result(result) for result in results],
            }
            return Response(body, status=status.HTTP_200_OK)
        submission = quick_submission(payload)
        if submission is None:  # an image, an error, or input the serializer would normalise
            single = ItemInSerializer(data=payload, context=context)
            single.is_valid(raise_exception=True)
            submission = single.to_submission()
        [result] = submit_items(submissions=[submission])
        return Response(
            SubmissionResultSerializer.from_result(result),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class ItemDetailView(APIView):
    required_scope = {"GET": ApiToken.Scope.ITEMS_READ}

    @extend_schema(
        operation_id="items_retrieve",
        summary="Read an item, its reports and its state",
        responses={200: ItemOutSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["items"],
    )
    def get(self, request: Request, item_id: int) -> Response:
        items = visible_items(request.user, Item.objects.select_related("author").prefetch_related("reports"))
        item = get_object_or_404(items, pk=item_id)
        return Response(ItemOutSerializer(item).data)


class ItemTicketView(APIView):
    required_scope = {"PUT": ApiToken.Scope.ITEMS_WRITE}

    @extend_schema(
        operation_id="items_ticket",
        summary="Attach the ticket your ticketing system opened for an item",
        description=(
            "Sets the item's `ticket_id` and `ticket_url` (http or https), replacing any earlier ones. "
            "Sending the same values again changes nothing but `updated_at`. The change is audited."
        ),
        request=TicketInSerializer,
        responses={200: TicketOutSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        examples=[
            OpenApiExample(
                "A Zendesk ticket",
                value={"ticket_id": "ZD-40112", "ticket_url": "https://acme.zendesk.com/agent/tickets/40112"},
                request_only=True,
            )
        ],
        tags=["items"],
    )
    def put(self, request: Request, item_id: int) -> Response:
        item = get_object_or_404(visible_items(request.user), pk=item_id)
        body = TicketInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = attach_ticket(item=item, actor=request.user, **body.validated_data)
        return Response(TicketOutSerializer(item).data)


class NotFailed(Conflict):
    code = "not_failed"


class RescoreOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rescoring = serializers.BooleanField()


class ItemRescoreView(APIView):
    required_scope = {"POST": ApiToken.Scope.ITEMS_WRITE}

    @extend_schema(
        operation_id="items_rescore",
        summary="Score a failed item again",
        description=(
            "For an item whose scoring failed (its `failure_reason` is set), for example after a worker crashed "
            "on it three times: sends it to be scored again with the active models. Not routed yet, it is "
            "scored and routed; waiting in a queue, it is scored and keeps its place. 202 when sent; 409 "
            "`not_failed` when the item did not fail, or a reviewer holds it. Failed items are also scored "
            "again when a new model version becomes active."
        ),
        request=None,
        responses={202: RescoreOutSerializer, **ERROR_RESPONSES, **NOT_FOUND, 409: OpenApiResponse(ERROR_SCHEMA)},
        tags=["items"],
    )
    def post(self, request: Request, item_id: int) -> Response:
        item = get_object_or_404(visible_items(request.user), pk=item_id)
        if not is_rescorable(item):
            raise NotFailed("The item's scoring did not fail (or a reviewer holds it): nothing to score again.")
        rescore_failed_items(item_ids=[item.pk])
        return Response({"id": item.pk, "rescoring": True}, status=status.HTTP_202_ACCEPTED)
