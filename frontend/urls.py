from django.urls import path

from frontend import import_views, quality_views, views
from frontend.compare_views import eval_run_compare
from frontend import model_views

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("queues/", views.my_queues, name="my-queues"),
    # The relevance page's old address, kept for bookmarks: the same generic work page.
    path("queues/<int:queue_id>/grade/", views.work_page, name="grading-page"),
    path("queues/<int:queue_id>/work/", views.work_page, name="work-page"),
    path("overview/", views.expert_overview, name="expert-overview"),
    path("overview/queues/<int:queue_id>/", views.queue_detail, name="queue-detail"),
    path("overview/queues/<int:queue_id>/settings/", views.queue_settings, name="queue-settings"),
    path("overview/box-queues/new/", views.box_queue_new, name="box-queue-new"),
    path("overview/tasks/<int:task_id>/", views.task_review, name="task-review"),
    path("overview/tasks/<int:task_id>/golden/", views.golden_editor, name="golden-editor"),
    path("overview/golden-sets/", views.golden_set_list, name="golden-set-list"),
    path("overview/pair-imports/", import_views.pair_import_list, name="pair-import-list"),
    path("overview/attribute-queues/new/", views.attribute_queue_new, name="attribute-queue-new"),
    path("overview/attributes/", views.attribute_schema, name="attribute-schema"),
    path("overview/cleanup-queues/new/", views.cleanup_queue_new, name="cleanup-queue-new"),
    path("overview/quality/", quality_views.quality_dashboard, name="quality-dashboard"),
    path("overview/quality/status", quality_views.quality_status, name="quality-status"),
    path("overview/quality/labelers/<int:user_id>/", quality_views.labeler_quality_page, name="labeler-quality"),
    path("me/quality/", quality_views.my_quality, name="my-quality"),
    path("runs/", views.eval_run_list, name="eval-run-list"),
    path("runs/new/", views.eval_run_new, name="eval-run-new"),
    path("runs/compare/", eval_run_compare, name="eval-run-compare"),
    path("runs/<int:run_id>/", views.eval_run_detail, name="eval-run-detail"),
    path("models/", views.model_version_list, name="model-version-list"),
    path("models/new/", model_views.model_version_new, name="model-version-new"),
    path("models/compare/", model_views.model_version_compare, name="model-version-compare"),
    path("models/<int:version_id>/", model_views.model_version_detail, name="model-version-detail"),
]
