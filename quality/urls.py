"""URLs of quality: the agreement page."""

from django.urls import path

from quality import views

api_urlpatterns = []

urlpatterns = [
    path("quality/", views.quality, name="quality"),
]
