from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from console.selectors import viewer_for
from console.team import team_report
from queues.models import Decision, QueueEntry
from review.models import QAReview
from tests.console.conftest import grant
from tests.factories import make_user


def _decide(entry, reviewer, seconds):
    now = timezone.now()
    QueueEntry.objects.filter(pk=entry.pk).update(status="done", closed_at=now)
    return Decision.objects.create(
        item=entry.item,
        entry=entry,
        reviewer=reviewer,
        action="no_violation",
        claimed_at=now - timedelta(seconds=seconds),
    )


def test_the_report_counts_decisions_median_time_and_overturns_per_reviewer_and_queue(team, lead):
    mira, sam = make_user(username="mira"), make_user(username="sam")
    entries = list(QueueEntry.objects.filter(queue=team["queue"]).order_by("pk"))
    first = _decide(entries[0], mira, 30)
    _decide(entries[1], mira, 90)
    _decide(entries[2], sam, 60)
    QAReview.objects.create(decision=first, reviewer=lead, verdict="overturn", new_action="remove")
    report = team_report(viewer_for(lead))
    rows = {row.reviewer: row for row in report.reviewers}
    assert rows["mira"].decisions == 2 and round(rows["mira"].median_seconds) == 60
    assert rows["mira"].overturn_rate == 1.0 and rows["sam"].overturn_rate is None
    [queue_row] = report.queues
    assert queue_row.queue == team["queue"] and queue_row.decisions == 3 and queue_row.pending == 0
    # Another team's queue is not in the lead's report.
    assert team["other"] not in [row.queue for row in report.queues]


def test_the_team_page_is_for_leads(client, team, lead):
    client.force_login(lead)
    assert client.get(reverse("console-team")).status_code == 403
    client.force_login(grant(lead, "view_team_page"))
    page = client.get(reverse("console-team"))
    assert page.status_code == 200 and "Median handling time" in page.content.decode()
    client.logout()
    assert client.get(reverse("console-team")).status_code == 302
    client.force_login(lead)
    assert client.post(reverse("console-team")).status_code == 405
