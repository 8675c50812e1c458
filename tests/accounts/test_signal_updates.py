from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Account, AccountCase, AccountSignals, DetectionRule, RuleFiring, SignalSnapshot
from accounts.partitions import maintain_event_partitions
from accounts.signal_updates import sweep_pending_signals, update_account_signals
from tests.accounts.factories import event, store

pytestmark = pytest.mark.django_db


def signals_of(external_id: str, source: str = "tests") -> dict:
    account = Account.objects.get(author__external_id=external_id, author__source=source)
    return AccountSignals.objects.get(account=account).values


def update(result) -> int:
    return update_account_signals(account_ids=result.account_ids)


def test_failed_logins_are_counted_per_window():
    now = timezone.now()
    update(
        store(
            *[event("login_failed", account="u-1", at=now - timedelta(minutes=10)) for _ in range(3)],
            *[event("login_failed", account="u-1", at=now - timedelta(hours=5)) for _ in range(2)],
            event("login_failed", account="u-1", at=now - timedelta(days=3)),
        )
    )

    values = signals_of("u-1")
    assert (values["failed_logins_1h"], values["failed_logins_24h"], values["failed_logins_7d"]) == (3, 5, 6)


def test_new_events_are_folded_in_without_recounting_the_old_ones():
    result = store(*[event("login_failed", account="u-1") for _ in range(4)])
    update(result)
    update(store(event("login_failed", account="u-1")))

    assert signals_of("u-1")["failed_logins_1h"] == 5
    assert AccountSignals.objects.get().pending_since is None


def test_a_redelivered_update_changes_nothing():
    result = store(event("login_failed", account="u-1"))
    assert update(result) == 1

    assert update(result) == 0
    assert signals_of("u-1")["failed_logins_1h"] == 1
    assert SignalSnapshot.objects.count() == 1


def test_distinct_ips_devices_and_countries_are_counted():
    now = timezone.now()
    update(
        store(
            event("login_succeeded", ip="198.51.100.1", device_id="d1", country="NL", at=now - timedelta(minutes=5)),
            event("login_succeeded", ip="198.51.100.2", device_id="d1", country="NL", at=now - timedelta(minutes=4)),
            event("login_succeeded", ip="2001:db8::1", device_id="d2", country="DE", at=now - timedelta(hours=30)),
        )
    )

    values = signals_of("u-1")
    assert (values["distinct_ips_1h"], values["distinct_ips_7d"]) == (2, 3)
    assert (values["distinct_devices_1h"], values["distinct_devices_7d"]) == (1, 2)
    assert (values["distinct_countries_24h"], values["distinct_countries_7d"]) == (1, 2)


def test_a_sensitive_change_soon_after_a_new_device_login_is_a_takeover_signal():
    now = timezone.now()
    update(store(event("login_succeeded", device_id="home", at=now - timedelta(hours=3))))
    update(
        store(
            event("login_succeeded", device_id="attacker", at=now - timedelta(minutes=20)),
            event("email_changed", at=now - timedelta(minutes=8)),
            event("payout_changed", at=now - timedelta(minutes=7)),
        )
    )

    values = signals_of("u-1")
    assert values["new_device_sensitive_changes_7d"] == 2
    assert values["minutes_new_device_to_sensitive_change"] == 13.0


def test_a_change_long_after_a_new_device_login_is_not_a_takeover_signal():
    now = timezone.now()
    update(
        store(
            event("signup", device_id="home", at=now - timedelta(days=2)),
            event("login_succeeded", device_id="laptop", at=now - timedelta(hours=3)),
            event("email_changed", at=now - timedelta(hours=1)),
        )
    )

    assert signals_of("u-1")["new_device_sensitive_changes_7d"] == 0


def test_accounts_sharing_a_device_and_signing_up_from_one_network_are_linked():
    now = timezone.now()
    ring = [
        event("signup", account=f"ring-{n}", device_id="farm-phone", ip=f"203.0.113.{n}", at=now - timedelta(minutes=n))
        for n in range(1, 6)
    ]
    loner = event("signup", account="loner", device_id="own-phone", ip="198.51.100.9")
    update(store(*ring, loner))

    values = signals_of("ring-3")
    assert values["accounts_sharing_device"] == 4
    assert values["signups_on_device"] == 5
    assert values["signups_in_network_24h"] == 5
    assert signals_of("loner")["accounts_sharing_device"] == 0
    assert signals_of("loner")["signups_on_device"] == 1


