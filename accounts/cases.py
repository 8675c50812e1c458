"""Opening account cases: one open case per account and case type, queued like content, raised in severity."""

from datetime import datetime

from accounts.models import AccountCase, Severity
from queues.entries import sort_key_for
from queues.models import Queue, QueueEntry


def case_risk(severity: int) -> float:
    """The risk a case is ordered by in a risk-ordered queue: its severity on the 0-1 scale items use.

    No account risk model exists yet (issue 16, item 6); when one does, its per-type risk belongs here.
    """
    return severity / Severity.CRITICAL


def open_case(
    *, account_id: int, case_type: str, severity: int, rule_id: int | None, queue_id: int | None, now: datetime
) -> AccountCase:
    """The account's open case of ``case_type``, opened now (and queued in ``queue_id``) if there is none.

    Called with the account's signals row locked (``accounts.signal_updates``) or under a strike run, so two
    workers never open the same case twice; the partial unique constraint ``one_open_case_per_type`` backs
    that up.
    """
    case = AccountCase.objects.filter(
        account_id=account_id, case_type=case_type, status=AccountCase.Status.OPEN
    ).first()
    if case is None:
        entry = _queue_entry(queue_id, severity, case_type, now) if queue_id else None
        return AccountCase.objects.create(
            account_id=account_id,
            case_type=case_type,
            severity=severity,
            rule_id=rule_id,
            queue_id=queue_id,
            entry=entry,
            opened_at=now,
        )
    if severity > case.severity:
        case.severity = severity
        case.save(update_fields=["severity"])
    return case


def _queue_entry(queue_id: int, severity: int, case_type: str, now: datetime) -> QueueEntry:
    """A pending entry with no item: the same claims, leases, deadlines and depth counts as content entries."""
    queue = Queue.objects.get(pk=queue_id)
    risk = case_risk(severity)
    return QueueEntry.objects.create(
        queue=queue,
        sort_key=sort_key_for(queue, risk=risk, scores={}, enqueued_at=now),
        risk=risk,
        risk_category=case_type,
        selection=QueueEntry.Selection.ROUTED,
        enqueued_at=now,
        deadline_at=now + queue.deadline,
    )
