"""Reviewer-facing HTML views. Each parses input, calls one service, and renders a page or an htmx fragment.

Every view loads what it shows through a helper that checks who may see it, so authorisation is
written once: ``_queue_for_member`` (403 for non-members) and ``_held_entry_or_none``."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url, reswap, retarget

from intake import display_images
from intake.models import Item
from queues import membership
from queues.models import Queue, QueueEntry
from review import claims, gold_answers, second_review, selectors
from review import decisions as deciding
from review.exceptions import InvalidDecision, LeaseLost
from review.models import ReviewerPreference
from review.work_context import work_context


def _queue_for_member(request: HttpRequest, slug: str) -> Queue:
    queue = get_object_or_404(Queue, slug=slug)
    if not membership.queues_for(request.user).filter(pk=queue.pk).exists():
        raise PermissionDenied("You are not a member of this queue.")
    return queue


def _held_entry_or_none(request: HttpRequest, queue: Queue, entry_id: int) -> QueueEntry | None:
    """The content entry if this reviewer holds it now under a live lease; None otherwise (an account case's entry
    is shown and decided by the case view)."""
    return (
        QueueEntry.objects.select_related("item__author", "queue")
        .filter(
            item__isnull=False,
            pk=entry_id,
            queue=queue,
            status=QueueEntry.Status.CLAIMED,
            claimed_by=request.user,
            lease_until__gt=timezone.now(),
        )
        .first()
    )


def _blur_images(request: HttpRequest) -> bool:
    preference = ReviewerPreference.objects.filter(user=request.user).first()
    return True if preference is None else preference.blur_images


def _workspace_context(request: HttpRequest, queue: Queue, entry: QueueEntry) -> dict:
    item = entry.item
    gold_answers.disguise_gold(entry)  # a gold item looks like any other (review.gold_answers)
    first = second_review.first_decision(entry)  # a second review is blind to the first decision
    return {
        "queue": queue,
        "entry": entry,
        "item": item,
        "reports": list(item.reports.all()[:50]),
        "scores": (scores := selectors.category_scores(item)),
        "score_versions": selectors.score_versions(scores),
        "history": selectors.author_history(item, hide_copies_of=first.pk if first else None),
        "group_pending": selectors.duplicate_group_pending(item),
        "escalation_targets": membership.queues_for(request.user).exclude(pk=queue.pk),
        "blur": _blur_images(request),
        "lease_seconds": max(0, int((entry.lease_until - timezone.now()).total_seconds())),
        "context": work_context(entry, now=timezone.now()),
        "text_fold": 1500,
    }


def _render_work(request: HttpRequest, queue: Queue, entry: QueueEntry | None, **extra) -> HttpResponse:
    """The work view for ``entry`` (or the empty queue): a full page, or for htmx the workspace fragment."""
    if entry is None:
        context = {"queue": queue, **extra}
        template = "review/work.html#workspace" if request.htmx else "review/work.html"
        response = render(request, template, context)
        return push_url(response, reverse("work", args=[queue.slug])) if request.htmx else response
    context = {**_workspace_context(request, queue, entry), **extra}
    if request.htmx:
        response = render(request, "review/work.html#workspace", context)
        return push_url(response, reverse("entry", args=[queue.slug, entry.pk]))
    return render(request, "review/work.html", context)


def _next(request: HttpRequest, queue: Queue, **extra) -> HttpResponse:
    claim = claims.claim_next_item(queue=queue, user=request.user)
    if claim is not None and claim.item_id is None:
        # Not content: another app's subject in this queue (an account case). The home page links such queues
        # to their own view, which hands this same claim back.
        return _render_work(request, queue, None, error="This queue holds account cases; open it from your queues.")
    entry = QueueEntry.objects.select_related("item__author", "queue").get(pk=claim.entry_id) if claim else None
    if entry is None or request.htmx:
        return _render_work(request, queue, entry, **extra)
    return redirect("entry", queue.slug, entry.pk)


def _lease_lost(request: HttpRequest, queue: Queue, message: str) -> HttpResponse:
    context = {"queue": queue, "lease_message": message}
    if request.htmx:
        # Whatever part of the page asked (the heartbeat, a decision), the whole workspace says so.
        response = render(request, "review/work.html#lease_lost", context, status=409)
        return reswap(retarget(response, "#workspace"), "innerHTML")
    return render(request, "review/work.html", context, status=409)


@require_GET
@login_required
def work(request: HttpRequest, slug: str) -> HttpResponse:
    """Claim the next item of the queue and show it at its own URL."""
    return _next(request, _queue_for_member(request, slug))


@require_GET
@login_required
def entry(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """The item the reviewer holds; if the lease is gone, say so instead of showing a stale item."""
    queue = _queue_for_member(request, slug)
    held = _held_entry_or_none(request, queue, entry_id)
    if held is None:
        return _lease_lost(request, queue, "You no longer hold this item: your lease expired or it was decided.")
    return _render_work(request, queue, held)


@require_POST
@login_required
def decide(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    queue = _queue_for_member(request, slug)
    try:
        token = int(request.POST.get("token", ""))
        decisions = deciding.record_decision(
            entry_id=entry_id,
            token=token,
            user=request.user,
            action=request.POST.get("action", ""),
            categories=request.POST.getlist("categories"),
            note=request.POST.get("note", "")[:2000],
            apply_to_group=request.POST.get("apply_to_group") == "1",
        )
    except ValueError as exc:  # InvalidDecision, or a token that is not a number
        held = _held_entry_or_none(request, queue, entry_id)
        if held is None:
            return _lease_lost(request, queue, "You no longer hold this item.")
        response = _render_work(request, queue, held, error=str(exc))
        response.status_code = 400  # keeps the htmx headers the fragment set
        return response
    except LeaseLost as exc:
        return _lease_lost(request, queue, str(exc))
    undo = {"decision": decisions[0], "count": len(decisions), "undo_seconds": settings.REVIEW_UNDO_SECONDS}
    return _next(request, queue, undo=undo)


@require_POST
@login_required
def skip(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    queue = _queue_for_member(request, slug)
    try:
        claims.release_item(entry_id=entry_id, token=int(request.POST.get("token", "0")), user=request.user)
    except (LeaseLost, ValueError) as exc:
        return _lease_lost(request, queue, str(exc))
    return _next(request, queue)


@require_POST
@login_required
def escalate(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    queue = _queue_for_member(request, slug)
    target = membership.queues_for(request.user).filter(pk=request.POST.get("to_queue") or 0).first()
    try:
        if target is None:
            raise InvalidDecision("Choose a queue you belong to to escalate to.")
        claims.escalate_item(
            entry_id=entry_id,
            token=int(request.POST.get("token", "0")),
            user=request.user,
            to_queue=target,
            note=request.POST.get("note", "")[:2000],
        )
    except InvalidDecision as exc:
        held = _held_entry_or_none(request, queue, entry_id)
        if held is None:
            return _lease_lost(request, queue, "You no longer hold this item.")
        response = _render_work(request, queue, held, error=str(exc))
        response.status_code = 400  # keeps the htmx headers the fragment set
        return response
    except (LeaseLost, ValueError) as exc:
        return _lease_lost(request, queue, str(exc))
    return _next(request, queue)


@require_POST
@login_required
def heartbeat(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Renew the lease while the page is open; answers with the new countdown, or 409 when it is lost."""
    queue = _queue_for_member(request, slug)
    try:
        held = claims.renew_lease(entry_id=entry_id, token=int(request.POST.get("token", "0")), user=request.user)
    except (LeaseLost, ValueError) as exc:
        return _lease_lost(request, queue, str(exc))
    seconds = int((held.lease_until - timezone.now()).total_seconds())
    return render(request, "review/work.html#countdown", {"queue": queue, "entry": held, "lease_seconds": seconds})


