from django.urls import path

from accounts import api, risk_model_views, views

# Mounted under /api/v1/ by moderation_site.urls.
api_urlpatterns = [
    path("events", api.EventCollectionView.as_view(), name="api-events"),
    path("appeals", api.AppealCollectionView.as_view(), name="api-appeals"),
]

urlpatterns = [
    path("account-cases/search/", views.search, name="account-search"),
    path("account-cases/work/<slug:slug>/", views.work, name="account-work"),
    path("account-cases/<int:case_id>/", views.case_view, name="account-case"),
    path("account-cases/<int:case_id>/decide", views.decide, name="account-case-decide"),
    path("account-cases/<int:case_id>/escalate", views.escalate, name="account-case-escalate"),
    path("account-appeals/<int:appeal_id>/", views.appeal_view, name="account-appeal"),
    path("account-risk-models/", risk_model_views.risk_models, name="account-risk-models"),
    path("account-appeals/<int:appeal_id>/decide", views.decide_appeal_view, name="account-appeal-decide"),
]
