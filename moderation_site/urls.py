"""The project's URLs: each app's pages at the root, each app's REST API under /api/v1/."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAdminUser

from accounts import urls as accounts_urls
from console import urls as console_urls
from intake import urls as intake_urls
from labeling import urls as labeling_urls
from learning import urls as learning_urls
from moderation_site import views
from quality import urls as quality_urls
from queues import urls as queues_urls
from review import urls as review_urls
from wellness import urls as wellness_urls

APPS = [
    intake_urls,
    queues_urls,
    review_urls,
    quality_urls,
    learning_urls,
    labeling_urls,
    accounts_urls,
    wellness_urls,
    console_urls,
]
# Admin pages of the models that moved out of the queues app keep answering at their old address.
MOVED_ADMIN = {
    "apitoken": "api",
    "author": "intake",
    "item": "intake",
    "report": "intake",
    "qareview": "review",
    "experiment": "classifiers",
    "modelhealth": "learning",
}


def moved_admin_page(request: HttpRequest, model: str, rest: str) -> HttpResponsePermanentRedirect:
    query = f"?{request.META['QUERY_STRING']}" if request.META.get("QUERY_STRING") else ""
    return HttpResponsePermanentRedirect(f"/admin/{MOVED_ADMIN[model]}/{model}/{rest}{query}")


urlpatterns = [
    re_path(rf"^admin/queues/(?P<model>{'|'.join(MOVED_ADMIN)})/(?P<rest>.*)$", moved_admin_page),
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    *[path("api/v1/", include(app.api_urlpatterns)) for app in APPS],
    path("api/v1/", include("webhooks.urls")),
    # The schema and the docs are for staff (README): a staff session or a staff user's token.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAdminUser]), name="api-schema"),
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("", views.home, name="home"),
    path("models/", views.model_list, name="model-list"),
    *[path("", include(app.urlpatterns)) for app in APPS],
]

handler404 = "api.errors.not_found"
handler500 = "ops.errors.server_error"
