from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdminMixin
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, WebhookEvent, WebhookSubscription


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", help_text="Where events are POSTed (http or https).")
    event_types = forms.MultipleChoiceField(choices=[], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ["url", "description", "event_types", "is_active"]

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(name, name) for name in settings.WEBHOOK_EVENT_TYPES]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The signing secret is shown once to whoever creates the subscription, and always to superusers."""

    form = SubscriptionForm
    list_display = ["__str__", "url", "event_types", "is_active", "pending", "failed", "paused_until", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    actions = ["rotate_secrets"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookSubscription]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=Count("deliveries", filter=Q(deliveries__state__in=["pending", "delivering"])),
                failed_count=Count("deliveries", filter=Q(deliveries__state="failed")),
            )
        )

    @admin.display(description="Pending deliveries", ordering="pending_count")
    def pending(self, subscription: WebhookSubscription) -> int:
        return subscription.pending_count

    @admin.display(description="Failed deliveries", ordering="failed_count")
    def failed(self, subscription: WebhookSubscription) -> int:
        return subscription.failed_count

    @admin.display(description="Signing secret")
    def secret_in_full(self, subscription: WebhookSubscription) -> str:
        return subscription.secret if subscription.pk else "Generated when you save; shown once on the next page."

    @admin.display(description="Signing secret")
    def secret_masked(self, subscription: WebhookSubscription) -> str:
        if not subscription.pk:
            return "Generated when you save; shown once on the next page."
        return f"{subscription.masked_secret} (superusers can see it in full)"

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookSubscription | None = None) -> list[str]:
        secret = "secret_in_full" if request.user.is_superuser else "secret_masked"
        return [secret, "paused_until", "unanswered_in_a_row", "created_by", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            messages.warning(
                request,
                f"The signing secret is {obj.secret} — give it to the receiver now; only superusers can see it again.",
            )

    @admin.action(description="Rotate the signing secret of the selected subscriptions", permissions=["change"])
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            secret = services.rotate_secret(subscription=subscription, actor=request.user)
            messages.warning(request, f"New secret for {subscription}: {secret} — the old one no longer verifies.")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Every delivery with its attempt log; *Redeliver* starts selected ones over (audited)."""

    list_display = ["id", "event_type", "event_id", "subscription", "state", "attempts", "next_attempt_at",
                    "delivered_at"]  # fmt: skip
    list_filter = ["state", "event__type", "subscription"]
    search_fields = ["=event__event_id"]
    list_select_related = ["event", "subscription"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    def get_readonly_fields(self, request: HttpRequest, obj: Delivery | None = None) -> list[str]:
        return [field.name for field in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="Event id (webhook-id)")
    def event_id(self, delivery: Delivery) -> str:
        return delivery.event.event_id

    @admin.action(description="Redeliver the selected deliveries", permissions=["change"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.redeliver(deliveries=queryset, actor=request.user)
        self.message_user(request, f"{count} deliveries will be sent again (any in flight were left alone).")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["subscription", "state", "attempts", "next_attempt_at", "delivered_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """The outbox: what was emitted, and where each copy of it went."""

    list_display = ["event_id", "type", "created_at"]
    list_filter = ["type"]
    search_fields = ["=event_id"]
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEvent | None = None) -> list[str]:
        return [field.name for field in WebhookEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False
