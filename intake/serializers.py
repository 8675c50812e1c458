"""Input and output shapes of the items API. Input is strict: unknown fields and wrong types are errors."""

import base64
import binascii

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.errors import UnknownReference
from api.serializers import JsonObjectField, StrictCharField, StrictSerializer
from intake.images import CheckedImage, ImageRejected, check_image
from intake.models import Author, Item, Report
from intake.payloads import AuthorSubmission, ItemSubmission, ReportSubmission, SubmissionResult
from intake.rows import scores_of

SOURCE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


REASON_PATTERN = r"^[a-z0-9_.:-]{1,64}$"


class AuthorInSerializer(StrictSerializer):
    external_id = StrictCharField(max_length=255)
    handle = StrictCharField(max_length=255, required=False, allow_blank=True, default="")
    account_created_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    attributes = JsonObjectField(required=False, default=dict)


class ReportInSerializer(StrictSerializer):
    id = StrictCharField(
        max_length=255, required=False, help_text="The report's id on your side; makes re-sending it safe."
    )
    reporter_id = StrictCharField(max_length=255, required=False, allow_blank=True, default="")
    reason = serializers.RegexField(
        REASON_PATTERN,
        help_text="Reason code, lower case, e.g. 'spam' or 'scam_fraud'.",
        error_messages={"invalid": "Use 1-64 characters from a-z, 0-9, '_', '.', ':', '-'."},
    )
    text = StrictCharField(max_length=5000, required=False, allow_blank=True, default="", trim_whitespace=False)
    reported_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


@extend_schema_field(
    {
        "type": "string",
        "format": "image-base64",
        "description": "The image, base64-encoded (JSON requests). JPEG, PNG, WebP or GIF, judged by its content: "
        "the `image-base64` format is base64 of such an image.",
    }
)
class ImageBase64Field(StrictCharField):
    """Base64 of an image; its format in the schema says what no pattern can (the bytes must be an image)."""


class ItemInSerializer(StrictSerializer):
    # validate(): text, an image, or both (api.schema_extensions puts this in the schema).
    schema_rules = {
        "anyOf": [
            {"required": ["text"], "properties": {"text": {"minLength": 1}}},
            {"required": ["image_base64"]},
            {"required": ["image_part"]},
        ]
    }
    source = serializers.RegexField(
        SOURCE_PATTERN,
        help_text="The platform or surface that sent the item, e.g. 'creatorhub.comments'.",
        error_messages={"invalid": "Use 1-64 characters from A-Z, a-z, 0-9, '_', '.', ':', '-'."},
    )
    external_id = StrictCharField(max_length=255, help_text="The item's id on your platform.")
    text = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    image_base64 = ImageBase64Field(required=False)
    image_part = StrictCharField(
        required=False, max_length=100, help_text="Name of the multipart file part that holds the image."
    )
    author = AuthorInSerializer(required=False, allow_null=True, default=None)
    metadata = JsonObjectField(required=False, default=dict)
    reports = serializers.ListField(child=ReportInSerializer(), required=False, default=list)

    def validate_text(self, value: str) -> str:
        limit = settings.MODERATION_MAX_TEXT_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(f"The text is {len(value)} characters; the limit is {limit}.")
        return value

    def validate_reports(self, value: list) -> list:
        limit = settings.MODERATION_MAX_REPORTS_PER_ITEM
        if len(value) > limit:
            raise serializers.ValidationError(f"{len(value)} reports in one item; the limit is {limit}.")
        return value

    def validate_image_base64(self, value: str) -> CheckedImage:
        max_bytes = settings.MODERATION_MAX_IMAGE_BYTES
        # Refuse an oversized image before spending memory on decoding it.
        if len(value) * 3 // 4 > max_bytes + 3:
            raise serializers.ValidationError(f"The image is over the limit of {max_bytes} bytes.")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise serializers.ValidationError("Not valid base64.") from exc
        return _checked(data)

    def validate_image_part(self, value: str) -> CheckedImage:
        files: dict[str, UploadedFile] = self.context.get("files") or {}
        upload = files.get(value)
        if upload is None:
            # Well formed, naming a part that is not there (in a JSON body, never): 404, as any unknown reference.
            raise UnknownReference({"image_part": [f"No multipart file part named {value!r} in the request."]})
        max_bytes = settings.MODERATION_MAX_IMAGE_BYTES
        if upload.size and upload.size > max_bytes:
            raise serializers.ValidationError(f"The image is {upload.size} bytes; the limit is {max_bytes} bytes.")
        return _checked(upload.read())

    def validate(self, attrs: dict) -> dict:
        if "image_base64" in attrs and "image_part" in attrs:
            raise serializers.ValidationError(
                {"image_part": ["Send the image once: either image_base64 or image_part, not both."]}
            )
        image = attrs.pop("image_base64", None) or attrs.pop("image_part", None)
        if not attrs["text"] and image is None:
            raise serializers.ValidationError(
                {"text": ["An item needs text, an image, or both; this one has neither."]}
            )
        attrs["image"] = image
        return attrs

    def to_submission(self) -> ItemSubmission:
        return submission_from(self.validated_data)


