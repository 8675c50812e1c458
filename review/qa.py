"""QA review: senior moderators check a sample of other reviewers' decisions, and agree or overturn.

Who: users with the ``queues.review_decisions`` permission (the "Senior moderators" group; superusers).

What is sampled: human decisions that closed an item (no violation, remove, needs context) by
someone else, older than the undo window (so they are final) and younger than ``SAMPLE_DAYS``,
not yet QA-reviewed. Escalations (a move, not a verdict), automatic decisions (they have their own
sampled QA queue) and near-duplicate copies (the overturn of the decision they copy covers them)
are left out. A senior samples the queues they are a member of; staff sample every queue, as
they may see every item. The pick is uniformly random over the id range of the candidates, then
the first candidate at or after that id: one indexed probe instead of sorting the window at
random. Candidates that follow a long run of ineligible decisions are picked a little more often.

The review is blind first: the views show the item and ask for the senior's own call before the
original decision is revealed, then the senior agrees or overturns (the overturn form starts from
their call). Only the verdict is stored.

The rule for labels: the latest QA verdict by a senior wins over the original reviewer. An
overturn marks the decision's current labels (and those of its near-duplicate copies) as
superseded by the review and writes new labels from the senior's action and categories, with the
senior as reviewer and the queue and selection of the original entry. Training reads
``Label.objects.current()``. An overturn to "needs context" supersedes the labels and writes none:
the item's verdict is no longer trusted. Each decision gets at most one QA review (a unique
constraint), so two seniors never review the same decision.
"""

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from audit.services import record_event
from classifiers.models import PolicyCategory
from queues import events
from queues.membership import queues_for
from queues.models import Decision, QueueEntry
from review.decisions import check_decision
from review.exceptions import InvalidDecision
from review.models import Label, QAReview

PERMISSION = "queues.review_decisions"
SAMPLE_DAYS = 30
QA_ACTIONS = (Decision.Action.NO_VIOLATION, Decision.Action.REMOVE, Decision.Action.NEEDS_CONTEXT)


class NotSenior(PermissionError):
    """Only senior moderators review decisions (HTTP 403)."""


class NotReviewable(PermissionError):
    """This decision is not one this senior may QA: their own, automatic, an escalation... (HTTP 403)."""


class AlreadyReviewed(RuntimeError):
    """Another senior (or this one) already reviewed the decision (HTTP 409)."""


class InvalidVerdict(ValueError):
    """The verdict or the call is malformed: unknown action or category, a removal without one (HTTP 400)."""


@dataclass(frozen=True)
class Call:
    """An action with its categories: a senior's blind call, or the action an overturn puts in place."""

    action: str
    categories: tuple[PolicyCategory, ...]

    @property
    def label(self) -> str:
        return Decision.Action(self.action).label

    @property
    def slugs(self) -> frozenset[str]:
        return frozenset(category.slug for category in self.categories)

    def matches(self, decision: Decision) -> bool:
        return self.action == decision.action and self.slugs == {c.slug for c in decision.categories.all()}


def is_senior(user: AbstractBaseUser) -> bool:
    return bool(user.is_authenticated and user.has_perm(PERMISSION))


def _sees_every_queue(user: AbstractBaseUser) -> bool:
    # Staff may open every item (selectors.can_view_item), so they may QA every queue.
    return bool(user.is_staff)


def reviewable_decisions(user: AbstractBaseUser) -> QuerySet[Decision]:
    """The decisions ``user`` may be handed for QA now (the same rules ``check_reviewable`` applies to one)."""
    now = timezone.now()
    candidates = Decision.objects.filter(
        item__isnull=False,  # account case decisions are checked by second reviews (agreement), not here
        automatic=False,
        action__in=QA_ACTIONS,
        applied_from__isnull=True,
        reviewer__isnull=False,
        qa_review__isnull=True,
        created_at__gte=now - timedelta(days=SAMPLE_DAYS),
        created_at__lt=now - timedelta(seconds=settings.REVIEW_UNDO_SECONDS),
    ).exclude(reviewer=user)
    # Gold answers are scored against the known answer; an overturn would write labels for them.
    candidates = candidates.exclude(entry__selection=QueueEntry.Selection.GOLD)
    if not _sees_every_queue(user):
        candidates = candidates.filter(entry__queue__in=queues_for(user))
    return candidates


def next_sample(*, user: AbstractBaseUser, exclude: Collection[int] = ()) -> Decision | None:
    """A random decision for ``user`` to QA, or None when there is nothing to review."""
    if not is_senior(user):
        raise NotSenior("QA review is for senior moderators.")
    candidates = reviewable_decisions(user).exclude(pk__in=exclude).order_by()
    bounds = candidates.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return None
    pivot = random.randint(bounds["low"], bounds["high"])  # noqa: S311 - sampling, not security
    return (
        candidates.filter(pk__gte=pivot).order_by("pk").first()
        or candidates.filter(pk__lt=pivot).order_by("-pk").first()
    )


