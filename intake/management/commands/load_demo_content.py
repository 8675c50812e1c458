"""Load demo content: real mail from the SpamAssassin corpus plus a few generated image posts.

Everything goes through the same ingestion service as the API, so re-running it creates nothing new.
"""

import io
import random
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from PIL import Image, ImageColor, ImageDraw

from classifiers.corpora import is_spam_file, read_mail, spamassassin_files
from intake.images import check_image
from intake.payloads import AuthorSubmission, ItemSubmission, ReportSubmission
from intake.submission import submit_items

BATCH = 200
MAIL_SOURCE = "creatorhub.messages"  # the demo's mails; prepare_demo_model keeps them out of its training set
SPAM_REASONS = ["spam", "spam", "scam_fraud", "fake_account"]
HAM_REASONS = ["spam", "harassment", "other"]
IMAGE_POSTS = [
    ("FREE $500 GIFT CARD\nDM 'WIN' NOW", "Giveaway! Only today, send your login to claim", ("#f7c600", "#d10000"), 2),
    ("DOUBLE YOUR BTC\nIN 24 HOURS", "Guaranteed returns, link in bio", ("#111111", "#f2a900"), 3),
    ("Studio day", "New track dropping Friday", ("#2b5876", "#4e4376"), 0),
    ("Sunset hike", "Made it to the top!", ("#ff7e5f", "#feb47b"), 0),
    (
        "Verify your account\nor it will be deleted",
        "Official support: enter your password here",
        ("#1877f2", "#ffffff"),
        3,
    ),
    ("Behind the scenes", "Thanks for 10k followers", ("#00b09b", "#96c93d"), 1),
    ("BUY FOLLOWERS\n1000 = $5", "Cheap followers and likes", ("#8e2de2", "#4a00e0"), 2),
    ("Cooking stream", "Pasta night, join at 8", ("#f12711", "#f5af19"), 0),
    ("CLAIM YOUR PRIZE", "You are our lucky winner, pay the shipping fee", ("#e52d27", "#b31217"), 2),
    ("Sketchbook", "Work in progress", ("#bdc3c7", "#2c3e50"), 1),
    ("Tour dates", "See you in Berlin", ("#0f2027", "#2c5364"), 0),
    ("Crypto signals\nVIP group", "Join the pump, 100x guaranteed", ("#000000", "#38ef7d"), 3),
]


class Command(BaseCommand):
    help = "Load demo items: SpamAssassin mail (if fetched) and generated image posts. Safe to re-run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--spamassassin", type=Path, help="Folder of the fetched SpamAssassin corpus.")
        parser.add_argument("--limit", type=int, default=600, help="How many mails to load (half spam, half not).")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, spamassassin: Path | None, limit: int, seed: int, **options) -> None:
        rng = random.Random(seed)
        submissions = []
        if spamassassin and spamassassin.exists():
            submissions += self._mail_items(spamassassin, limit, rng)
        else:
            self.stderr.write("SpamAssassin corpus not found; loading image posts only.")
        submissions += self._image_items(rng)
        created = 0
        for start in range(0, len(submissions), BATCH):
            created += sum(r.created for r in submit_items(submissions=submissions[start : start + BATCH]))
        self.stdout.write(self.style.SUCCESS(f"Demo content: {created} new items ({len(submissions)} sent)."))

    def _mail_items(self, root: Path, limit: int, rng: random.Random) -> list[ItemSubmission]:
        files = spamassassin_files(root)
        spam = [path for path in files if is_spam_file(path)]
        ham = [path for path in files if not is_spam_file(path)]
        rng.shuffle(spam)
        rng.shuffle(ham)
        chosen = spam[: limit // 2] + ham[: limit - limit // 2]
        rng.shuffle(chosen)
        max_body = settings.MODERATION_MAX_TEXT_CHARS - 400
        now = timezone.now()
        items = []
        for mail in (read_mail(path, max_body_chars=max_body) for path in chosen):
            reasons = SPAM_REASONS if mail.is_spam else HAM_REASONS
            items.append(
                ItemSubmission(
                    source=MAIL_SOURCE,
                    external_id=mail.message_id,
                    text=mail.text or "(empty message)",
                    author=AuthorSubmission(
                        external_id=mail.sender,
                        handle=mail.sender_name or mail.sender.split("@")[0],
                        account_created_at=now - timedelta(days=rng.choice([1, 3, 30, 400, 2000])),
                    ),
                    metadata={"surface": "direct_message"},
                    reports=[
                        ReportSubmission(reporter_id=f"member-{rng.randrange(5000)}", reason=rng.choice(reasons))
                        for _ in range(rng.choice([1, 1, 1, 2, 3]))
                    ],
                )
            )
        return items

    def _image_items(self, rng: random.Random) -> list[ItemSubmission]:
        now = timezone.now()
        items = []
        for index, (headline, caption, colors, reports) in enumerate(IMAGE_POSTS):
            data = _poster(headline, colors, fmt="JPEG" if index % 2 else "PNG")
            image = check_image(
                data, max_bytes=settings.MODERATION_MAX_IMAGE_BYTES, max_pixels=settings.MODERATION_MAX_IMAGE_PIXELS
            )
            items.append(
                ItemSubmission(
                    source="creatorhub.posts",
                    external_id=f"demo-image-{index + 1}",
                    text=caption,
                    image=image,
                    author=AuthorSubmission(
                        external_id=f"creator-{index + 1}",
                        handle=f"@creator{index + 1}",
                        account_created_at=now - timedelta(days=rng.choice([2, 90, 700])),
                    ),
                    metadata={"surface": "post"},
                    reports=[
                        ReportSubmission(reporter_id=f"member-{rng.randrange(5000)}", reason="scam_fraud")
                        for _ in range(reports)
                    ],
                )
            )
        return items


def _poster(headline: str, colors: tuple[str, str], *, fmt: str) -> bytes:
    """A 480x360 poster: a vertical gradient with a headline, like a creator's promo image."""
    top, bottom = (ImageColor.getrgb(color) for color in colors)
    gradient = Image.linear_gradient("L").resize((480, 360))
    image = Image.composite(Image.new("RGB", (480, 360), bottom), Image.new("RGB", (480, 360), top), gradient)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((30, 110, 450, 250), radius=18, fill=(255, 255, 255))
    draw.multiline_text((240, 180), headline, fill=(20, 20, 20), anchor="mm", align="center", font_size=30)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=88)
    return buffer.getvalue()
