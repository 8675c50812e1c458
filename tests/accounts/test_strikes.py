from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountCase, Strike
from accounts.strikes import count_strikes
from intake.models import Author
from queues.models import Decision, Queue
from review import claims, decisions
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.ACCOUNT_STRIKE_THRESHOLD_DEFAULT = 3
    settings.ACCOUNT_STRIKE_THRESHOLDS = {"hate": 2}
    settings.REVIEW_UNDO_SECONDS = 60


def remove(author: Author, *, action: str = "remove", categories=("spam",)) -> Decision:
    """A reviewer's decision on a new item by ``author``, through the review service, past the undo window."""
    mira = make_user()
    queue = make_queue(members=[mira])
    enqueue(make_item(author=author), queue)
    claim = claims.claim_next_item(queue=queue, user=mira)
    [decision] = decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=mira, action=action, categories=list(categories)
    )
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    return decision


@pytest.fixture
def author() -> Author:
    return Author.objects.create(source="tests", external_id="poster", handle="@poster")


def test_each_removal_is_a_strike_on_its_author_and_a_rerun_adds_none(author):
    remove(author)
    remove(author, action="no_violation", categories=())

    assert count_strikes() == 1
    assert count_strikes() == 0
    assert Account.objects.get(pk=author.pk).strikes == 1


def test_reaching_a_categorys_threshold_opens_a_policy_case(author):
    Queue.objects.create(slug="account-cases", name="Account cases")
    remove(author, categories=("hate",))
    count_strikes()
    assert not AccountCase.objects.exists()

    remove(author, categories=("hate",))
    count_strikes()

    case = AccountCase.objects.get()
    assert (case.case_type, case.account_id, case.queue.slug) == ("policy", author.pk, "account-cases")


def test_a_removal_still_inside_the_undo_window_waits(author):
    decision = remove(author)
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now())

    assert count_strikes() == 0
    assert not Strike.objects.exists()
