"""The list filters (queues.api_filters) build their form once per filter set, and still judge every request."""

import pytest
from django.http import QueryDict

from intake.filters import ItemFilter
from intake.models import Item
from queues.models import Decision
from review.filters import DecisionFilter

pytestmark = pytest.mark.django_db


def test_a_filter_set_builds_its_form_class_once_and_validates_each_request_afresh():
    bad = ItemFilter(QueryDict("state=nonsense&created_after=yesterday"), Item.objects.all())
    good = ItemFilter(QueryDict("state=queued"), Item.objects.all())
    assert bad.get_form_class() is good.get_form_class()
    assert not bad.is_valid() and set(bad.errors) == {"state", "created_after"}
    assert good.is_valid() and good.form.cleaned_data["state"] == "queued"
    assert good.form is not bad.form and good.form.data is not bad.form.data
    # Each filter set has its own form class: the decision filters are not the item filters.
    decisions = DecisionFilter(QueryDict("automatic=maybe"), Decision.objects.all())
    assert decisions.get_form_class() is not good.get_form_class()
    assert not decisions.is_valid() and set(decisions.errors) == {"automatic"}


def test_method_filters_call_back_into_their_own_filter_set():
    first = ItemFilter(QueryDict("queue=x"), Item.objects.all())
    second = ItemFilter(QueryDict("queue=y"), Item.objects.all())
    assert first.filters["queue"].filter.method.__self__ is first
    assert second.filters["queue"].filter.method.__self__ is second
    assert ItemFilter.base_filters["queue"] is not first.filters["queue"]
    assert not hasattr(ItemFilter.base_filters["queue"], "parent")
