"""What the text head costs beside the encoder, with and without the items' authors (and their score shift).

    OMP_NUM_THREADS=2 .venv/bin/python bench/text_head_cost.py var/datasets/spam-assassin [--train 1000] [--batch 128]

A head is trained as the product trains one (``train_text_head``: embedding, hashed n-grams and the lexical
regression, each mail's sender as its author) on ``--train`` SpamAssassin mails, then one batch of other mails is
scored in interleaved rounds (A B B A, so a drift of the machine's load falls on each step alike):
  * encode: the packaged encoder's embeddings of the batch (what every item costs);
  * predict, no authors: ``TextModel.predict`` without author keys (an item without an author);
  * predict, with authors: with each mail's author key; the head reads its tokens and also scores the text
    without them, which the work view shows as the author's shift (``CategoryScore.without_author``).
It prints CPU seconds per batch (median over rounds) and each predict as a share of the encoder's CPU, and checks
that every mail with an author got a score without it.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()


def cpu_seconds(step) -> float:  # noqa: ANN001 - a callable of no arguments
    start = time.process_time()
    step()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="the SpamAssassin folder (scripts/fetch-datasets.sh)")
    parser.add_argument("--train", type=int, default=1000, help="mails the head is trained on")
    parser.add_argument("--batch", type=int, default=128, help="mails scored per step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup_django()

    import numpy as np

    from classifiers.corpora import read_spamassassin
    from classifiers.inference import CategoryInfo
    from classifiers.inference.text import TextModel, train_text_head

    mails = list(read_spamassassin(args.corpus))
    np.random.default_rng(args.seed).shuffle(mails)
    train, batch = mails[: args.train], mails[args.train : args.train + args.batch]
    if not batch:
        sys.exit(f"the corpus has {len(mails)} mails: none left to score after {args.train} for training")
    categories = [CategoryInfo(slug="spam", description="Unsolicited bulk or commercial messages")]
    encoder = TextModel(head=None, categories=categories)
    texts = [mail.text for mail in train]
    head = train_text_head(
        encoder.embed(texts),
        texts,
        np.array([[int(mail.is_spam)] for mail in train], dtype=np.int8),
        categories=["spam"],
        authors=[f"spamassassin:{mail.sender}" for mail in train],
    )
    model = TextModel(head=head, categories=categories)
    scored = [mail.text for mail in batch]
    authors = [f"spamassassin:{mail.sender}" if mail.sender else "" for mail in batch]
    vectors = model.embed(scored)
    spam, told = sum(m.is_spam for m in train), sum(map(bool, authors))
    print(f"head trained on {len(train)} mails ({spam} spam), reads authors: {head.features['author']}; "
          f"scoring {len(batch)} mails, {told} with an author")  # fmt: skip

    steps = {
        "encode": lambda: model.embed(scored),
        "predict, no authors": lambda: model.predict(vectors, scored),
        "predict, with authors (and the shift)": lambda: model.predict(vectors, scored, authors=authors),
    }
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(args.rounds):
        order = list(steps) if round_ % 2 == 0 else list(reversed(steps))
        for name in order:
            seconds[name].append(cpu_seconds(steps[name]))
    encode = statistics.median(seconds["encode"])
    print(f"CPU seconds per batch of {len(batch)}, median of {args.rounds} interleaved rounds, "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')} threads:")  # fmt: skip
    for name, values in seconds.items():
        share = "" if name == "encode" else f"  ({statistics.median(values) / encode:.1%} of the encoder's CPU)"
        print(f"  {name:<40} {statistics.median(values):7.3f} s  [{min(values):.3f}-{max(values):.3f}]{share}")

    told = model.predict(vectors, scored, authors=authors)
    missing = sum(1 for row, author in zip(told, authors, strict=True) if author and row["spam"].without_author is None)
    shifts = [
        row["spam"].probability - row["spam"].without_author for row in told if row["spam"].without_author is not None
    ]
    print(f"mails with an author and no score without it: {missing}")
    if shifts:
        big = sum(abs(s) >= 0.05 for s in shifts)
        print(f"author shift: {big} of {len(shifts)} mails moved by 0.05 or more; largest "
              f"{max(shifts, key=abs):+.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
