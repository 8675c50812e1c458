"""URLs of review: the work view, QA review, and the review, decision and label APIs."""

from django.urls import path

from review import api, api_decisions, api_labels, views, views_qa

api_urlpatterns = [
    path("items/<int:item_id>/decision", api_decisions.ItemDecisionView.as_view(), name="api-item-decision"),
    path("decisions", api_decisions.DecisionListView.as_view(), name="api-decisions"),
    path("labels", api_labels.LabelListView.as_view(), name="api-labels"),
    path("queues/<int:queue_id>/claim", api.ClaimView.as_view(), name="api-queue-claim"),
    path("entries/<int:entry_id>/heartbeat", api.HeartbeatView.as_view(), name="api-entry-heartbeat"),
    path("entries/<int:entry_id>/release", api.ReleaseView.as_view(), name="api-entry-release"),
    path("entries/<int:entry_id>/escalate", api.EscalateView.as_view(), name="api-entry-escalate"),
    path("entries/<int:entry_id>/decision", api.DecisionView.as_view(), name="api-entry-decision"),
]

urlpatterns = [
    path("queues/<slug:slug>/", views.work, name="work"),
    path("queues/<slug:slug>/entries/<int:entry_id>/", views.entry, name="entry"),
    path("queues/<slug:slug>/entries/<int:entry_id>/decide", views.decide, name="decide"),
    path("queues/<slug:slug>/entries/<int:entry_id>/skip", views.skip, name="skip"),
    path("queues/<slug:slug>/entries/<int:entry_id>/escalate", views.escalate, name="escalate"),
    path("queues/<slug:slug>/entries/<int:entry_id>/heartbeat", views.heartbeat, name="heartbeat"),
    path("queues/<slug:slug>/decisions/<int:decision_id>/undo", views.undo, name="undo"),
    path("items/<int:item_id>/image", views.item_image, name="item-image"),
    path("preferences/blur", views.toggle_blur, name="toggle-blur"),
    path("qa/", views_qa.qa_next, name="qa"),
    path("qa/decisions/<int:decision_id>/", views_qa.qa_decision, name="qa-decision"),
    path("qa/decisions/<int:decision_id>/reveal", views_qa.qa_reveal, name="qa-reveal"),
    path("qa/decisions/<int:decision_id>/verdict", views_qa.qa_verdict, name="qa-verdict"),
]
