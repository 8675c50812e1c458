"""REST API v1 for account events: ``POST /api/v1/events``."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.appeals import open_appeal
from accounts.event_input import SOURCE_PATTERN, EventBatchIn, EventIn, EventInputError, parse_events
from accounts.event_intake import record_events
from api.errors import StateConflict
from api.models import ApiToken
from api.schema import ERROR_RESPONSES, ERROR_SCHEMA
from api.serializers import StrictCharField, StrictSerializer

EVENTS_WRITE = ApiToken.Scope.EVENTS_WRITE
APPEALS_WRITE = ApiToken.Scope.APPEALS_WRITE


class EventIntakeOutSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Events in the request.")
    stored = serializers.IntegerField(help_text="Events stored by this request.")
    already_received = serializers.IntegerField(help_text="Events whose id was already received (retries).")


EXAMPLE = {
    "id": "evt-20261206-000123",
    "source": "creatorhub",
    "account": "u-551",
    "type": "login_failed",
    "occurred_at": "2026-12-06T04:12:09Z",
    "ip": "203.0.113.7",
    "device_id": "dev-8f2c",
    "country": "NL",
    "outcome": "bad_password",
}


class EventCollectionView(APIView):
    required_scope = {"POST": EVENTS_WRITE}
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="events_create",
        summary="Send one account event or a batch of up to 1,000",
        description=(
            'One event as a JSON object, or a batch as `{"events": [...]}` (at most 1,000). Events are append-only '
            "and feed the accounts' signals and detection rules within seconds.\n\n"
            "**Idempotency.** Each event carries your `id`, unique per `source`. Sending an event again is a "
            "no-op (`already_received`); the same `id` with other content is refused with 409 naming it.\n\n"
            "**Bad input.** A batch is all or nothing: any invalid event (an unknown `type` or field, an IP that "
            "does not parse, an `amount` without `currency`) refuses the whole batch with 400 and writes nothing; "
            "`errors` names every bad field by path (`events[3].ip`). A time more than "
            "`ACCOUNT_EVENT_MAX_AGE_DAYS` (7) days in the past or 5 minutes in the future is refused the same "
            "way, with 409 when it is the only problem (the time is well formed; the clock decides). "
            "A token limited to some sources gets 403 "
            "for events of another source."
        ),
        request=PolymorphicProxySerializer(
            component_name="EventSubmission", serializers=[EventIn, EventBatchIn], resource_type_field_name=None
        ),
        responses={
            201: OpenApiResponse(EventIntakeOutSerializer, description="At least one event was stored."),
            200: OpenApiResponse(EventIntakeOutSerializer, description="Every event had been received before."),
            400: OpenApiResponse(ERROR_SCHEMA, description="Invalid input; `errors` names each field and problem."),
            401: OpenApiResponse(ERROR_SCHEMA, description="Missing, unknown, expired or revoked token."),
            403: OpenApiResponse(ERROR_SCHEMA, description="The token lacks `events:write`, or the source."),
            429: ERROR_RESPONSES[429],
            409: OpenApiResponse(
                ERROR_SCHEMA,
                description="An event id was already used with other content, or an event's time is outside the "
                "accepted window.",
            ),
        },
        examples=[OpenApiExample("One event", value=EXAMPLE, request_only=True)],
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        try:
            events, _ = parse_events(
                request.data,
                now=timezone.now(),
                max_age=timedelta(days=settings.ACCOUNT_EVENT_MAX_AGE_DAYS),
                max_ahead=timedelta(seconds=settings.ACCOUNT_EVENT_MAX_FUTURE_SECONDS),
                max_batch=settings.ACCOUNT_EVENT_BATCH_MAX,
            )
        except EventInputError as exc:
            raise (StateConflict if exc.only_time_window else serializers.ValidationError)(exc.errors) from None
        token = request.auth if isinstance(request.auth, ApiToken) else None
        result = record_events(events=events, token=token)  # EventConflict 409, SourceNotAllowed 403
        body = {"received": result.received, "stored": result.stored, "already_received": result.already_received}
        return Response(body, status=status.HTTP_201_CREATED if result.stored else status.HTTP_200_OK)


class AppealInSerializer(StrictSerializer):
    id = serializers.RegexField(r"^[\x21-\x7e]{1,128}$", help_text="Your id of the appeal, unique per source.")
    source = serializers.RegexField(SOURCE_PATTERN, help_text="The account's source.")
    account = StrictCharField(max_length=255, help_text="The account's id on the platform.")
    action_id = serializers.IntegerField(min_value=1, help_text="The `action_id` of the `account.actioned` webhook.")
    reason = StrictCharField(max_length=5000, allow_blank=True, required=False, default="")


class AppealOutSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    action_id = serializers.IntegerField()


class AppealCollectionView(APIView):
    required_scope = {"POST": APPEALS_WRITE}
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="appeals_create",
        summary="Appeal an account action on the user's behalf",
        description=(
            "Puts the action in the appeals queue, for a reviewer other than the one who took it. The outcome "
            "comes back as an `appeal.decided` webhook; an overturned action is also reversed, which sends "
            "`account.actioned` with action `restore`. Sending the same appeal `id` again is a no-op (200)."
        ),
        request=AppealInSerializer,
        responses={
            201: AppealOutSerializer,
            200: AppealOutSerializer,
            400: OpenApiResponse(ERROR_SCHEMA, description="Invalid input."),
            401: OpenApiResponse(ERROR_SCHEMA, description="Missing, unknown, expired or revoked token."),
            403: OpenApiResponse(ERROR_SCHEMA, description="The token lacks `appeals:write`."),
            409: OpenApiResponse(ERROR_SCHEMA, description="No such action on that account, or it cannot be appealed."),
            429: ERROR_RESPONSES[429],
        },
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = AppealInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        appeal, created = open_appeal(  # AppealRefused: 409
            source=values["source"],
            appeal_id=values["id"],
            account=values["account"],
            action_id=values["action_id"],
            reason=values["reason"],
        )
        body = {"id": appeal.appeal_id, "status": appeal.status, "action_id": appeal.action_id}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
