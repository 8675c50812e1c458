"""REST API v1 for webhook subscriptions (``/api/v1/webhooks/subscriptions``), for tokens with the ``admin`` scope."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.schema import ERROR_SCHEMA
from api.serializers import StrictModelSerializer
from webhooks import services
from webhooks.models import WebhookSubscription

# The scope string of queues.models.ApiToken.Scope.ADMIN (this app imports nothing from queues).
ADMIN_SCOPE = "admin"

ERRORS = {
    401: OpenApiResponse(ERROR_SCHEMA, description="Missing, unknown, expired or revoked token."),
    403: OpenApiResponse(ERROR_SCHEMA, description="The token lacks the admin scope."),
    429: OpenApiResponse(ERROR_SCHEMA, description="Over the token's rate limit; `Retry-After` says how long to wait."),
}
INVALID = {400: OpenApiResponse(ERROR_SCHEMA, description="Invalid input; `errors` names each field and its problem.")}
NOT_FOUND = {404: OpenApiResponse(ERROR_SCHEMA, description="No such subscription.")}


class SubscriptionSerializer(StrictModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=settings.WEBHOOK_EVENT_TYPES), allow_empty=False, min_length=1
    )

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "description", "event_types", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class CreatedSubscriptionSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_...). Returned once, in this response only."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


@extend_schema_view(
    list=extend_schema(
        summary="List webhook subscriptions", responses={200: SubscriptionSerializer(many=True), **ERRORS}
    ),
    retrieve=extend_schema(
        summary="Read a webhook subscription", responses={200: SubscriptionSerializer, **ERRORS, **NOT_FOUND}
    ),
    create=extend_schema(
        summary="Subscribe an endpoint to events",
        description="Events are POSTed with Standard Webhooks signatures. The response carries the signing secret, "
        "once. Needs the `admin` scope, like every webhook operation.",
        responses={201: CreatedSubscriptionSerializer, **INVALID, **ERRORS},
    ),
    update=extend_schema(
        summary="Replace a webhook subscription",
        responses={200: SubscriptionSerializer, **INVALID, **ERRORS, **NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change a webhook subscription",
        responses={200: SubscriptionSerializer, **INVALID, **ERRORS, **NOT_FOUND},
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription and its delivery history", responses={204: None, **ERRORS, **NOT_FOUND}
    ),
)
@extend_schema(tags=["webhooks"])
class SubscriptionViewSet(viewsets.ModelViewSet):
    """Every change is written to the audit log with before and after (never the secret)."""

    queryset = WebhookSubscription.objects.all()
    serializer_class = SubscriptionSerializer
    required_scope = dict.fromkeys(["GET", "POST", "PUT", "PATCH", "DELETE"], ADMIN_SCOPE)

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = _as_api_error(
            lambda: services.create_subscription(**serializer.validated_data, actor=request.user)
        )
        return Response(CreatedSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: SubscriptionSerializer) -> None:
        _as_api_error(
            lambda: services.update_subscription(
                subscription=serializer.instance, changes=serializer.validated_data, actor=self.request.user
            )
        )

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        services.delete_subscription(subscription=instance, actor=self.request.user)


def _as_api_error(call):  # noqa: ANN001, ANN202
    try:
        return call()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc
