from django.urls import path

from labeling import api
from labeling.calibration import api_guides
from labeling.calibration import api_qualification
from labeling.exports import api as exports_api
from labeling.golden import api as golden_api
from labeling.imports import api as imports_api
from labeling.imports import data_api
from labeling.quality import api as quality_api

urlpatterns = [
    path("auth/token", api.TokenObtainApi.as_view(), name="api-token"),
    path("auth/token/revoke-all", api.TokenRevokeAllApi.as_view(), name="api-token-revoke-all"),
    path("me", api.MeApi.as_view(), name="api-me"),
    path("me/labels", api.MyLabelsApi.as_view(), name="api-my-labels"),
    path("me/quality", quality_api.MyQualityApi.as_view(), name="api-my-quality"),
    path("quality/labels", quality_api.QualityLabelExportApi.as_view(), name="api-quality-labels"),
    path("quality/golden", quality_api.QualityGoldenExportApi.as_view(), name="api-quality-golden"),
    path("quality/aggregated", quality_api.QualityAggregatedExportApi.as_view(), name="api-quality-aggregated"),
    path("quality/report", quality_api.QualityReportApi.as_view(), name="api-quality-report"),
    path("queues", api.QueueListApi.as_view(), name="api-queues"),
    path("queues/<int:queue_id>/claim", api.QueueClaimApi.as_view(), name="api-queue-claim"),
    path("queues/<int:queue_id>/tasks", api.QueueTasksApi.as_view(), name="api-queue-tasks"),
    path("assignments/<int:assignment_id>/submit", api.AssignmentSubmitApi.as_view(), name="api-assignment-submit"),
    path("assignments/<int:assignment_id>/submit-and-claim", api.AssignmentSubmitAndClaimApi.as_view(),
         name="api-assignment-submit-and-claim"),
    path("assignments/<int:assignment_id>/skip", api.AssignmentSkipApi.as_view(), name="api-assignment-skip"),
    path("tasks/<int:task_id>/golden-answer", golden_api.GoldenAnswerApi.as_view(), name="api-golden-answer"),
    path("golden-sets", golden_api.GoldenSetListApi.as_view(), name="api-golden-sets"),
    path("golden-sets/<int:set_id>/items", golden_api.GoldenSetItemsApi.as_view(), name="api-golden-set-items"),
    path("golden-sets/<int:set_id>/export", golden_api.GoldenSetExportApi.as_view(), name="api-golden-set-export"),
    path("golden-sets/<int:set_id>/import", golden_api.GoldenSetImportApi.as_view(), name="api-golden-set-import"),
    path("golden-items/<int:item_id>", golden_api.GoldenItemApi.as_view(), name="api-golden-item"),
    path("queues/<int:queue_id>/qualification", api_qualification.QualificationStatusApi.as_view(),
         name="api-qualification-status"),
    path("queues/<int:queue_id>/qualification/start", api_qualification.QualificationStartApi.as_view(),
         name="api-qualification-start"),
    path("queues/<int:queue_id>/qualification/answer", api_qualification.QualificationAnswerApi.as_view(),
         name="api-qualification-answer"),
    path("me/feedback/<int:feedback_id>/read", api_qualification.FeedbackReadApi.as_view(), name="api-feedback-read"),
    path("labelers/<int:user_id>/flags/clear", api_qualification.LabelerFlagClearApi.as_view(),
         name="api-labeler-flag-clear"),
    path("guides", api_guides.GuideListApi.as_view(), name="api-guides"),
    path("guides/preview", api_guides.GuidePreviewApi.as_view(), name="api-guide-preview"),
    path("guides/<str:task_kind>/versions", api_guides.GuideVersionsApi.as_view(), name="api-guide-versions"),
    path("audit-events", api_guides.AuditEventExportApi.as_view(), name="api-audit-events"),
    path("pair-imports", imports_api.PairImportListCreateApi.as_view(), name="api-pair-imports"),
    path("pair-imports/<int:import_id>", imports_api.PairImportDetailApi.as_view(), name="api-pair-import"),
    path("data-imports", data_api.DataImportListCreateApi.as_view(), name="api-data-imports"),
    path("data-imports/<int:data_import_id>", data_api.DataImportDetailApi.as_view(), name="api-data-import"),
    path("exports", exports_api.ExportListCreateApi.as_view(), name="api-exports"),
    path("exports/<int:export_id>", exports_api.ExportDetailApi.as_view(), name="api-export"),
    path("exports/<int:export_id>/download", exports_api.ExportDownloadApi.as_view(), name="api-export-download"),
    path("exports/<int:export_id>/rebuild", exports_api.ExportRebuildApi.as_view(), name="api-export-rebuild"),
    path("export-formats", exports_api.ExportFormatListApi.as_view(), name="api-export-formats"),
]
