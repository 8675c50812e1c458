"""Reviewer-facing HTML views."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from queues import selectors


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's start page: what has arrived and in which state."""
    return render(request, "queues/home.html", {"state_counts": selectors.item_state_counts()})
