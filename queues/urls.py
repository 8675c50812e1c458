from django.urls import path

from queues import api, views

api_urlpatterns = [
    path("items", api.ItemCollectionView.as_view(), name="api-items"),
    path("items/<int:item_id>", api.ItemDetailView.as_view(), name="api-item-detail"),
]

urlpatterns = [
    path("", views.home, name="home"),
]
