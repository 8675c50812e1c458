"""Writing audit events. Call inside the transaction of the change, so both land or neither does."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from audit.middleware import current_client_ip
from audit.models import AuditEvent


def record_event(
    *,
    action: str,
    target: models.Model,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one event describing ``action`` on ``target``.

    ``ip_address`` defaults to the address of the request being served (``AuditContextMiddleware``).
    """
    label = actor_label or (actor.get_username() if actor is not None else "system")
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=label[:150],
        action=action,
        object_type=target._meta.label_lower,
        object_id=str(target.pk),
        object_repr=str(target)[:200],
        before=before,
        after=after,
        ip_address=ip_address or current_client_ip(),
    )


def record_events(
    *,
    action: str,
    targets: list[models.Model],
    actor: AbstractBaseUser | None,
    before: list[dict[str, Any] | None] | None = None,
    after: list[dict[str, Any] | None] | None = None,
) -> list[AuditEvent]:
    """``record_event`` for many targets of one action by one actor, in one INSERT (bulk decisions and their undo).

    ``before`` and ``after``, when given, hold one dictionary per target, in order.
    """
    label = (actor.get_username() if actor is not None else "system")[:150]
    ip = current_client_ip()
    return AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=actor,
                actor_label=label,
                action=action,
                object_type=target._meta.label_lower,
                object_id=str(target.pk),
                object_repr=str(target)[:200],
                before=before[n] if before else None,
                after=after[n] if after else None,
                ip_address=ip,
            )
            for n, target in enumerate(targets)
        ]
    )
