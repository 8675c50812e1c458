"""REST API v1 for data teams: the training snapshots retraining learned from, and their labelled rows."""

from pathlib import Path

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.lists import KeysetListView
from api.models import ApiToken
from api.permissions import HasTokenScope, StaffUsersOnly
from api.schema import ERROR_RESPONSES, ERROR_SCHEMA, NOT_FOUND
from classifiers.models import TrainingSnapshot
from classifiers.snapshots import ITEMS_FILE


class TrainingSnapshotOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingSnapshot
        fields = [
            "id", "created_at", "created_by_label", "label_cutoff", "item_count", "label_count", "held_out_count",
            "held_out_source", "counts", "items_sha256", "file_hashes",
        ]  # fmt: skip


class TrainingSnapshotDetailSerializer(TrainingSnapshotOutSerializer):
    class Meta(TrainingSnapshotOutSerializer.Meta):
        fields = [*TrainingSnapshotOutSerializer.Meta.fields, "manifest"]


class TrainingSnapshotListView(KeysetListView):
    required_scope = {"GET": ApiToken.Scope.DECISIONS_READ}
    permission_classes = [HasTokenScope, StaffUsersOnly]
    queryset = TrainingSnapshot.objects.all()
    serializer_class = TrainingSnapshotOutSerializer
    filter_backends: list = []
    key_field = "created_at"

    @extend_schema(
        operation_id="training_snapshots_list",
        summary="Training snapshots: immutable exports of the labels, oldest first, in cursor pages",
        responses={200: TrainingSnapshotOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["labels"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)


class TrainingSnapshotDetailView(APIView):
    required_scope = {"GET": ApiToken.Scope.DECISIONS_READ}
    permission_classes = [HasTokenScope, StaffUsersOnly]

    @extend_schema(
        operation_id="training_snapshots_retrieve",
        summary="One training snapshot with its manifest (counts, file hashes, conflict rule, cutoff)",
        responses={200: TrainingSnapshotDetailSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["labels"],
    )
    def get(self, request: Request, snapshot_id: int) -> Response:
        return Response(TrainingSnapshotDetailSerializer(get_object_or_404(TrainingSnapshot, pk=snapshot_id)).data)


class NdjsonRenderer(JSONRenderer):
    """Lets a client ask for ``application/x-ndjson``; the file itself bypasses renderers, errors stay JSON."""

    media_type = "application/x-ndjson"
    format = "jsonl"


class TrainingSnapshotItemsView(APIView):
    required_scope = {"GET": ApiToken.Scope.DECISIONS_READ}
    permission_classes = [HasTokenScope, StaffUsersOnly]
    renderer_classes = [JSONRenderer, NdjsonRenderer]

    @extend_schema(
        operation_id="training_snapshots_items",
        summary="The snapshot's labelled rows (items.jsonl: one JSON object a line, sorted by item id)",
        description="Byte for byte the file retraining read; its sha256 is the snapshot's `items_sha256`.",
        responses={
            (200, "application/x-ndjson"): OpenApiResponse({"type": "string"}, description="JSON lines."),
            **ERROR_RESPONSES,
            404: OpenApiResponse(ERROR_SCHEMA, description="No such snapshot, or its files are gone."),
        },
        tags=["labels"],
    )
    def get(self, request: Request, snapshot_id: int) -> FileResponse:
        snapshot = get_object_or_404(TrainingSnapshot, pk=snapshot_id)
        path = Path(snapshot.path) / ITEMS_FILE
        if not path.is_file():
            raise exceptions.NotFound(f"The files of snapshot {snapshot.pk} are no longer on this server.")
        return FileResponse(
            path.open("rb"), content_type="application/x-ndjson", filename=f"snapshot-{snapshot.pk}.jsonl"
        )
