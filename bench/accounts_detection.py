#!/usr/bin/env python
"""Detection quality of the default rules on a simulated platform. SYNTHETIC DATA.

    DATABASE_URL=postgres://moderation:moderation@127.0.0.1:5432/moderation \\
        .venv/bin/python bench/accounts_detection.py --seed 2 --hours 24

The default rules' thresholds were chosen looking at seed 1; report other seeds (held out). The script
simulates ``--hours`` of the platform (``accounts.simulator``), replays it through the real intake and
signal services in 5-minute slices into a fresh database (PostgreSQL ``--database`` beside
``DATABASE_URL`` when it is set, else embedded SQLite), with the default rules active, and prints per
attack type the share of its accounts with a case of the matching type (caught), and per case type the
share of ordinary accounts with such a case (false positives). ``--tiny`` runs a small platform for CI.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_setup import fresh_postgres, setup_django  # noqa: E402

ATTACKS = {"fake_account": "fake_account", "takeover": "takeover", "fraud": "fraud", "scraping": "scraping"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seed", type=int, default=2, help="the simulation seed (1 was used to set thresholds)")
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--slice-minutes", type=int, default=5, help="signals are updated once per slice")
    parser.add_argument("--tiny", action="store_true", help="a small platform over 6 hours in 15-minute slices, for CI")
    parser.add_argument("--database", default="moderation_accounts_bench_detection")
    args = parser.parse_args(argv)

    url = fresh_postgres("bench/accounts_detection.py", args.database) if os.environ.get("DATABASE_URL") else None
    setup_django(database_url=url)
    from django.db import connection
    from django.utils import timezone

    from accounts.default_rules import install_default_rules
    from accounts.models import AccountCase, DetectionRule
    from accounts.simulated_load import load_simulation
    from accounts.simulator import Sizes, simulate
    from queues.models import Queue

    queue, _ = Queue.objects.get_or_create(slug="account-cases", defaults={"name": "Account cases"})
    install_default_rules(queue=queue, mode=DetectionRule.Mode.ACTIVE)
    if args.tiny:
        args.hours, args.slice_minutes = 6, 15
    end = timezone.now() - timedelta(seconds=5)
    simulation = simulate(seed=args.seed, end=end, hours=args.hours, sizes=Sizes.tiny() if args.tiny else Sizes())
    started = time.perf_counter()
    stored = load_simulation(simulation, slice_minutes=args.slice_minutes)
    seconds = time.perf_counter() - started

    cases = {}
    for external_id, case_type in AccountCase.objects.values_list("account__author__external_id", "case_type"):
        cases.setdefault(external_id, set()).add(case_type)
    print(
        f"SYNTHETIC DATA: simulator seed {args.seed}, {args.hours} h, {len(simulation.labels):,} accounts, "
        f"{stored:,} events; {connection.vendor}; replayed in {seconds:.1f} s in {args.slice_minutes}-minute slices"
    )
    print(f"{'attack type':<14} {'accounts':>8} {'caught':>7} {'catch rate':>10} {'any case':>9}")
    for label, case_type in ATTACKS.items():
        accounts = simulation.accounts_of(label)
        caught = sum(1 for a in accounts if case_type in cases.get(a, ()))
        flagged = sum(1 for a in accounts if cases.get(a))
        rate = caught / len(accounts) if accounts else 0.0
        print(f"{label:<14} {len(accounts):>8} {caught:>7} {rate:>10.1%} {flagged / max(1, len(accounts)):>9.1%}")
    ordinary = simulation.accounts_of("ordinary")
    print(f"{'case type':<14} {'ordinary':>8} {'flagged':>7} {'false pos.':>10}")
    for case_type in ATTACKS.values():
        flagged = sum(1 for a in ordinary if case_type in cases.get(a, ()))
        print(f"{case_type:<14} {len(ordinary):>8} {flagged:>7} {flagged / max(1, len(ordinary)):>10.2%}")
    anything = sum(1 for a in ordinary if cases.get(a))
    print(f"{'any':<14} {len(ordinary):>8} {anything:>7} {anything / max(1, len(ordinary)):>10.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
