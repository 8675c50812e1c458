#!/usr/bin/env python
"""The account risk model after 1,000 case decisions, side by side with the default rules. SYNTHETIC DATA.

    DATABASE_URL=postgres://moderation:moderation@127.0.0.1:5432/moderation \\
        .venv/bin/python bench/accounts_risk_model.py --train-seed 1 --test-seed 2

1. Simulates two platforms (``accounts.simulator``; the training seed and a held-out seed), replays both
   through the real intake and signal services with the default rules active (``accounts_detection.py``).
2. On the training seed, 1,000 case decisions: per case type, 250 accounts are decided, up to half of them
   accounts a rule opened a case of that type on, the rest drawn at random (as a review sample would),
   each decided with the simulator's truth ("is it a <type>?").
3. Runs the retraining run (``accounts.risk_versions.retrain_risk_models``: one calibrated gradient
   boosting model per case type over each account's peak signal values, registered as the first, active,
   account risk version with its artifact and held-out metrics) and scores every account of the held-out
   seed with the registered version, loaded back from its artifact after the sha256 check.
4. Prints per attack type the share the rules catch and the share the model catches at risk >= 0.5, and
   the share of ordinary users each flags. ``--tiny`` for CI.
"""

import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_setup import fresh_postgres, setup_django  # noqa: E402

TYPES = ("fake_account", "takeover", "fraud", "scraping")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--test-seed", type=int, default=2)
    parser.add_argument("--decisions", type=int, default=1000, help="case decisions, split evenly over the types")
    parser.add_argument("--tiny", action="store_true", help="small platforms over 6 hours, 120 decisions, for CI")
    parser.add_argument("--database", default="moderation_accounts_bench_risk")
    args = parser.parse_args(argv)

    url = fresh_postgres("bench/accounts_risk_model.py", args.database) if os.environ.get("DATABASE_URL") else None
    setup_django(database_url=url)
    from django.utils import timezone

    from accounts import risk_versions
    from accounts.default_rules import install_default_rules
    from accounts.models import Account, AccountCase, DetectionRule
    from accounts.simulated_load import load_simulation
    from accounts.simulator import Sizes, simulate
    from queues.models import Queue

    queue, _ = Queue.objects.get_or_create(slug="account-cases", defaults={"name": "Account cases"})
    install_default_rules(queue=queue, mode=DetectionRule.Mode.ACTIVE)
    hours, slice_minutes, sizes = (
        (6, 15, Sizes(ordinary=300, rings=3, takeovers=8, card_testers=8, scrapers=6))
        if (args.tiny)
        else (24, 5, Sizes())
    )
    if args.tiny:
        args.decisions = 120
    end = timezone.now() - timedelta(seconds=5)
    sims = {seed: simulate(seed=seed, end=end, hours=hours, sizes=sizes) for seed in (args.train_seed, args.test_seed)}
    for sim in sims.values():
        load_simulation(sim, slice_minutes=slice_minutes)
    ids = {
        (source, external): pk
        for pk, source, external in Account.objects.values_list("pk", "author__source", "author__external_id")
    }

    train_sim = sims[args.train_seed]
    rng = random.Random(args.train_seed)
    per_type = args.decisions // len(TYPES)
    now = timezone.now()
    for case_type in TYPES:
        flagged_by_rules = list(
            AccountCase.objects.filter(case_type=case_type, account__author__source=train_sim.source)
            .order_by("pk")
            .values_list("account_id", flat=True)
        )[: per_type // 2]
        others = [ids[(train_sim.source, a)] for a in train_sim.labels]
        others = [i for i in others if i not in set(flagged_by_rules)]
        rng.shuffle(others)
        decided = (flagged_by_rules + others)[:per_type]
        truth = {ids[(train_sim.source, a)]: label == case_type for a, label in train_sim.labels.items()}
        AccountCase.objects.filter(case_type=case_type, account_id__in=decided, status="open").update(
            status="closed", closed_at=now, violation=None
        )
        for account_id in decided:  # one decided case per account, with the truth as the verdict
            AccountCase.objects.create(
                account_id=account_id, case_type=case_type, status="closed", opened_at=now, closed_at=now,
                violation=truth[account_id],
            )  # fmt: skip

    version = risk_versions.retrain_risk_models(actor_label="bench/accounts_risk_model.py", seed=args.train_seed)

    test_sim = sims[args.test_seed]
    test_ids = [ids[(test_sim.source, a)] for a in test_sim.labels]
    label_of = {ids[(test_sim.source, a)]: label for a, label in test_sim.labels.items()}
    rule_cases: dict[int, set[str]] = {}
    for account_id, case_type in AccountCase.objects.filter(account_id__in=test_ids, rule__isnull=False).values_list(
        "account_id", "case_type"
    ):
        rule_cases.setdefault(account_id, set()).add(case_type)
    flagged = {
        case_type: {i for i, p in risk_versions.risks_of_accounts(version, case_type, test_ids).items() if p >= 0.5}
        for case_type in TYPES
    }

    print(
        f"SYNTHETIC DATA: trained on seed {args.train_seed} ({args.decisions} case decisions, {per_type} per type), "
        f"tested on seed {args.test_seed} ({len(test_ids):,} accounts, {hours} h)"
    )
    print(f"registered {version.name} ({version.get_status_display().lower()}), sha256 {version.artifact_sha256[:16]}")
    for case_type in TYPES:
        m = version.metrics.get(case_type)
        if m is None:
            print(f"  {case_type}: not trained ({version.metrics['skipped'][case_type]})")
            continue
        ap = "n/a" if m["held_out_average_precision"] is None else f"{m['held_out_average_precision']:.3f}"
        print(
            f"  {case_type}: {m['train_decisions']} training decisions, {m['held_out_decisions']} held out, "
            f"held-out average precision {ap}"
        )
    print(f"{'attack type':<14} {'accounts':>8} {'rules':>8} {'model':>8}")
    for case_type in TYPES:
        accounts = [i for i in test_ids if label_of[i] == case_type]
        by_rules = sum(1 for i in accounts if case_type in rule_cases.get(i, ()))
        by_model = sum(1 for i in accounts if i in flagged[case_type])
        n = max(1, len(accounts))
        print(f"{case_type:<14} {len(accounts):>8} {by_rules / n:>8.1%} {by_model / n:>8.1%}")
    ordinary = [i for i in test_ids if label_of[i] == "ordinary"]
    n = max(1, len(ordinary))
    print(f"{'false positives on ordinary users':<34}")
    for case_type in TYPES:
        by_rules = sum(1 for i in ordinary if case_type in rule_cases.get(i, ()))
        by_model = sum(1 for i in ordinary if i in flagged[case_type])
        print(f"{case_type:<14} {len(ordinary):>8} {by_rules / n:>8.2%} {by_model / n:>8.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