def _checked(data: bytes) -> CheckedImage:
    try:
        return check_image(
            data, max_bytes=settings.MODERATION_MAX_IMAGE_BYTES, max_pixels=settings.MODERATION_MAX_IMAGE_PIXELS
        )
    except ImageRejected as exc:
        raise serializers.ValidationError(f"Image refused: {exc}.") from exc


def submission_from(data: dict) -> ItemSubmission:
    """Turn one validated item into the plain value the ingestion service takes."""
    author = data["author"]
    return ItemSubmission(
        source=data["source"],
        external_id=data["external_id"],
        text=data["text"],
        image=data["image"],
        metadata=data["metadata"],
        author=AuthorSubmission(**author) if author else None,
        reports=[
            ReportSubmission(
                external_id=report.get("id"),
                reporter_id=report["reporter_id"],
                reason=report["reason"],
                text=report["text"],
                reported_at=report["reported_at"],
            )
            for report in data["reports"]
        ],
    )


class ItemBatchInSerializer(StrictSerializer):
    items = serializers.ListField(child=ItemInSerializer(), allow_empty=False, min_length=1)

    def validate_items(self, value: list) -> list:
        limit = settings.MODERATION_MAX_BATCH_ITEMS
        if len(value) > limit:
            raise serializers.ValidationError(f"The batch has {len(value)} items; the limit is {limit}.")
        return value


class SubmissionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    id = serializers.IntegerField()
    source = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["created", "merged"], help_text="'merged': the item existed; new reports were added to it."
    )
    state = serializers.ChoiceField(choices=Item.State.choices)
    report_count = serializers.IntegerField()

    @staticmethod
    def from_result(result: SubmissionResult) -> dict:
        return {
            "index": result.index,
            "id": result.item_id,
            "source": result.source,
            "external_id": result.external_id,
            "status": "created" if result.created else "merged",
            "state": result.state,
            "report_count": result.report_count,
        }


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    merged = serializers.IntegerField()
    results = SubmissionResultSerializer(many=True)


class AuthorOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["external_id", "handle", "account_created_at", "attributes"]


class ReportOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Report
        fields = ["reporter_id", "reason", "text", "reported_at"]


class ImageOutSerializer(serializers.Serializer):
    sha256 = serializers.CharField(source="image_sha256")
    bytes = serializers.IntegerField(source="image_bytes")
    format = serializers.CharField(source="image_format")
    width = serializers.IntegerField(source="image_width")
    height = serializers.IntegerField(source="image_height")


class ScoreOutSerializer(serializers.Serializer):
    category = serializers.CharField(source="category.slug")
    probability = serializers.FloatField()
    from_prior = serializers.BooleanField(help_text="True: a cold-start prior, not a model trained on labels.")
    prior_source = serializers.CharField(
        help_text="For a prior, the signal that set it (e.g. similarity, structure, image-safety model, base rate); "
        "empty for a trained model's score."
    )
    author_shift = serializers.FloatField(
        allow_null=True,
        help_text="How far the author's earlier decisions moved this probability (it minus the same model's "
        "probability without the author); null when the model does not read authors or the item has none.",
    )
    model_version = serializers.CharField(source="model_version.name")
    status = serializers.CharField(source="model_version.status", help_text="active or shadow")


class ItemOutSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=Item.Kind.choices)
    scores = serializers.SerializerMethodField()
    author = AuthorOutSerializer(allow_null=True)
    image = serializers.SerializerMethodField()
    reports = ReportOutSerializer(many=True)

    class Meta:
        model = Item
        fields = [
            "id", "source", "external_id", "kind", "text", "image", "author", "metadata", "state",
            "failure_reason", "report_count", "reports", "scores", "ticket_id", "ticket_url", "created_at",
            "updated_at",
        ]  # fmt: skip

    @extend_schema_field(ScoreOutSerializer(many=True))
    def get_scores(self, item: Item) -> list[dict]:
        prefetched = self.context.get("scores_by_item")
        if prefetched is None:
            prefetched = scores_of([item.pk])
        return prefetched.get(item.pk, [])

    @extend_schema_field(ImageOutSerializer(allow_null=True))
    def get_image(self, item: Item) -> dict | None:
        return ImageOutSerializer(item).data if item.image else None


class ItemListOutSerializer(ItemOutSerializer):
    """An item in a list: as read one by one, less the reports (``report_count`` stays)."""

    class Meta(ItemOutSerializer.Meta):
        fields = [field for field in ItemOutSerializer.Meta.fields if field != "reports"]


def _web_url(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")):
        raise serializers.ValidationError("Use an http:// or https:// URL.")
    return value


class TicketInSerializer(StrictSerializer):
    ticket_id = StrictCharField(max_length=255, help_text="The ticket's id in your ticketing system.")
    ticket_url = serializers.URLField(
        max_length=2000, required=False, allow_blank=True, default="", validators=[_web_url],
        help_text="A link to the ticket (http or https).",
    )  # fmt: skip


class TicketOutSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(source="pk")
    ticket_id = serializers.CharField()
    ticket_url = serializers.CharField()
    updated_at = serializers.DateTimeField()
