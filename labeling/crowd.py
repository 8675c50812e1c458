"""Crowd labeling: task sets, blind assignment to k distinct labelers, gold mixed in, answers, Dawid–Skene.

Crowd labelers are members of the ``Crowd labelers`` group (permission ``labeling.work_crowd_tasks``). They see only
their own tasks, with personal data
masked and the author, reporters and metadata left out (``crowd_views``). Each task goes to ``labels_per_item``
distinct labelers, never twice to the same one (a unique constraint, not just a check), and nobody sees anyone
else's answer. Gold tasks (items with a known answer from ``queues.GoldItem``) are served at the set's rate,
indistinguishable from the rest. When every ordinary task has its k answers, Dawid–Skene turns them into a soft
label per item; items whose confidence (or raw share of agreeing answers) is below the set's threshold go to a
moderator's queue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from celery import current_app
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from audit.services import record_event
from classifiers.models import PolicyCategory
from intake.models import Item
from labeling.dawid_skene import dawid_skene
from labeling.models import NO_VIOLATION, CrowdAssignment, CrowdTask, CrowdTaskSet, Labeler
from queues.entries import new_entry
from queues.models import Decision, GoldItem, QueueEntry
from webhooks.services import emit

CROWD_GROUP = "Crowd labelers"
AGGREGATE_TASK = "labeling.tasks.aggregate_task_set"
ASSIGNMENT_HOLD = timedelta(minutes=30)


class CrowdError(Exception):
    """A refused crowd action; ``status`` is the HTTP status a view answers with."""

    status = 400


class NotAssigned(CrowdError):
    status = 403


class AlreadyAnswered(CrowdError):
    status = 409


class InvalidAnswer(CrowdError):
    status = 400


CROWD_PERMISSION = "labeling.work_crowd_tasks"


def is_crowd_labeler(user: AbstractBaseUser) -> bool:
    """Members of the crowd group (and superusers): they may work crowd tasks, and see nothing else of it."""
    return bool(user.is_authenticated and user.has_perm(CROWD_PERMISSION))


def crowd_group() -> Group:
    """The crowd labeler role: a group holding only the permission to answer crowd tasks."""
    group, _ = Group.objects.get_or_create(name=CROWD_GROUP)
    app_label, codename = CROWD_PERMISSION.split(".")
    group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def answer_options(task_set: CrowdTaskSet) -> list[str]:
    """What a labeler may answer: 'none' and the set's category slugs, in keyboard order (0, 1, 2, ...)."""
    return [NO_VIOLATION, *task_set.categories.order_by("position", "slug").values_list("slug", flat=True)]


def task_sets_for(user: AbstractBaseUser):  # noqa: ANN201 - a QuerySet[CrowdTaskSet]
    """The open task sets ``user`` may work: those naming them, or naming nobody."""
    if not is_crowd_labeler(user):
        return CrowdTaskSet.objects.none()
    return (
        CrowdTaskSet.objects.filter(state=CrowdTaskSet.State.OPEN)
        .annotate(named=Count("labelers"))
        .filter(Q(named=0) | Q(labelers=user))
        .distinct()
    )


def _gold_answer(gold: GoldItem, slugs: set[str]) -> str:
    if gold.expected_action == Decision.Action.NO_VIOLATION:
        return NO_VIOLATION
    expected = sorted(c.slug for c in gold.expected_categories.all() if c.slug in slugs)
    return expected[0] if expected else ""


def _gold_answers(item_ids: list[int], categories: list[PolicyCategory]) -> list[tuple[int, str]]:
    """(item id, answer) of the active gold items outside ``item_ids`` whose answer the categories can express."""
    slugs = {c.slug for c in categories}
    answers = []
    for gold in (
        GoldItem.objects.filter(active=True).exclude(item_id__in=item_ids).prefetch_related("expected_categories")
    ):
        answer = _gold_answer(gold, slugs)
        if answer:
            answers.append((gold.item_id, answer))
    return answers


def gold_tasks_available(*, item_ids: list[int], categories: list[PolicyCategory]) -> int:
    """How many gold tasks a set over ``item_ids`` with these answer categories would mix in."""
    return len(_gold_answers(item_ids, categories))


@dataclass(frozen=True)
class TaskSetProgress:
    items: int
    gold: int
    answers: int
    answers_needed: int
    complete_items: int
    aggregated: int
    sent_to_review: int

    @property
    def percent(self) -> float:
        return 100.0 * min(self.answers, self.answers_needed) / self.answers_needed if self.answers_needed else 100.0