@require_POST
@login_required
def undo(request: HttpRequest, slug: str, decision_id: int) -> HttpResponse:
    """Take back the last decision within the undo window and return to that item."""
    queue = _queue_for_member(request, slug)
    current = request.POST.get("current_entry")
    if current and current.isdigit():
        # The reviewer was given the next item already; hand it back without a cooldown.
        QueueEntry.objects.filter(pk=int(current), claimed_by=request.user, status=QueueEntry.Status.CLAIMED).update(
            status=QueueEntry.Status.PENDING, claimed_by=None, lease_until=None
        )
    try:
        claim = deciding.undo_decision(decision_id=decision_id, user=request.user)
    except LeaseLost as exc:
        if not request.htmx:
            messages.error(request, str(exc))
        return _next(request, queue, error=str(exc))
    held = QueueEntry.objects.select_related("item__author", "queue").get(pk=claim.entry_id)
    if request.htmx:
        return _render_work(request, queue, held, notice="Decision undone.")
    return redirect("entry", queue.slug, held.pk)


@require_POST
@login_required
def toggle_blur(request: HttpRequest) -> HttpResponse:
    """Flip the reviewer's default: images blurred until revealed, or shown."""
    preference, _ = ReviewerPreference.objects.get_or_create(user=request.user)
    preference.blur_images = not preference.blur_images
    preference.save(update_fields=["blur_images"])
    # Back where the form was, but only on this site: "//other.example/" also starts with a slash.
    target = request.POST.get("next", "")
    here = {request.get_host()}
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts=here, require_https=request.is_secure())
    return redirect(target if safe else "home")


@require_GET
@login_required
def item_image(request: HttpRequest, item_id: int) -> HttpResponse:
    """The item's display derivative (resized, re-encoded by a worker), never the original bytes.

    This process decodes no image: until a worker has made the derivative, the answer is a small placeholder
    (202, not cached) and the worker is asked for it.
    """
    if not selectors.can_view_item(request.user, item_id):
        raise Http404("No such image.")
    item = get_object_or_404(Item, pk=item_id)
    if not item.image:
        raise Http404("This item has no image.")
    derivative = display_images.stored_display_image(item.image.name)
    if derivative is None:
        display_images.request_display_image(item.image.name)
        response = render(request, "review/image_pending.svg", content_type="image/svg+xml", status=202)
        response["Cache-Control"] = "no-store"
        response["Retry-After"] = "2"
        return response
    response = FileResponse(default_storage.open(derivative, "rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Disposition"] = "inline"
    return response
