"""Phase 1 only: the project's URLs plus the accounts API and pages. Deleted when accounts/ is wired into the site."""

from django.urls import include, path

from accounts.urls import api_urlpatterns
from accounts.urls import urlpatterns as account_pages
from moderation_site.urls import handler404, urlpatterns  # noqa: F401

urlpatterns = [path("api/v1/", include(api_urlpatterns)), *account_pages, *urlpatterns]
