"""Train and activate the demo's text model on the SpamAssassin corpus, minus the mails loaded as demo items."""

import json
import random
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from classifiers.corpora import read_mail, spamassassin_files
from classifiers.models import ModelVersion
from intake.management.commands.load_demo_content import MAIL_SOURCE
from intake.models import Item, author_key


class Command(BaseCommand):
    help = "Write a SpamAssassin training set (spam -> the spam category) and train the active text model on it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spamassassin", type=Path, required=True)
        parser.add_argument("--out", type=Path, default=Path("var/datasets/spamassassin-train.jsonl"))
        parser.add_argument(
            "--limit", type=int, default=2000, help="Mails to train on (half spam): keeps the demo set-up to a minute."
        )

    def handle(self, *args, spamassassin: Path, out: Path, limit: int, **options) -> None:
        if ModelVersion.objects.filter(kind="text", status="active").exclude(artifact="").exists():
            self.stdout.write("A trained text model is already active; nothing to do.")
            return
        if not spamassassin.exists():
            self.stderr.write("SpamAssassin corpus not found: the text model stays on its cold-start prior.")
            return
        # The demo items are the 'new' content: keep them out of training so their scores are honest.
        demo_ids = set(Item.objects.filter(source=MAIL_SOURCE).values_list("external_id", flat=True))
        out.parent.mkdir(parents=True, exist_ok=True)
        files = spamassassin_files(spamassassin)
        random.Random(7).shuffle(files)  # every group, easy and hard ham alike, not just the first folder
        per_class = {True: 0, False: 0}
        with out.open("w", encoding="utf-8") as handle:
            for path in files:
                mail = read_mail(path)
                if mail.message_id in demo_ids or not mail.text.strip() or per_class[mail.is_spam] >= limit // 2:
                    continue
                record = {
                    "id": mail.message_id,
                    "text": mail.text,
                    # The key the demo's items carry (their author is the mail's sender), so the demo model reads
                    # senders as the product does.
                    "author": author_key(MAIL_SOURCE, mail.sender),
                    "labels": {"spam": int(mail.is_spam)},
                }
                handle.write(json.dumps(record) + "\n")
                per_class[mail.is_spam] += 1
        written = sum(per_class.values())
        self.stdout.write(f"Training set: {written} mails in {out}")
        call_command("train_classifier", kind="text", dataset=out, name="text-spamassassin-v1", activate=True)
