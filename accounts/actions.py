"""Account actions: what a reviewer tells the platform to do with an account, audited, sent, reversible.

The platform enforces; this application records the decision and sends it as a signed
``account.actioned`` webhook (through the outbox, in the same transaction). A reversal is a new action
of kind ``restore`` naming the one it reverses, also sent as ``account.actioned``.
"""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts import notices
from accounts.models import Account, AccountAction, AccountCase
from api.exceptions import Invalid
from audit.services import record_event
from webhooks.services import emit

# The state each kind leaves the account in; None: unchanged.
STATE_AFTER = {
    AccountAction.Kind.NONE: None,
    AccountAction.Kind.WARN: None,
    AccountAction.Kind.RESET_CREDENTIALS: None,
    AccountAction.Kind.LOCK: Account.State.LOCKED,
    AccountAction.Kind.SUSPEND: Account.State.SUSPENDED,
    AccountAction.Kind.BAN: Account.State.BANNED,
    AccountAction.Kind.RATE_LIMIT: Account.State.RATE_LIMITED,
}
NEEDS_DURATION = {AccountAction.Kind.SUSPEND, AccountAction.Kind.RATE_LIMIT}
MAX_DURATION = timedelta(days=365)
MAX_NOTICE = 2000


class InvalidAction(Invalid):
    """An action that cannot be taken as asked; the message says why, in words a reviewer can act on (HTTP 400)."""

    code = "invalid_action"


def take_action(
    *,
    account: Account,
    kind: str,
    actor: AbstractBaseUser | None,
    duration: timedelta | None = None,
    notice: str = "",
    note: str = "",
    case: AccountCase | None = None,
    automatic: bool = False,
) -> AccountAction:
    """Record ``kind`` on ``account``, change its state, audit it and send ``account.actioned``."""
    if kind not in STATE_AFTER:
        raise InvalidAction(f"Unknown action {kind!r}; choose one of {', '.join(STATE_AFTER)}.")
    if kind in NEEDS_DURATION and (duration is None or not timedelta(0) < duration <= MAX_DURATION):
        raise InvalidAction(f"'{kind}' needs a duration between one second and {MAX_DURATION.days} days.")
    if kind not in NEEDS_DURATION and duration is not None:
        raise InvalidAction(f"'{kind}' takes no duration.")
    if len(notice) > MAX_NOTICE:
        raise InvalidAction(f"The notice to the user is {len(notice)} characters; at most {MAX_NOTICE}.")
    with transaction.atomic():
        account = Account.objects.select_for_update().select_related("author").get(pk=account.pk)
        now = timezone.now()
        before = account.state
        after = STATE_AFTER[kind] or before
        account.state = after
        account.state_until = now + duration if duration else (account.state_until if after == before else None)
        account.save(update_fields=["state", "state_until", "updated_at"])
        template = None if notice else notices.template_for(kind, case)
        if template is not None:
            notice = notices.render(template, account=account, case=case, until=account.state_until)
        action = AccountAction.objects.create(
            account=account, case=case, kind=kind, duration=duration, notice=notice, note=note, actor=actor,
            automatic=automatic, state_before=before, state_after=after, notice_template=template,
        )  # fmt: skip
        _audit_and_send(action, account, now, until=account.state_until)
    return action


def reverse_action(*, action: AccountAction, actor: AbstractBaseUser | None, note: str = "") -> AccountAction:
    """Undo ``action``: the account goes back to the state before it, if nothing changed the state since.

    Refused when the action was reversed already, is itself a reversal, or the account's state has moved on
    (a later action changed it: reverse that one first), so a reversal never silently undoes a later decision.
    """
    with transaction.atomic():
        action = AccountAction.objects.select_for_update().get(pk=action.pk)
        account = Account.objects.select_for_update().select_related("author").get(pk=action.account_id)
        if action.kind == AccountAction.Kind.RESTORE:
            raise InvalidAction("A restore cannot itself be reversed; take a new action instead.")
        if AccountAction.objects.filter(reverses=action).exists():
            raise InvalidAction("This action has already been reversed.")
        if account.state != action.state_after:
            raise InvalidAction(
                f"The account is {account.get_state_display().lower()} now, not "
                f"{Account.State(action.state_after).label.lower()} as this action left it: reverse the later action."
            )
        now = timezone.now()
        account.state, account.state_until = action.state_before, None
        account.save(update_fields=["state", "state_until", "updated_at"])
        template = notices.template_for(AccountAction.Kind.RESTORE, action.case)
        restore = AccountAction.objects.create(
            account=account, case=action.case, kind=AccountAction.Kind.RESTORE, note=note, actor=actor,
            state_before=action.state_after, state_after=action.state_before, reverses=action,
            notice=notices.render(template, account=account, case=action.case, until=None) if template else "",
            notice_template=template,
        )  # fmt: skip
        _audit_and_send(restore, account, now, until=None)
    return restore


def _audit_and_send(action: AccountAction, account: Account, now: datetime, *, until: datetime | None) -> None:
    record_event(
        action=f"account.{action.kind}",
        target=account,
        actor=action.actor,
        actor_label="" if action.actor else "detection rule",
        before={"state": action.state_before},
        after={"state": action.state_after, "action": action.pk, "case": action.case_id, "note": action.note},
    )
    emit(
        event_type="account.actioned",
        payload={
            "action_id": action.pk,
            "account_id": account.pk,
            "source": account.author.source,
            "external_id": account.author.external_id,
            "action": action.kind,
            "state": action.state_after,
            "previous_state": action.state_before,
            "until": until,
            "notice": action.notice,
            "notice_template": action.notice_template.slug if action.notice_template_id else None,
            "reverses": action.reverses_id,
            "case_id": action.case_id,
            "case_type": action.case.case_type if action.case_id else None,
            "automatic": action.automatic,
            "actor": action.actor.get_username() if action.actor else None,
            "actioned_at": now,
        },
    )
