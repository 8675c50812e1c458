"""Train and activate the demo's text model on the SpamAssassin corpus, minus the mails loaded as demo items."""

import json
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from classifiers.corpora import read_mail, spamassassin_files
from classifiers.models import ModelVersion
from queues.models import Item


class Command(BaseCommand):
    help = "Write a SpamAssassin training set (spam -> the spam category) and train the active text model on it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spamassassin", type=Path, required=True)
        parser.add_argument("--out", type=Path, default=Path("var/datasets/spamassassin-train.jsonl"))

    def handle(self, *args, spamassassin: Path, out: Path, **options) -> None:
        if ModelVersion.objects.filter(kind="text", status="active").exclude(artifact="").exists():
            self.stdout.write("A trained text model is already active; nothing to do.")
            return
        if not spamassassin.exists():
            self.stderr.write("SpamAssassin corpus not found: the text model stays on its cold-start prior.")
            return
        # The demo items are the 'new' content: keep them out of training so their scores are honest.
        demo_ids = set(Item.objects.filter(source="creatorhub.messages").values_list("external_id", flat=True))
        out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with out.open("w", encoding="utf-8") as handle:
            for path in spamassassin_files(spamassassin):
                mail = read_mail(path)
                if mail.message_id in demo_ids or not mail.text.strip():
                    continue
                handle.write(
                    json.dumps({"id": mail.message_id, "text": mail.text, "labels": {"spam": int(mail.is_spam)}})
                )
                handle.write("\n")
                written += 1
        self.stdout.write(f"Training set: {written} mails in {out}")
        call_command("train_classifier", kind="text", dataset=out, name="text-spamassassin-v1", activate=True)
