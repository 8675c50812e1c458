from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from queues.models import QueueEntry
from tests.factories import enqueue, make_item, make_queue, make_user


def test_the_work_view_names_the_queue_items_left_and_the_deadline_in_words(client, db):
    mira = make_user()
    queue = make_queue(members=[mira], name="Scams & fraud")
    for n in range(3):
        enqueue(make_item(text=f"item {n}"), queue, sort_key=n)
    QueueEntry.objects.update(deadline_at=timezone.now() + timedelta(hours=3, minutes=5))
    client.force_login(mira)
    response = client.get(reverse("work", args=[queue.slug]), follow=True)
    body = response.content.decode()
    assert 'id="queue-name">Scams &amp; fraud<' in body
    assert "2 more items waiting" in body
    assert "deadline in 3 h" in body


def test_the_home_page_reads_queue_deadlines_in_words(client, db):
    mira = make_user()
    make_queue(members=[mira], deadline=timedelta(days=1))
    client.force_login(mira)
    body = client.get("/").content.decode()
    assert "1 day" in body and "1 day, 0:00:00" not in body
