"""API routes of the webhooks app, included under ``/api/v1/`` by ``moderation_site/urls.py``."""

from rest_framework.routers import SimpleRouter

from webhooks.api import SubscriptionViewSet

router = SimpleRouter(trailing_slash=False)
router.register("webhooks/subscriptions", SubscriptionViewSet, basename="api-webhook-subscription")

urlpatterns = router.urls
