"""Non-human labels train only through an explicit labeler weight, recorded in the snapshot's manifest."""

import json
from pathlib import Path

import pytest

from labeling import llm_runs
from labeling.training import export_snapshot_with_labelers
from learning.training_data import export_training_snapshot
from tests.factories import make_item, make_user
from tests.labeling.factories import make_llm_labeler
from tests.labeling.test_labeler_table import _decide

pytestmark = pytest.mark.django_db


def _items(path: str) -> dict[int, dict]:
    lines = (Path(path) / "items.jsonl").read_text().splitlines()
    return {row["item"]: row for row in map(json.loads, lines)}


def test_llm_labels_enter_a_snapshot_only_with_a_weight_and_never_over_a_human(fake_endpoint, settings, tmp_path):
    settings.TRAINING_SNAPSHOT_DIR = tmp_path
    settings.REVIEW_UNDO_SECONDS = 0
    human_item, llm_only = make_item(text="VIOLATION human"), make_item(text="VIOLATION llm only")
    _decide(human_item, make_user(), spam=False)
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[human_item.pk, llm_only.pk])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)

    unweighted = export_snapshot_with_labelers()
    assert set(_items(unweighted.path)) == {human_item.pk}
    assert unweighted.manifest["labelers"] == []

    labeler.training_weight = 0.4
    labeler.save()
    weighted = export_snapshot_with_labelers()
    rows = _items(weighted.path)
    assert rows[human_item.pk]["labels"] == {"spam": 0} and rows[human_item.pk]["weight"] == 1.0
    assert rows[llm_only.pk]["labels"] == {"spam": 1}
    assert (rows[llm_only.pk]["weight"], rows[llm_only.pk]["split"]) == (0.4, "train")
    assert rows[llm_only.pk]["provenance"]["spam"]["labeler"] == labeler.name
    assert weighted.manifest["labelers"] == [{"name": labeler.name, "kind": "llm", "weight": 0.4, "items": 1}]
    # The ordinary export (retraining's) stays human-only.
    assert set(_items(export_training_snapshot().path)) == {human_item.pk}