def task_set_progress(task_set: CrowdTaskSet) -> TaskSetProgress:
    k = task_set.labels_per_item
    counts = task_set.tasks.aggregate(
        items=Count("id", filter=Q(gold_answer="")),
        gold=Count("id", filter=~Q(gold_answer="")),
        complete=Count("id", filter=Q(gold_answer="", answers_count__gte=k)),
        aggregated=Count("id", filter=~Q(label="")),
        sent=Count("id", filter=Q(sent_to_review=True)),
    )
    answers = CrowdAssignment.objects.filter(
        task__task_set=task_set, task__gold_answer="", answered_at__isnull=False
    ).count()
    return TaskSetProgress(
        items=counts["items"],
        gold=counts["gold"],
        answers=answers,
        answers_needed=counts["items"] * k,
        complete_items=counts["complete"],
        aggregated=counts["aggregated"],
        sent_to_review=counts["sent"],
    )


def create_task_set(
    *,
    name: str,
    categories: list[PolicyCategory],
    item_ids: list[int],
    labels_per_item: int = 3,
    gold_rate: float = 0.1,
    agreement_threshold: float = 0.8,
    review_queue=None,
    user: AbstractBaseUser | None = None,
) -> CrowdTaskSet:
    """A task set over ``item_ids`` plus gold tasks from the active gold items whose answer the set can express."""
    with transaction.atomic():
        task_set = CrowdTaskSet(
            name=name,
            labels_per_item=labels_per_item,
            gold_rate=gold_rate,
            agreement_threshold=agreement_threshold,
            review_queue=review_queue,
            created_by=user,
        )
        task_set.full_clean()
        task_set.save()
        task_set.categories.set(categories)
        ids = list(Item.objects.filter(pk__in=item_ids).values_list("pk", flat=True))
        gold_tasks = [
            CrowdTask(task_set=task_set, item_id=item_id, gold_answer=answer)
            for item_id, answer in _gold_answers(ids, categories)
        ]
        CrowdTask.objects.bulk_create([CrowdTask(task_set=task_set, item_id=pk) for pk in ids] + gold_tasks)
        record_event(
            action="crowd_task_set.created",
            target=task_set,
            actor=user,
            after={"items": len(ids), "gold": len(gold_tasks)},
        )
    return task_set


class NotAddable(CrowdError):
    """One item cannot join a task set (the set is closed, the item has no text or is in the set already)."""


BUILD_PERMISSION = "labeling.build_crowd_task_sets"


