"""The sample alert rules name only metrics that /metrics really exposes (a renamed metric breaks this)."""

import re
from pathlib import Path

import pytest
import yaml
from django.test import Client

RULES = Path(__file__).resolve().parents[2] / "ops" / "prometheus-alerts.yml"


@pytest.mark.django_db
def test_every_metric_in_the_alert_rules_is_exposed():
    exposed = set(re.findall(r"^# TYPE (\w+) ", Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode(), re.M))
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    for rule in rules:
        for name in re.findall(r"\bmoderation_\w+", rule["expr"]):
            family = re.sub(r"_(bucket|count|sum|total)$", "", name)
            assert name in exposed or family in exposed, f"{rule['alert']} uses {name}, which /metrics does not expose"
