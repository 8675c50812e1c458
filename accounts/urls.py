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
    # The risk versions are on the model pages (/models/ lists them beside the content versions).
    path("account-risk-models/", risk_model_views.old_risk_models_page, name="account-risk-models"),
    path("models/account-risk/<int:version_id>/", risk_model_views.risk_version, name="account-risk-version"),
    path(
        "models/account-risk/<int:version_id>/recompute",
        risk_model_views.recompute,
        name="account-risk-version-recompute",
    ),
    path("models/account-risk/<int:version_id>/promote", risk_model_views.promote, name="account-risk-version-promote"),
    path(
        "models/account-risk/<int:version_id>/roll-back",
        risk_model_views.roll_back,
        name="account-risk-version-roll-back",
    ),
    path("account-appeals/<int:appeal_id>/decide", views.decide_appeal_view, name="account-appeal-decide"),
]
