from django.urls import path

from accounts import api

# Mounted under /api/v1/ by moderation_site.urls.
api_urlpatterns = [
    path("events", api.EventCollectionView.as_view(), name="api-events"),
]
urlpatterns = api_urlpatterns
