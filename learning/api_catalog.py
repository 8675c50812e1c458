"""REST API v1 reference reads of the classifiers: policy categories and model versions."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import REFERENCE_SCOPES, Scope
from api.schema import ERROR_RESPONSES
from classifiers.models import ModelVersion, PolicyCategory
from learning.serializers import CategoryOutSerializer, ModelVersionOutSerializer


class CategoryListView(APIView):
    required_scope = {"GET": REFERENCE_SCOPES}

    @extend_schema(
        operation_id="categories_list",
        summary="Policy categories: the slugs that scores, decisions and labels use",
        responses={200: CategoryOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["reference"],
    )
    def get(self, request: Request) -> Response:
        return Response(CategoryOutSerializer(PolicyCategory.objects.all(), many=True).data)


class ModelVersionListView(APIView):
    required_scope = {"GET": (Scope.ITEMS_READ, Scope.DECISIONS_READ)}

    @extend_schema(
        operation_id="model_versions_list",
        summary="Classifier versions: status, categories, held-out metrics, training data",
        responses={200: ModelVersionOutSerializer(many=True), **ERROR_RESPONSES},
        tags=["reference"],
    )
    def get(self, request: Request) -> Response:
        return Response(ModelVersionOutSerializer(ModelVersion.objects.all(), many=True).data)
