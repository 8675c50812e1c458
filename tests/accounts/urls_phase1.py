"""Phase 1 only: the project's URLs plus the accounts API. Deleted when accounts/ is wired into the site's urls."""

from django.urls import include, path

from moderation_site.urls import handler404, urlpatterns  # noqa: F401

urlpatterns = [path("api/v1/", include("accounts.urls")), *urlpatterns]
