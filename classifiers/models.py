"""Policy categories: what the classifiers score and what reviewers decide against."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class PolicyCategory(models.Model):
    """One policy area (spam, hate, ...). Severity weights risk: 1 is minor, 5 is the gravest harm."""

    slug = models.SlugField(max_length=40, unique=True, help_text="Stable identifier used by the API and the models.")
    name = models.CharField(max_length=100)
    severity = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    description = models.TextField(
        help_text="The policy in plain words. The cold-start text model compares items with it, so be concrete."
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on screen and keyboard shortcut (1-9).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "slug"]
        verbose_name_plural = "policy categories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(severity__gte=1, severity__lte=5), name="policy_category_severity_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (severity {self.severity})"
