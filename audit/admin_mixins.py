"""Audit every configuration change made through the Django admin, with before and after."""

from typing import Any

from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest

from audit.middleware import client_ip as _client_ip
from audit.services import record_event


def _plain(instance: models.Model) -> dict[str, Any]:
    values = model_to_dict(instance)
    return {key: _jsonable(value) for key, value in values.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool | dict) or value is None:
        return value
    return str(value)


class AuditedAdminMixin:
    """Mix into a ModelAdmin: additions, edits and deletions each write an audit event."""

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        before = _plain(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            request._audit_pending = (obj, before, change)  # completed in save_related, after M2M changes

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        obj, before, change = request._audit_pending
        name = obj._meta.model_name
        record_event(
            action=f"{name}.{'changed' if change else 'created'}",
            target=obj,
            actor=request.user,
            before=before,
            after=_plain(obj),
            ip_address=_client_ip(request),
        )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            record_event(
                action=f"{obj._meta.model_name}.deleted",
                target=obj,
                actor=request.user,
                before=_plain(obj),
                ip_address=_client_ip(request),
            )
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                record_event(
                    action=f"{obj._meta.model_name}.deleted",
                    target=obj,
                    actor=request.user,
                    before=_plain(obj),
                    ip_address=_client_ip(request),
                )
            super().delete_queryset(request, queryset)  # type: ignore[misc]
