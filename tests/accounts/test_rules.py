from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.default_rules import DEFAULT_RULES
from accounts.detection import AccountFacts, Rule, condition_holds, firings, validate_conditions
from accounts.models import AccountCase, DetectionRule, SignalReading, SignalSnapshot
from accounts.rule_preview import preview_rule
from accounts.signal_updates import update_account_signals
from accounts.simulated_load import load_simulation
from accounts.simulator import Sizes, simulate
from intake.models import Author
from tests.accounts.factories import event, store
from tests.factories import make_queue

FAILED_LOGINS = [{"field": "signal.failed_logins_1h", "op": ">=", "value": 5}]


def facts(**values) -> AccountFacts:
    return AccountFacts(account_id=1, source="tests", values=values, event_types=frozenset({"login_failed"}))


def test_a_signal_without_a_value_never_matches():
    assert not condition_holds(
        facts(account_age_days=None), {"field": "signal.account_age_days", "op": "<", "value": 3}
    )
    assert condition_holds(facts(account_age_days=1.5), {"field": "signal.account_age_days", "op": "<", "value": 3})


def test_every_matching_rule_fires_with_the_values_it_named():
    rules = [
        Rule(1, FAILED_LOGINS, "takeover", 3),
        Rule(2, [{"field": "event.type", "op": "in", "value": ["signup", "login_failed"]}], "fraud", 1),
        Rule(3, [{"field": "signal.chargebacks_7d", "op": ">", "value": 0}], "fraud", 2),
    ]

    fired = firings(facts(failed_logins_1h=9, chargebacks_7d=0), rules)

    assert [(f.rule.id, f.values) for f in fired] == [
        (1, {"signal.failed_logins_1h": 9}),
        (2, {"event.type": ["login_failed"]}),
    ]


@pytest.mark.parametrize(
    ("conditions", "words"),
    [
        ([{"field": "signal.nonsense", "op": ">", "value": 1}], "unknown signal 'nonsense'"),
        ([{"field": "signal.failed_logins_1h", "op": "contains", "value": 1}], "takes one of"),
        ([{"field": "event.type", "op": "in", "value": "signup"}], "'event.type' takes"),
        ([{"field": "colour", "op": "==", "value": "red"}], "unknown field 'colour'"),
        ([], "non-empty list"),
    ],
)
def test_invalid_conditions_are_explained(conditions, words):
    assert words in " ".join(validate_conditions(conditions))


@pytest.mark.django_db
def test_the_preview_counts_accounts_the_rule_would_have_fired_on_in_the_last_seven_days():
    for n in range(3):
        update_account_signals(
            account_ids=store(*[event("login_failed", account=f"bad-{n}") for _ in range(6)]).account_ids
        )
    update_account_signals(account_ids=store(event("login_failed", account="fine")).account_ids)
    old = store(*[event("login_failed", account="long-ago") for _ in range(6)])
    update_account_signals(account_ids=old.account_ids)
    eight_days_ago = timezone.now() - timedelta(days=8)
    SignalSnapshot.objects.filter(account_id__in=old.account_ids).update(taken_at=eight_days_ago)
    SignalReading.objects.filter(account_id__in=old.account_ids).update(taken_at=eight_days_ago)

    preview = preview_rule(conditions=FAILED_LOGINS, case_type="takeover")

    assert preview.accounts == 3
    assert len(preview.sample_account_ids) == 3


