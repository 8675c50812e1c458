"""Opening account cases: one open case per account and case type, raised to the highest severity that asked."""

from datetime import datetime

from accounts.models import AccountCase


def open_case(
    *, account_id: int, case_type: str, severity: int, rule_id: int | None, queue_id: int | None, now: datetime
) -> AccountCase:
    """The account's open case of ``case_type``, opened now if there is none.

    Called with the account's signals row locked (``accounts.signal_updates``), so two workers never open
    the same case twice; the partial unique constraint ``one_open_case_per_type`` backs that up.
    """
    case = AccountCase.objects.filter(
        account_id=account_id, case_type=case_type, status=AccountCase.Status.OPEN
    ).first()
    if case is None:
        return AccountCase.objects.create(
            account_id=account_id,
            case_type=case_type,
            severity=severity,
            rule_id=rule_id,
            queue_id=queue_id,
            opened_at=now,
        )
    if severity > case.severity:
        case.severity = severity
        case.save(update_fields=["severity"])
    return case
