"""Exposure budgets on the claim path: past a cap, a reviewer is not served such items; others still are."""

import pytest

from classifiers.models import PolicyCategory
from review import claims, decisions
from tests.factories import enqueue, make_item, make_queue, make_user
from wellness import exposure
from wellness.models import ExposureCap, ExposureCount


@pytest.fixture
def sensitive(db):
    category = PolicyCategory.objects.order_by("position").first()
    ExposureCap.objects.create(category=category, daily_cap=2)
    return category


def _other(category) -> str:
    return PolicyCategory.objects.exclude(pk=category.pk).values_list("slug", flat=True).first()


def _decide(claim, user):
    decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=user, action="no_violation", categories=[]
    )


def test_past_the_cap_a_reviewer_gets_other_items_and_a_colleague_still_gets_the_sensitive_ones(sensitive):
    mira, sam = make_user(), make_user()
    queue = make_queue(members=[mira, sam])
    graphic = [make_item(text=f"graphic {n}") for n in range(3)]
    for n, item in enumerate(graphic):
        enqueue(item, queue, sort_key=n, risk_category=sensitive.slug)
    mild = make_item(text="mild")
    enqueue(mild, queue, sort_key=10, risk_category=_other(sensitive))
    served = []
    for _ in range(3):
        claim = claims.claim_next_item(queue=queue, user=mira)
        served.append(claim.item_id)
        _decide(claim, mira)
    assert served == [graphic[0].pk, graphic[1].pk, mild.pk]  # the third graphic item is held back from her
    assert exposure.capped_categories(user_id=mira.pk) == [sensitive.slug]
    assert claims.claim_next_item(queue=queue, user=mira) is None
    assert claims.claim_next_item(queue=queue, user=sam).item_id == graphic[2].pk


def test_a_reload_does_not_count_the_same_item_twice(sensitive):
    mira = make_user()
    queue = make_queue(members=[mira])
    enqueue(make_item(), queue, risk_category=sensitive.slug)
    first = claims.claim_next_item(queue=queue, user=mira)
    again = claims.claim_next_item(queue=queue, user=mira)
    assert again.entry_id == first.entry_id
    assert ExposureCount.objects.get(user=mira).count == 1


def test_items_of_categories_without_a_cap_are_not_counted(sensitive):
    mira = make_user()
    queue = make_queue(members=[mira])
    enqueue(make_item(), queue, risk_category=_other(sensitive))
    assert claims.claim_next_item(queue=queue, user=mira) is not None
    assert not ExposureCount.objects.exists()
