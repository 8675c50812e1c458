"""URLs of labeling: the crowd labeler's pages, LLM run progress and second opinions, and their APIs."""

from django.urls import path

from labeling import crowd_views, llm_views

api_urlpatterns: list = []

urlpatterns = [
    path("labeling/crowd/", crowd_views.crowd_home, name="crowd-home"),
    path("labeling/crowd/sets/<int:task_set_id>/next", crowd_views.crowd_next, name="crowd-next"),
    path("labeling/crowd/tasks/<int:task_id>/", crowd_views.crowd_task, name="crowd-task"),
    path("labeling/crowd/tasks/<int:task_id>/answer", crowd_views.crowd_answer, name="crowd-answer"),
    path("labeling/llm/runs/<int:run_id>/", llm_views.run_detail, name="llm-run"),
    path("labeling/llm/items/<int:item_id>/opinions", llm_views.item_opinions, name="llm-item-opinions"),
]
