"""Appeals of account actions: received from the platform, decided by a different reviewer, answered by webhook."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actions import InvalidAction, reverse_action
from accounts.models import AccountAction, AccountCase, Appeal
from api.exceptions import Conflict
from audit.services import record_event
from queues.entries import sort_key_for
from queues.models import Queue, QueueEntry
from review import claims
from review.exceptions import LeaseLost
from webhooks.services import emit


class AppealRefused(Conflict):
    """The appeal cannot be accepted or decided as asked; the message says why (HTTP 409)."""

    code = "appeal_refused"


def open_appeal(*, source: str, appeal_id: str, account: str, action_id: int, reason: str) -> tuple[Appeal, bool]:
    """Record an appeal of ``action_id`` for the account ``(source, account)``; returns it and whether it is new.

    Sending the same appeal id again returns the first one (a retry); an action can have one open appeal.
    """
    existing = Appeal.objects.filter(source=source, appeal_id=appeal_id).first()
    if existing:
        if existing.action_id != action_id:
            raise AppealRefused(f"Appeal id {appeal_id!r} was already used for action {existing.action_id}.")
        return existing, False
    action = (
        AccountAction.objects.select_related("account__author")
        .filter(pk=action_id, account__author__source=source, account__author__external_id=account)
        .first()
    )
    if action is None:
        raise AppealRefused(f"No action {action_id} on account {account!r} of source {source!r}.")
    if action.kind in {AccountAction.Kind.NONE, AccountAction.Kind.RESTORE}:
        raise AppealRefused(f"Action {action_id} ({action.get_kind_display().lower()}) cannot be appealed.")
    if AccountAction.objects.filter(reverses=action).exists():
        raise AppealRefused(f"Action {action_id} has already been reversed.")
    queue = Queue.objects.filter(slug=settings.ACCOUNT_APPEALS_QUEUE).first()
    now = timezone.now()
    try:
        with transaction.atomic():
            entry = _queue_entry(queue, action, now) if queue else None
            appeal = Appeal.objects.create(
                source=source,
                appeal_id=appeal_id,
                action=action,
                reason=reason,
                queue=queue,
                entry=entry,
                opened_at=now,
            )
    except IntegrityError:
        raise AppealRefused(f"Action {action_id} already has an open appeal.") from None
    return appeal, True


def _queue_entry(queue: Queue, action: AccountAction, now) -> QueueEntry:  # noqa: ANN001
    """Oldest first in the appeals queue, never served to the reviewer who took the action."""
    return QueueEntry.objects.create(
        queue=queue,
        sort_key=sort_key_for(queue, risk=0.5, scores={}, enqueued_at=now),
        risk=0.5,
        risk_category="appeal",
        selection=QueueEntry.Selection.ROUTED,
        enqueued_at=now,
        deadline_at=now + queue.deadline,
        excluded_reviewer=action.actor,
    )


def decide_appeal(
    *, appeal: Appeal, user: AbstractBaseUser, overturn: bool, note: str = "", token: int | None = None
) -> Appeal:
    """Uphold or overturn; an overturn reverses the action and withdraws the case's verdict. Sent as a webhook.

    A queued appeal is decided only by the reviewer holding its entry under ``token`` (``review.claims``).
    """
    with transaction.atomic():
        appeal = Appeal.objects.select_for_update().select_related("action__account__author").get(pk=appeal.pk)
        if appeal.status != Appeal.Status.OPEN:
            raise AppealRefused("This appeal has already been decided.")
        if appeal.action.actor_id == user.pk:
            raise AppealRefused("You took this action; another reviewer decides its appeal.")
        held = None
        if appeal.entry_id is not None:
            if token is None:
                raise LeaseLost("Claim this appeal from its queue to decide it.")
            held = claims.held_entry(entry_id=appeal.entry_id, token=token, user=user)
        if overturn:
            try:
                reverse_action(
                    action=appeal.action, actor=user, note=f"Appeal {appeal.appeal_id} upheld. {note}".strip()
                )
            except InvalidAction as exc:
                raise AppealRefused(str(exc)) from None
            if appeal.action.case_id:
                AccountCase.objects.filter(pk=appeal.action.case_id).update(violation=False)
        appeal.status = Appeal.Status.OVERTURNED if overturn else Appeal.Status.UPHELD
        appeal.decided_at, appeal.decided_by, appeal.note = timezone.now(), user, note
        appeal.save(update_fields=["status", "decided_at", "decided_by", "note"])
        record_event(action=f"appeal.{appeal.status}", target=appeal, actor=user, after={"note": note})
        if held is not None:
            claims.close_entry(held)
        emit(
            event_type="appeal.decided",
            payload={
                "appeal_id": appeal.appeal_id,
                "source": appeal.source,
                "external_id": appeal.action.account.author.external_id,
                "action_id": appeal.action_id,
                "outcome": appeal.status,
                "account_state": appeal.action.account.state if not overturn else appeal.action.state_before,
                "decided_by": user.get_username(),
                "decided_at": appeal.decided_at,
            },
        )
    return appeal
