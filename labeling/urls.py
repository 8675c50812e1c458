"""URLs of labeling: the crowd labeler's pages, LLM run progress and second opinions, and their APIs."""

from django.urls import path

from labeling import api, bulk_views, crowd_views, labeler_views, llm_views, prompt_preview

api_urlpatterns = [
    path("labeling/llm-runs", api.LLMRunListView.as_view(), name="api-llm-runs"),
    path("labeling/llm-results", api.LLMResultListView.as_view(), name="api-llm-results"),
    path("labeling/task-sets", api.CrowdTaskSetListView.as_view(), name="api-crowd-task-sets"),
    path("labeling/crowd-answers", api.CrowdAnswerListView.as_view(), name="api-crowd-answers"),
]

urlpatterns = [
    path("labeling/crowd/", crowd_views.crowd_home, name="crowd-home"),
    path("labeling/crowd/sets/<int:task_set_id>/next", crowd_views.crowd_next, name="crowd-next"),
    path("labeling/crowd/tasks/<int:task_id>/", crowd_views.crowd_task, name="crowd-task"),
    path("labeling/crowd/tasks/<int:task_id>/answer", crowd_views.crowd_answer, name="crowd-answer"),
    path("labeling/crowd/sets/new", bulk_views.new_crowd_set, name="crowd-set-new"),
    path("labeling/crowd/sets/estimate", bulk_views.crowd_set_estimate, name="crowd-set-estimate"),
    path("labeling/crowd/sets/<int:task_set_id>/", bulk_views.crowd_set_detail, name="crowd-set"),
    path("labeling/llm/runs/new", bulk_views.new_llm_run, name="llm-run-new"),
    path("labeling/llm/runs/estimate", bulk_views.llm_run_estimate, name="llm-run-estimate"),
    path("labeling/labelers/", labeler_views.labelers, name="labelers"),
    path("labeling/llm/prompts/new", prompt_preview.prompt_editor, name="llm-prompt-editor"),
    path("labeling/llm/prompts/previews/<int:preview_id>", prompt_preview.preview_answers, name="llm-prompt-preview"),
    path("labeling/llm/runs/<int:run_id>/", llm_views.run_detail, name="llm-run"),
    path("labeling/llm/items/<int:item_id>/opinions", llm_views.item_opinions, name="llm-item-opinions"),
]