def check_reviewable(*, decision: Decision, user: AbstractBaseUser) -> None:
    """Raise NotSenior, NotReviewable or AlreadyReviewed unless ``user`` may QA ``decision`` now."""
    if not is_senior(user):
        raise NotSenior("QA review is for senior moderators.")
    if decision.item_id is None:
        raise NotReviewable("Account case decisions are checked by a second review, not senior QA.")
    if decision.automatic or decision.reviewer_id is None:
        raise NotReviewable("Automatic decisions are checked through the QA queue, not here.")
    if decision.reviewer_id == user.pk:
        raise NotReviewable("You cannot QA your own decision.")
    if decision.action not in QA_ACTIONS:
        raise NotReviewable("Escalations are not verdicts; the queue they went to decides the item.")
    if decision.applied_from_id is not None:
        raise NotReviewable("This decision copies another one of its near-duplicate group; review that one.")
    if decision.entry_id is not None and decision.entry.selection == QueueEntry.Selection.GOLD:
        raise NotReviewable("This is an answer on a gold item: it is scored against the known answer.")
    in_my_queues = decision.entry_id is not None and queues_for(user).filter(entries=decision.entry_id).exists()
    if not _sees_every_queue(user) and not in_my_queues:
        raise NotReviewable("This decision was taken in a queue you are not a member of.")
    if timezone.now() - decision.created_at < timedelta(seconds=settings.REVIEW_UNDO_SECONDS):
        raise NotReviewable("Its reviewer can still undo this decision; try again in a few seconds.")
    existing = QAReview.objects.filter(decision=decision).select_related("reviewer").first()
    if existing is not None:
        raise AlreadyReviewed(_already_message(existing))


def _already_message(existing: QAReview) -> str:
    who = existing.reviewer.get_username() if existing.reviewer else "a senior moderator"
    when = timezone.localtime(existing.created_at).strftime("%Y-%m-%d %H:%M")
    return f"This decision was already reviewed by {who} at {when} ({existing.get_verdict_display().lower()})."


def validate_call(*, action: str, categories: Collection[str]) -> Call:
    """The same rules as a reviewer's decision: a known action and categories, a removal names one."""
    if action not in QA_ACTIONS:
        raise InvalidVerdict(f"Unknown action {action!r}; use no_violation, remove or needs_context.")
    try:
        known = check_decision(action=action, categories=categories)
    except InvalidDecision as exc:
        raise InvalidVerdict(str(exc)) from exc
    return Call(action=action, categories=tuple(known[slug] for slug in sorted(set(categories))))


def record_qa_review(
    *,
    decision_id: int,
    user: AbstractBaseUser,
    verdict: str,
    action: str = "",
    categories: Collection[str] = (),
    note: str = "",
) -> QAReview:
    """Record a senior's verdict on another reviewer's decision, in one transaction with its audit event.

    ``agree`` takes no action or categories. ``overturn`` takes the action and categories the
    decision should have had (validated like a decision, and different from it); the latest QA
    verdict by a senior wins over the original reviewer, so the decision's labels are superseded
    and replaced (see the module docstring).
    """
    if verdict == QAReview.Verdict.AGREE:
        if action or categories:
            raise InvalidVerdict("Agreeing keeps the original decision; it takes no new action or categories.")
        call = None
    elif verdict == QAReview.Verdict.OVERTURN:
        call = validate_call(action=action, categories=categories)
    else:
        raise InvalidVerdict(f"Unknown verdict {verdict!r}; use agree or overturn.")
    with transaction.atomic():
        # Lock the decision so two seniors' verdicts on it queue up; the second then finds the first.
        decision = (
            Decision.objects.select_for_update(of=("self",))
            .select_related("entry__queue", "reviewer")
            .filter(pk=decision_id)
            .first()
        )
        if decision is None:
            raise NotReviewable("No such decision.")
        check_reviewable(decision=decision, user=user)
        if call is not None and call.matches(decision):
            raise InvalidVerdict("That is the original decision: agree instead of overturning.")
        before = {
            "reviewer": decision.reviewer.get_username() if decision.reviewer else None,
            "action": decision.action,
            "categories": sorted(c.slug for c in decision.categories.all()),
        }
        try:
            with transaction.atomic():
                review = QAReview.objects.create(
                    decision=decision, reviewer=user, verdict=verdict, new_action=call.action if call else "", note=note
                )
        except IntegrityError as exc:  # a concurrent verdict won the unique constraint
            existing = QAReview.objects.select_related("reviewer").get(decision=decision)
            raise AlreadyReviewed(_already_message(existing)) from exc
        relabelled = 0
        if call is not None:
            review.categories.set(call.categories)
            targets = [decision, *decision.group_copies.select_related("entry__queue")]
            relabelled = _replace_labels(targets, review=review, call=call, user=user)
            events.decision_overturned(
                decisions=targets, action=call.action, categories=call.slugs, before=before, user=user,
                overturned_at=review.created_at,
            )  # fmt: skip
        record_event(
            action="decision.qa_reviewed",
            target=decision,
            actor=user,
            before=before,
            after={
                "qa_review": review.pk,
                "verdict": verdict,
                "action": call.action if call else decision.action,
                "categories": sorted(call.slugs) if call else before["categories"],
                "note": note,
                "items_relabelled": relabelled,
            },
        )
    return review


def _replace_labels(targets: list[Decision], *, review: QAReview, call: Call, user: AbstractBaseUser) -> int:
    """Supersede the labels of the decision and its near-duplicate copies; write the senior's. Items relabelled."""
    Label.objects.filter(decision__in=targets).current().update(superseded_by=review)
    if call.action == Decision.Action.NEEDS_CONTEXT:
        return len(targets)
    violated = {category.pk for category in call.categories}
    everything = list(PolicyCategory.objects.filter(is_active=True))
    Label.objects.bulk_create(
        [
            Label(
                item_id=target.item_id,
                category=category,
                value=category.pk in violated,
                decision=target,
                reviewer=user,
                queue=target.entry.queue if target.entry else None,
                selection=target.entry.selection if target.entry else "",
                qa_review=review,
            )
            for target in targets
            for category in everything
        ]
    )
    return len(targets)
