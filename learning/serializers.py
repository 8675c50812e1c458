"""API output of policy categories and model versions."""

from rest_framework import serializers

from classifiers.models import ModelVersion, PolicyCategory


class CategoryOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyCategory
        fields = ["slug", "name", "severity", "description", "position", "is_active"]


class ModelVersionOutSerializer(serializers.ModelSerializer):
    prior_only = serializers.BooleanField(source="is_prior_only", help_text="No trained head: scores are priors.")

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "kind", "architecture", "status", "categories", "metrics", "training_snapshot",
                  "prior_only", "notes", "created_at", "activated_at"]  # fmt: skip
