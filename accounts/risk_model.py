"""An account risk model per case type, learned from reviewers' case decisions over the signals.

Each decided case is one example: the signal values its account had (the highest each signal reached
in the snapshots up to the decision; windows decay, and the decision was about what the reviewer saw)
and the verdict (``AccountCase.violation``). An unknown value (an account age never reported) becomes -1,
below every real value: signals are counts, ages and rates, never negative, and a column that is
unknown for a whole cross-validation fold broke ``HistGradientBoostingClassifier``'s binning of NaN.
``CalibratedClassifierCV`` turns its scores into probabilities a queue can order by. Evaluation is on
held-out accounts.

This module trains and evaluates; ``accounts.risk_versions`` registers the models of a retraining run as
a version and scores cases with it.
"""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from django.db import connection
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score

from accounts.models import AccountCase, SignalReading
from accounts.risk_signals import SIGNALS

FEATURES = sorted(SIGNALS)
UNKNOWN = -1.0


@dataclass(frozen=True)
class Example:
    account_id: int
    features: list[float]
    label: bool


@dataclass
class TrainedModel:
    case_type: str
    model: CalibratedClassifierCV
    train_examples: int
    held_out_examples: int
    held_out_average_precision: float | None


# Accounts per statement: a bound parameter per account on SQLite, whose limit is 32,766.
PEAK_CHUNK = 5000


@cache
def _peak_sql(vendor: str, accounts: int, bounded: bool) -> str:
    """``SELECT account_id, MAX(<signal>), ... GROUP BY account_id`` over the readings: built once per shape.

    Raw SQL, not the ORM: compiling 31 aggregates took ~1.5 ms a call, four times the query itself."""
    table = SignalReading._meta.db_table
    columns = ", ".join(f"MAX({connection.ops.quote_name(SignalReading._meta.get_field(n).column)})" for n in FEATURES)
    which = "account_id = ANY(%s)" if vendor == "postgresql" else f"account_id IN ({', '.join(['%s'] * accounts)})"
    until = " AND taken_at <= %s" if bounded else ""
    return f"SELECT account_id, {columns} FROM {table} WHERE {which}{until} GROUP BY account_id"


def peak_values(account_ids: Sequence[int], *, until=None) -> dict[int, list[float]]:  # noqa: ANN001
    """Per account, the highest value of every signal over its snapshots (up to ``until``); NaN when never known.

    One ``MAX()`` per signal column over the accounts' ``SignalReading`` rows (the numbers of each snapshot,
    written with it), grouped by account in the database: reading every snapshot's JSON in Python took
    ~80 ms per account and grew with its history (bench/RESULTS.md).
    """
    account_ids = list(account_ids)
    postgres = connection.vendor == "postgresql"
    bound = [] if until is None else [connection.ops.adapt_datetimefield_value(until)]
    peaks: dict[int, list[float]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(account_ids), PEAK_CHUNK):
            part = account_ids[start : start + PEAK_CHUNK]
            sql = _peak_sql(connection.vendor, 1 if postgres else len(part), until is not None)
            cursor.execute(sql, [part, *bound] if postgres else [*part, *bound])
            for account_id, *values in cursor.fetchall():
                peaks[account_id] = [math.nan if v is None else float(v) for v in values]
    return {account_id: peaks.get(account_id) or [math.nan] * len(FEATURES) for account_id in account_ids}


def examples_from_decisions(case_type: str, *, until=None) -> list[Example]:  # noqa: ANN001
    """Decided cases of ``case_type`` (closed up to ``until``), one example per account with its latest verdict
    (an overturned appeal has already cleared it)."""
    verdicts: dict[int, bool] = {}
    decided = AccountCase.objects.filter(case_type=case_type, violation__isnull=False).order_by("closed_at", "pk")
    if until is not None:
        decided = decided.filter(closed_at__lte=until)
    for account_id, violation in decided.values_list("account_id", "violation"):
        verdicts[account_id] = violation
    features = peak_values(list(verdicts))
    return [Example(account_id, features[account_id], label) for account_id, label in verdicts.items()]


def matrix(rows: Sequence[Sequence[float]]) -> np.ndarray:
    return np.nan_to_num(np.array(rows, dtype=float), nan=UNKNOWN)


def held_out(account_id: int, share: float = 0.2) -> bool:
    """A stable split by account: the same account is always on the same side."""
    digest = hashlib.sha256(f"account-risk:{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def train(case_type: str, examples: Sequence[Example], *, seed: int = 0) -> TrainedModel:
    """Fit on the accounts not held out; report average precision on those held out (None if one class only)."""
    train_rows = [e for e in examples if not held_out(e.account_id)]
    test_rows = [e for e in examples if held_out(e.account_id)]
    labels = [e.label for e in train_rows]
    if len(set(labels)) < 2 or min(labels.count(True), labels.count(False)) < 3:
        raise ValueError(
            f"{case_type}: needs at least 3 decisions of each verdict to learn from; has {labels.count(True)} "
            f"violations and {labels.count(False)} non-violations."
        )
    base = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    model = CalibratedClassifierCV(base, method="sigmoid", cv=3)
    model.fit(matrix([e.features for e in train_rows]), np.array(labels))
    precision = None
    if test_rows and len({e.label for e in test_rows}) == 2:
        scores = model.predict_proba(matrix([e.features for e in test_rows]))[:, 1]
        precision = float(average_precision_score([e.label for e in test_rows], scores))
    return TrainedModel(case_type, model, len(train_rows), len(test_rows), precision)


def risk(model: TrainedModel, features: Sequence[Sequence[float]]) -> np.ndarray:
    """Probability of a violation of the model's case type, per row of features (``FEATURES`` order)."""
    return model.model.predict_proba(matrix(features))[:, 1]
