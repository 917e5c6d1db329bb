from django.urls import path

from frontend import import_views, quality_views, views
from frontend.qualification_views import qualify_page
from frontend.compare_views import eval_run_compare
from frontend import model_views
from frontend import guide_views
from frontend import calibration_views
from frontend import export_views
from frontend import training_views
from frontend import data_import_views

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("queues/", views.my_queues, name="my-queues"),
    # The relevance page's old address, kept for bookmarks: the same generic work page.
    path("queues/<int:queue_id>/grade/", views.work_page, name="grading-page"),
    path("queues/<int:queue_id>/work/", views.work_page, name="work-page"),
    path("queues/<int:queue_id>/qualify/", qualify_page, name="qualify"),
    path("overview/", views.expert_overview, name="expert-overview"),
    path("overview/queues/<int:queue_id>/", views.queue_detail, name="queue-detail"),
    path("overview/queues/<int:queue_id>/settings/", views.queue_settings, name="queue-settings"),
    path("overview/box-queues/new/", views.box_queue_new, name="box-queue-new"),
    path("overview/tasks/<int:task_id>/", views.task_review, name="task-review"),
    path("overview/tasks/<int:task_id>/golden/", views.golden_editor, name="golden-editor"),
    path("overview/golden-sets/", views.golden_set_list, name="golden-set-list"),
    path("overview/guides/", guide_views.guide_list, name="guide-list"),
    path("overview/guides/<str:task_kind>/edit/", guide_views.guide_edit, name="guide-edit"),
    path("overview/guides/<str:task_kind>/versions/", guide_views.guide_versions, name="guide-versions"),
    path("overview/guides/<str:task_kind>/diff/", guide_views.guide_diff, name="guide-diff"),
    path("overview/edge-cases/", guide_views.edge_case_library, name="edge-case-library"),
    path("overview/edge-cases/new/", guide_views.edge_case_new, name="edge-case-new"),
    path("overview/audit/", guide_views.audit_trail, name="audit-trail"),
    path("overview/pair-imports/", import_views.pair_import_list, name="pair-import-list"),
    path("overview/data-imports/", data_import_views.data_import_list, name="data-import-list"),
    path("overview/attribute-queues/new/", views.attribute_queue_new, name="attribute-queue-new"),
    path("overview/attributes/", views.attribute_schema, name="attribute-schema"),
    path("overview/cleanup-queues/new/", views.cleanup_queue_new, name="cleanup-queue-new"),
    path("overview/quality/", quality_views.quality_dashboard, name="quality-dashboard"),
    path("overview/quality/status", quality_views.quality_status, name="quality-status"),
    path("overview/quality/labelers/<int:user_id>/", quality_views.labeler_quality_page, name="labeler-quality"),
    path("me/quality/", quality_views.my_quality, name="my-quality"),
    path("overview/triage/", calibration_views.triage_list, name="triage"),
    path("overview/triage/<int:task_id>/", calibration_views.triage_item_page, name="triage-item"),
    path("overview/calibration/", calibration_views.calibration_session_list, name="calibration-list"),
    path("overview/calibration/new/", calibration_views.calibration_session_new, name="calibration-new"),
    path("overview/calibration/<int:session_id>/", calibration_views.calibration_session_page,
         name="calibration-session"),
    path("calibration/<int:session_id>/", calibration_views.calibration_answer_page, name="calibration-answer"),
    path("runs/", views.eval_run_list, name="eval-run-list"),
    path("runs/new/", views.eval_run_new, name="eval-run-new"),
    path("runs/compare/", eval_run_compare, name="eval-run-compare"),
    path("runs/<int:run_id>/", views.eval_run_detail, name="eval-run-detail"),
    path("models/", views.model_version_list, name="model-version-list"),
    path("models/new/", model_views.model_version_new, name="model-version-new"),
    path("models/compare/", model_views.model_version_compare, name="model-version-compare"),
    path("models/<int:version_id>/", model_views.model_version_detail, name="model-version-detail"),
    path("training/", training_views.training_job_list, name="training-job-list"),
    path("training/<int:job_id>/", training_views.training_job_detail, name="training-job-detail"),
    path("exports/", export_views.export_list, name="export-list"),
    path("exports/<int:export_id>/", export_views.export_detail, name="export-detail"),
]