def test_card_testing_shows_as_many_instruments_and_failures():
    update(
        store(
            *[
                event("payment_failed", payment_fingerprint=f"fp-{n:06d}", amount="1.00", currency="USD")
                for n in range(12)
            ]
        )
    )

    values = signals_of("u-1")
    assert values["distinct_payment_fingerprints_24h"] == 12
    assert values["payments_failed_1h"] == 12


def test_scraper_traffic_gives_rate_and_breadth():
    update(
        store(
            event("traffic_summary", request_count=6000, window_seconds=300, distinct_creators=900),
            event("traffic_summary", request_count=600, window_seconds=300, distinct_creators=100),
        )
    )

    values = signals_of("u-1")
    assert values["requests_per_minute_peak_24h"] == 1200
    assert values["creators_viewed_24h"] == 1000


def test_an_active_rule_opens_one_case_and_records_the_values_that_fired_it():
    DetectionRule.objects.create(
        name="Credential stuffing",
        mode=DetectionRule.Mode.ACTIVE,
        case_type="takeover",
        severity=3,
        conditions=[{"field": "signal.failed_logins_1h", "op": ">=", "value": 5}],
    )
    update(store(*[event("login_failed", account="victim") for _ in range(6)]))
    update(store(*[event("login_failed", account="victim") for _ in range(2)]))

    case = AccountCase.objects.get()
    assert (case.case_type, case.severity, case.status) == ("takeover", 3, "open")
    firing = RuleFiring.objects.get()
    assert firing.values == {"signal.failed_logins_1h": 6}
    assert firing.case == case and not firing.shadow


def test_a_shadow_rule_records_would_have_fired_and_opens_nothing():
    DetectionRule.objects.create(
        name="Many devices",
        mode=DetectionRule.Mode.SHADOW,
        case_type="fake_account",
        conditions=[{"field": "event.type", "op": "==", "value": "signup"}],
    )
    update(store(event("signup", account="new")))

    assert RuleFiring.objects.get().shadow
    assert not AccountCase.objects.exists()


def test_a_rule_that_does_not_match_records_nothing():
    DetectionRule.objects.create(
        name="Chargebacks",
        mode=DetectionRule.Mode.ACTIVE,
        case_type="fraud",
        conditions=[{"field": "signal.chargebacks_7d", "op": ">=", "value": 2}],
    )
    update(store(event("payment_charged_back", amount="10.00", currency="EUR")))

    assert not RuleFiring.objects.exists()


def test_the_sweeper_resends_updates_that_waited_too_long():
    store(event("login_failed", account="u-1"))
    AccountSignals.objects.update(pending_since=timezone.now() - timedelta(minutes=5))
    store(event("login_failed", account="u-2"))

    assert sweep_pending_signals() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only")
def test_events_land_in_daily_partitions_and_old_ones_are_dropped():
    from accounts.partitions import existing_partitions, partition_name

    now = timezone.now()
    store(event("login_failed", at=now - timedelta(days=2)))  # lands in DEFAULT: no daily partition yet
    maintain_event_partitions(now=now)
    day = (now - timedelta(days=2)).date()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{partition_name(day)}"')
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT count(*) FROM accounts_accountevent_default")
        assert cursor.fetchone()[0] == 0

    result = maintain_event_partitions(now=now + timedelta(days=120))

    assert result["dropped"] >= 1
    assert partition_name(day) not in existing_partitions()


def test_a_ring_members_signup_makes_earlier_members_count_again():
    first = store(event("signup", account="ring-1", device_id="farm", ip="203.0.113.1"))
    update(first)
    update(store(*[event("signup", account=f"ring-{n}", device_id="farm", ip=f"203.0.113.{n}") for n in (2, 3, 4, 5)]))

    assert AccountSignals.objects.get(account_id=first.account_ids[0]).pending_since is not None
    assert update(first) == 1
    assert signals_of("ring-1")["signups_on_device"] == 5


def test_snapshots_older_than_the_retention_are_pruned_with_the_events():
    update(store(event("login_failed")))
    maintain_event_partitions(now=timezone.now() + timedelta(days=120))

    assert not SignalSnapshot.objects.exists()