@pytest.mark.django_db
def test_the_preview_over_the_narrow_readings_finds_what_the_rules_find_on_the_full_snapshots():
    """The preview scans ``SignalReading`` columns; its accounts must be exactly those on which the rule's own
    code holds over the full JSON snapshots of the window, for every operator and for signals without a value."""
    load_simulation(simulate(seed=7, end=timezone.now(), hours=2, sizes=Sizes.tiny()), slice_minutes=10)
    assert SignalReading.objects.count() == SignalSnapshot.objects.count() > 50
    sources = dict(Author.objects.values_list("pk", "source"))
    rule_sets = [rule["conditions"] for rule in DEFAULT_RULES] + [
        [{"field": "signal.account_age_days", "op": "<", "value": 1}],
        [{"field": "signal.distinct_countries_24h", "op": ">=", "value": 1}],  # most accounts sit at exactly 1
        [{"field": "signal.minutes_new_device_to_sensitive_change", "op": "<=", "value": 30}],
        [{"field": "signal.distinct_ips_24h", "op": "==", "value": 1}, {"field": "event.country", "op": "not_in",
                                                                         "value": ["US"]}],
        [{"field": "signal.failed_logins_24h", "op": ">", "value": 0}, {"field": "signal.signups_on_device",
                                                                          "op": "<", "value": 3}],
    ]  # fmt: skip
    fired_somewhere = 0
    for conditions in rule_sets:
        rule = Rule(0, conditions, "fraud", 1)
        expected = {
            snapshot.account_id
            for snapshot in SignalSnapshot.objects.all()
            if firings(
                AccountFacts(
                    account_id=snapshot.account_id,
                    source=sources[snapshot.account_id],
                    values=snapshot.values,
                    event_types=frozenset(snapshot.event_types),
                    countries=frozenset(snapshot.countries),
                ),
                [rule],
            )
        }
        preview = preview_rule(conditions=conditions, case_type="fraud")
        assert preview.accounts == len(expected), conditions
        assert set(preview.sample_account_ids) <= expected
        assert preview.snapshots_checked <= SignalReading.objects.count()
        fired_somewhere += bool(expected)
    assert fired_somewhere >= 4  # the comparison is not between empty sets


@pytest.mark.django_db
def test_the_preview_applies_event_conditions_too():
    update_account_signals(account_ids=store(*[event("login_failed", account="a") for _ in range(6)]).account_ids)
    update_account_signals(
        account_ids=store(
            *[event("login_failed", account="b") for _ in range(5)], event("signup", account="b")
        ).account_ids
    )

    preview = preview_rule(
        conditions=[*FAILED_LOGINS, {"field": "event.type", "op": "==", "value": "signup"}], case_type="fake_account"
    )

    assert preview.accounts == 1


@pytest.mark.django_db
def test_the_admin_previews_a_rule_without_saving_it(admin_client):
    update_account_signals(account_ids=store(*[event("login_failed", account="x") for _ in range(7)]).account_ids)
    queue = make_queue()

    response = admin_client.post(
        "/admin/accounts/detectionrule/add/",
        {
            "name": "Stuffing",
            "position": 1,
            "mode": "shadow",
            "conditions": '[{"field": "signal.failed_logins_1h", "op": ">=", "value": 5}]',
            "case_type": "takeover",
            "severity": 3,
            "queue": queue.pk,
            "_preview": "Preview",
        },
    )

    assert response.status_code == 200
    assert "would have fired on 1 account in the last 7 days" in response.content.decode()
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_the_admin_refuses_a_rule_with_an_unknown_signal(admin_client):
    response = admin_client.post(
        "/admin/accounts/detectionrule/add/",
        {
            "name": "Typo",
            "position": 1,
            "mode": "shadow",
            "conditions": '[{"field": "signal.faild_logins_1h", "op": ">=", "value": 5}]',
            "case_type": "takeover",
            "severity": 3,
        },
    )

    assert response.status_code == 200
    assert "unknown signal &#x27;faild_logins_1h&#x27;" in response.content.decode()
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_the_demo_day_opens_account_cases_and_loads_once():
    call_command("load_demo_accounts", ordinary=40, hours=6)
    opened = AccountCase.objects.filter(status="open").count()
    call_command("load_demo_accounts", ordinary=40, hours=6)

    assert opened > 0
    assert AccountCase.objects.filter(status="open").count() == opened
    assert DetectionRule.objects.filter(mode="active").count() == 8
