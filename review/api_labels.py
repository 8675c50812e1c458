"""REST API v1: current training labels, in cursor pages."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.lists import SYNC_NOTE, KeysetListView
from api.permissions import Scope
from api.schema import ERROR_RESPONSES, UNKNOWN_REFERENCE
from intake.visibility import visible_item_filter
from review.filters import LabelFilter
from review.models import Label
from review.rows import LABEL_COLUMNS, LABEL_TIMES, label_rows
from review.serializers import LabelOutSerializer


class LabelListView(KeysetListView):
    required_scope = {"GET": Scope.DECISIONS_READ}
    queryset = Label.objects.current()
    serializer_class = LabelOutSerializer
    filterset_class = LabelFilter
    key_field = "created_at"
    rows = staticmethod(label_rows)
    columns, times = LABEL_COLUMNS, LABEL_TIMES

    def get_queryset(self):  # noqa: ANN201 - a QuerySet
        # A token sees the labels on the items its user sees (intake.visibility).
        return super().get_queryset().filter(visible_item_filter(self.request.user, prefix="item"))

    @extend_schema(
        operation_id="labels_list",
        summary="Current labels (what training learns from), in cursor pages ordered by creation",
        description=(
            "One label per category per decision: `value` true when the item violates it. Only current labels: "
            "when a senior overturns a decision in QA, its labels are replaced by new ones (`from_qa` true) "
            "and no longer listed." + SYNC_NOTE.format(key="created_at", verb="created")
        ),
        responses={200: LabelOutSerializer(many=True), **ERROR_RESPONSES, **UNKNOWN_REFERENCE},
        tags=["labels"],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)