def may_build_task_sets(user: AbstractBaseUser) -> bool:
    """Staff, or a user with the permission: the one rule for the labeling page and the console's bulk action."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm(BUILD_PERMISSION)))


def add_item_to_task_set(*, task_set_id: int, item_id: int, user: AbstractBaseUser | None = None) -> CrowdTask:
    """Add one item to an open task set as an ordinary task (k answers wanted), with an audit event.

    Refused with NotAddable when the set is closed, the item is gone or has no text (a crowd task shows only an
    item's text), or the item is in the set already; the caller decides whether to go on with other items.
    """
    with transaction.atomic():
        task_set = CrowdTaskSet.objects.select_for_update().filter(pk=task_set_id).first()
        if task_set is None or task_set.state != CrowdTaskSet.State.OPEN:
            raise NotAddable("The task set is closed or gone.")
        item = Item.objects.filter(pk=item_id).only("pk", "text").first()
        if item is None:
            raise NotAddable("The item is gone.")
        if not item.text.strip():
            raise NotAddable("It has no text: a crowd task shows only an item's text.")
        if CrowdTask.objects.filter(task_set=task_set, item_id=item_id).exists():
            raise NotAddable("Already in this task set.")
        task = CrowdTask.objects.create(task_set=task_set, item_id=item_id)
        # New work: a set aggregated before is not complete any more; aggregation runs again when it is.
        record_event(action="crowd_task.added", target=task_set, actor=user, after={"item": item_id})
    return task


def crowd_labeler_for(user: AbstractBaseUser) -> Labeler:
    try:
        with transaction.atomic():
            return Labeler.objects.get_or_create(
                kind=Labeler.Kind.CROWD, user=user, defaults={"name": f"crowd:{user.get_username()}"}
            )[0]
    except IntegrityError:
        return Labeler.objects.get(kind=Labeler.Kind.CROWD, user=user)


def _holding(now) -> Q:
    """Assignments that count against a task's k: answered, or handed out less than ``ASSIGNMENT_HOLD`` ago."""
    return Q(assignments__answered_at__isnull=False) | Q(assignments__assigned_at__gt=now - ASSIGNMENT_HOLD)


def next_assignment(*, task_set: CrowdTaskSet, user: AbstractBaseUser, rng: random.Random | None = None):
    """The labeler's open assignment in the set, or a new one; None when nothing is left for them.

    A task counts the labelers who answered it or hold it (for ``ASSIGNMENT_HOLD``): a labeler who walks away
    frees their slot for someone else after that, and may still answer. The task row is locked while its slot
    is taken, so two labelers never both take the last one.
    """
    open_one = CrowdAssignment.objects.filter(task__task_set=task_set, labeler=user, answered_at__isnull=True).first()
    if open_one is not None:
        return open_one
    rng = rng or random.Random()
    now = timezone.now()
    mine = CrowdAssignment.objects.filter(labeler=user).values("task_id")
    available = CrowdTask.objects.filter(task_set=task_set).exclude(pk__in=mine)
    ordinary = (
        available.filter(gold_answer="")
        .annotate(taken=Count("assignments", filter=_holding(now)))
        .filter(taken__lt=task_set.labels_per_item)
        .order_by("taken", "id")
    )
    gold = available.exclude(gold_answer="").order_by("?")
    # Gold at the set's rate; when ordinary tasks run out, nothing more is served (gold alone measures nobody's work).
    order = [gold, ordinary] if rng.random() < task_set.gold_rate else [ordinary]
    for candidates in order:
        for task_id in candidates.values_list("pk", flat=True)[:20]:
            with transaction.atomic():
                task = CrowdTask.objects.select_for_update().get(pk=task_id)
                held = CrowdTask.objects.filter(pk=task_id).aggregate(n=Count("assignments", filter=_holding(now)))
                if not task.is_gold and held["n"] >= task_set.labels_per_item:
                    continue  # taken meanwhile
                assignment, created = CrowdAssignment.objects.get_or_create(task=task, labeler=user)
                if created:
                    return assignment
    return None


def record_answer(*, task_id: int, user: AbstractBaseUser, answer: str) -> CrowdAssignment:
    """Store ``user``'s answer to a task assigned to them, once. Sends the set to aggregation when complete."""
    assignment = CrowdAssignment.objects.select_related("task__task_set").filter(task_id=task_id, labeler=user).first()
    if assignment is None:
        raise NotAssigned("this task is not assigned to you")
    task_set = assignment.task.task_set
    if task_set.state != CrowdTaskSet.State.OPEN:
        raise NotAssigned("this task set is closed")
    options = answer_options(task_set)
    if answer not in options:
        raise InvalidAnswer(f"answer must be one of {', '.join(options)}")
    now = timezone.now()
    with transaction.atomic():
        answered = CrowdAssignment.objects.filter(pk=assignment.pk, answered_at__isnull=True).update(
            answer=answer, answered_at=now, seconds=(now - assignment.assigned_at).total_seconds()
        )
        if not answered:
            raise AlreadyAnswered("this task already has your answer")
        CrowdTask.objects.filter(pk=assignment.task_id).update(answers_count=F("answers_count") + 1)
        crowd_labeler_for(user)
        if _complete(task_set):
            # Robust: the answer is saved; a broker that is down is logged, and the sweeper sends the set later.
            transaction.on_commit(
                lambda: current_app.signature(AGGREGATE_TASK, args=[task_set.pk]).delay(), robust=True
            )
    assignment.refresh_from_db()
    return assignment


def sweep_unaggregated_task_sets(*, quiet_for: timedelta = timedelta(minutes=2)) -> int:
    """Send to aggregation the open, complete task sets with answers newer than their last aggregation and none in
    the last ``quiet_for`` (their message was lost). Returns how many were sent."""
    cutoff = timezone.now() - quiet_for
    waiting = (
        CrowdTaskSet.objects.filter(state=CrowdTaskSet.State.OPEN)
        .annotate(last_answer=Max("tasks__assignments__answered_at"))
        .filter(last_answer__lt=cutoff)
        .filter(Q(aggregated_at__isnull=True) | Q(aggregated_at__lt=F("last_answer")))
    )
    sent = 0
    for task_set in waiting:
        if _complete(task_set):
            current_app.signature(AGGREGATE_TASK, args=[task_set.pk]).delay()
            sent += 1
    return sent


def _complete(task_set: CrowdTaskSet) -> bool:
    return not task_set.tasks.filter(gold_answer="", answers_count__lt=task_set.labels_per_item).exists()


@dataclass(frozen=True)
class AggregationResult:
    tasks: int
    answers: int
    sent_to_review: int
    labeler_accuracy: dict[int, float]  # user id -> Dawid-Skene's estimate


def aggregate_task_set(*, task_set_id: int) -> AggregationResult:
    """Dawid–Skene over every answer so far; writes each task's soft label; disputed items go to a moderator."""
    task_set = CrowdTaskSet.objects.select_related("review_queue").get(pk=task_set_id)
    options = answer_options(task_set)
    rows = list(
        CrowdAssignment.objects.filter(task__task_set=task_set, answered_at__isnull=False)
        .exclude(answer="")
        .values_list("task_id", "labeler_id", "answer")
    )
    tasks = list(task_set.tasks.filter(pk__in={r[0] for r in rows}).order_by("id"))
    if not rows:
        return AggregationResult(0, 0, 0, {})
    task_index = {t.pk: i for i, t in enumerate(tasks)}
    users = sorted({r[1] for r in rows})
    user_index = {u: i for i, u in enumerate(users)}
    class_index = {c: i for i, c in enumerate(options)}
    answers = np.array([(task_index[t], user_index[u], class_index[a]) for t, u, a in rows if a in class_index])
    known = {task_index[t.pk]: class_index[t.gold_answer] for t in tasks if t.gold_answer in class_index}
    fit = dawid_skene(answers, n_items=len(tasks), n_labelers=len(users), n_classes=len(options), known=known)
    accuracy = dict(zip(users, (float(a) for a in fit.labeler_accuracy()), strict=True))
    sent = 0
    with transaction.atomic():
        for task, posterior in zip(tasks, fit.posteriors, strict=True):
            task.soft_label = {c: round(float(p), 4) for c, p in zip(options, posterior, strict=True)}
            task.label = options[int(posterior.argmax())]
            task.confidence = float(posterior.max())
            given = answers[answers[:, 0] == task_index[task.pk], 2]
            task.agreement = float((given == class_index[task.label]).mean())
            # Dawid-Skene's confidence assumes independent labelers and can be sure of a 2-1-1 split; the raw
            # share of agreeing answers catches what a person would call a disagreement.
            low = min(task.confidence, task.agreement) < task_set.agreement_threshold
            disputed = not task.is_gold and low
            if disputed and not task.sent_to_review and task_set.review_queue is not None:
                _send_to_moderator(task, task_set)
                task.sent_to_review = True
                sent += 1
        CrowdTask.objects.bulk_update(tasks, ["soft_label", "label", "confidence", "agreement", "sent_to_review"])
        CrowdTaskSet.objects.filter(pk=task_set.pk).update(aggregated_at=timezone.now())
        emit(
            event_type="crowd_task_set.aggregated",
            payload={"task_set": task_set.pk, "name": task_set.name, "tasks": len(tasks), "answers": len(rows),
                     "sent_to_review": sent},
        )  # fmt: skip
        record_event(
            action="crowd_task_set.aggregated",
            target=task_set,
            actor_label="dawid-skene",
            after={"tasks": len(tasks), "answers": len(rows), "sent_to_review": sent},
        )
    return AggregationResult(len(tasks), len(rows), sent, accuracy)


def _send_to_moderator(task: CrowdTask, task_set: CrowdTaskSet) -> None:
    queue = task_set.review_queue
    if QueueEntry.objects.filter(item_id=task.item_id, queue=queue, status=QueueEntry.Status.PENDING).exists():
        return
    split = ", ".join(f"{c} {p:.0%}" for c, p in sorted(task.soft_label.items(), key=lambda kv: -kv[1]) if p >= 0.05)
    entry = new_entry(
        item=task.item,
        queue=queue,
        scores={},
        severities={},
        selection=QueueEntry.Selection.ESCALATED,
        note=f"The crowd disagreed in task set '{task_set.name}': {split}.",
    )
    entry.save()
