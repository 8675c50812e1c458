#!/usr/bin/env python
"""The trained text model beside the LLM labeler on the same SpamAssassin sample, read from the labeler table.

    .venv/bin/python bench/labeler_kappa.py [--spamassassin var/datasets/spam-assassin] [--sample 40]
        [--train 600] [--llm] [--max-chars 1500]

1. The sample is ``bench/llm_labeler.py``'s: ``--sample`` messages, half spam and half ham, drawn with seed 0,
   each cut at ``--max-chars``. They become items, and each a gold item with the corpus's answer (remove as spam,
   or no violation): the reviewers' decision the labelers are measured against.
2. The trained text model: ``--train`` other messages of the corpus (drawn with seed 1, none of the sample's) train
   a text version through the product's own path (``classifiers.training.train_text_version``: MiniLM embedding +
   head); it is made active and scores the sample items through ``classifiers.runtime.score_contents``.
3. With ``--llm``: ``scripts/llm_server.py`` (SmolLM2-135M-Instruct) labels the same items in a bulk run with the
   spam prompt (about 15 s a message here, one torch thread).
4. The labeler table (``labeling.labeler_table``) is computed, and its rows for the model and the LLM are printed:
   spam kappa, precision, recall and how many items were compared; beside them, kappa computed directly from the
   verdicts and the corpus's labels, which must match.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_embedded import setup_embedded_django  # noqa: E402
from llm_labeler import _items, run_llm_over, spamassassin_sample, start_model_server  # noqa: E402


def _gold(item_ids: list[int], truth: list[bool]) -> None:
    from classifiers.models import PolicyCategory
    from queues.models import Decision, GoldItem

    spam = PolicyCategory.objects.get(slug="spam")
    for item_id, is_spam in zip(item_ids, truth, strict=True):
        action = Decision.Action.REMOVE if is_spam else Decision.Action.NO_VIOLATION
        gold = GoldItem.objects.create(item_id=item_id, expected_action=action, note="SpamAssassin's label")
        if is_spam:
            gold.expected_categories.add(spam)


def train_model(root: Path, exclude: list[Path], size: int, max_chars: int):
    """A text version trained on ``size`` messages outside ``exclude`` through the product's training path."""
    import numpy as np

    from classifiers.corpora import is_spam_file, read_mail, spamassassin_files
    from classifiers.datasets import Example
    from classifiers.models import ModelVersion
    from classifiers.services import set_model_version_status
    from classifiers.training import train_text_version

    left_out = {p.resolve() for p in exclude}
    rest = [p for p in spamassassin_files(root) if p.resolve() not in left_out]
    rng = np.random.default_rng(1)
    picked = [Path(p) for p in rng.choice(rest, min(size, len(rest)), replace=False)]
    examples = [
        Example(text=read_mail(p).text[:max_chars], image_path=None, labels={"spam": int(is_spam_file(p))})
        for p in picked
    ]
    started = time.perf_counter()
    result = train_text_version(examples=examples, name=f"bench-text-{len(examples)}", snapshot="bench")
    spam_count = sum(e.labels["spam"] for e in examples)
    print(
        f"text model: trained on {len(examples)} messages ({spam_count} spam) in {time.perf_counter() - started:.0f} s "
        f"(embedding included); cross-validated spam F1 {result.metrics['spam']['f1']:.3f}"
    )
    set_model_version_status(version=result.version, status=ModelVersion.Status.ACTIVE, actor_label="bench")
    return result.version


def score_items(item_ids: list[int], texts: list[str]) -> None:
    from classifiers.runtime import Content, score_contents

    started = time.perf_counter()
    report = score_contents([Content(item_id=i, text=t) for i, t in zip(item_ids, texts, strict=True)])
    print(
        f"text model: scored {len(item_ids)} items in {time.perf_counter() - started:.1f} s, failures {report.failures}"
    )


def _direct_kappa(verdicts: dict[int, bool], item_ids: list[int], truth: list[bool]) -> float | None:
    from quality.agreement import cohen_kappa

    return cohen_kappa([(verdicts[i], t) for i, t in zip(item_ids, truth, strict=True) if i in verdicts])


def report(item_ids: list[int], truth: list[bool], version) -> dict[str, dict]:  # noqa: ANN001 - a ModelVersion
    from classifiers.models import Score
    from labeling.labeler_table import MODEL_THRESHOLD, labeler_table
    from labeling.models import LLMResult

    table = labeler_table(days=1)
    direct = {
        f"model:{version.name}": {
            i: p >= MODEL_THRESHOLD
            for i, p in Score.objects.filter(
                model_version=version, category__slug="spam", item_id__in=item_ids
            ).values_list("item_id", "probability")
        }
    }
    for result in LLMResult.objects.filter(item_id__in=item_ids, state=LLMResult.State.DONE).select_related("labeler"):
        direct.setdefault(result.labeler.name, {})[result.item_id] = result.verdict
    figures = {}
    print(f"labeler table, spam, against {len(item_ids)} gold items ({sum(truth)} spam):")
    print("  labeler | compared | kappa | precision | recall | said spam | kappa computed directly")
    for row in table.rows:
        if row.name not in direct:
            continue
        spam = row.categories.get("spam")
        if spam is None:
            continue
        said = sum(direct[row.name].values())
        kappa_direct = _direct_kappa(direct[row.name], item_ids, truth)
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731 - one column format
        print(
            f"  {row.name} | {spam.compared} | {fmt(spam.kappa)} | {fmt(spam.precision)} | {fmt(spam.recall)} | "
            f"{said} | {fmt(kappa_direct)}"
        )
        figures[row.kind] = {"name": row.name, "compared": spam.compared, "kappa": spam.kappa, "direct": kappa_direct}
        beside = row.model_on_same_items
        if beside is not None:
            print(f"    the table's column beside it: {row.model_beside} on the same items, kappa {fmt(beside.kappa)} "
                  f"(n {beside.compared})")  # fmt: skip
            figures[row.kind]["model_beside"] = beside.kappa
    return figures


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spamassassin", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--train", type=int, default=600, help="messages (not in the sample) the text model learns")
    parser.add_argument("--llm", action="store_true", help="also label the sample with the local SmolLM2 server")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-chars", type=int, default=1500, help="message characters each labeler sees")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as var:
        from django.apps import apps

        if not apps.ready:  # the tiny test runs main() inside the test suite's Django, on its test database
            setup_embedded_django(Path(var))
        paths, texts, truth = spamassassin_sample(args.spamassassin, args.sample, args.max_chars)
        item_ids = _items(texts, "kappa")
        _gold(item_ids, truth)
        version = train_model(args.spamassassin, paths, args.train, args.max_chars)
        score_items(item_ids, texts)
        if args.llm:
            process, base_url = start_model_server(args.threads)
            try:
                _, seconds = run_llm_over(base_url, item_ids)
                print(f"llm: labelled {len(item_ids)} items in {seconds:.0f} s")
            finally:
                process.terminate()
                process.wait(timeout=30)
        return report(item_ids, truth, version)


if __name__ == "__main__":
    main()
