"""URLs of intake: the items API."""

from django.urls import path

from intake import api

api_urlpatterns = [
    path("items", api.ItemCollectionView.as_view(), name="api-items"),
    path("items/<int:item_id>", api.ItemDetailView.as_view(), name="api-item-detail"),
    path("items/<int:item_id>/ticket", api.ItemTicketView.as_view(), name="api-item-ticket"),
    path("items/<int:item_id>/rescore", api.ItemRescoreView.as_view(), name="api-item-rescore"),
]

urlpatterns = []
