"""Opening account cases: one open case per account and case type, queued like content, raised in severity."""

from datetime import datetime

from accounts import risk_experiments, risk_versions
from accounts.models import AccountCase, Severity
from queues.entries import sort_key_for
from queues.models import Queue, QueueEntry


def case_risk(severity: int, model_risk: float | None = None) -> float:
    """The risk a case is ordered by in a risk-ordered queue, on the 0-1 scale items use.

    The rules' severity alone until an active risk model scores the case type; then the mean of the two,
    so a rule's judgement still counts (a new attack the model has never seen keeps its severity's place)
    while the model orders cases of one severity and lifts a low-severity case it is sure of.
    """
    rules = severity / Severity.CRITICAL
    return rules if model_risk is None else (rules + model_risk) / 2


def ordering_risk(case: AccountCase) -> float:
    """The risk a case's entry is ordered by: the candidate's in arm b of a running risk A/B experiment, else the
    active version's (``accounts.risk_experiments``)."""
    experiment = case.risk_experiment if case.risk_arm == "b" else None
    candidate = experiment is not None and experiment.running and case.shadow_version_id == experiment.candidate_id
    model_risk = case.shadow_risk if candidate else case.model_risk
    return case_risk(case.severity, model_risk)


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
    scored = risk_versions.case_risk_of(account_id, case_type)
    if case is None:
        entry = _queue_entry(queue_id, case_risk(severity, scored.model_risk), case_type, now) if queue_id else None
        case = AccountCase.objects.create(
            account_id=account_id,
            case_type=case_type,
            severity=severity,
            rule_id=rule_id,
            queue_id=queue_id,
            entry=entry,
            opened_at=now,
            model_risk=scored.model_risk,
            model_version=scored.model_version,
            shadow_risk=scored.shadow_risk,
            shadow_version=scored.shadow_version,
        )
        # The arm hashes the case id, so it is drawn once the case exists; arm b then takes the candidate's place.
        arm_fields = risk_experiments.assign_arm(case)
        if arm_fields:
            case.save(update_fields=arm_fields)
            _reorder(case)
        return case
    changed = risk_versions.record_on_case(case, scored)
    if severity > case.severity:
        case.severity = severity
        changed.append("severity")
    if changed:
        case.save(update_fields=changed)
        _reorder(case)
    return case


def _reorder(case: AccountCase) -> None:
    """A refreshed case still waiting in its queue moves to the place its new severity and risk give it."""
    entry = case.entry
    if entry is None or entry.status != QueueEntry.Status.PENDING:
        return
    entry.risk = ordering_risk(case)
    entry.sort_key = sort_key_for(entry.queue, risk=entry.risk, scores={}, enqueued_at=entry.enqueued_at)
    entry.save(update_fields=["risk", "sort_key"])


def _queue_entry(queue_id: int, risk: float, case_type: str, now: datetime) -> QueueEntry:
    """A pending entry with no item: the same claims, leases, deadlines and depth counts as content entries."""
    queue = Queue.objects.get(pk=queue_id)
    return QueueEntry.objects.create(
        queue=queue,
        sort_key=sort_key_for(queue, risk=risk, scores={}, enqueued_at=now),
        risk=risk,
        risk_category=case_type,
        selection=QueueEntry.Selection.ROUTED,
        enqueued_at=now,
        deadline_at=now + queue.deadline,
    )


def rescore_open_cases() -> int:
    """Score every open case with the current active and shadow versions and move waiting ones to their new place.

    Run after a version is registered or promoted, so the queues do not keep the old model's order until each
    case happens to be refreshed by a rule; returns how many cases changed.
    """
    changed = 0
    for case in AccountCase.objects.filter(status=AccountCase.Status.OPEN).select_related("entry__queue").iterator():
        fields = risk_versions.record_on_case(case, risk_versions.case_risk_of(case.account_id, case.case_type))
        if fields:
            case.save(update_fields=fields)
            _reorder(case)
            changed += 1
    return changed
