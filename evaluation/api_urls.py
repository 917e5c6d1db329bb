from django.urls import path

from evaluation.api import (BoxQueueJobApi, EvalRunDetailApi, EvalRunListCreateApi, EvalRunQrelsApi, EvalRunTrecRunApi,
                            ModelVersionListCreateApi, SceneSetListApi)
from evaluation.comparison_api import EvalRunCompareApi
from evaluation.training_api import TrainingJobCancelApi, TrainingJobDetailApi, TrainingJobListCreateApi
from evaluation.model_api import ModelVersionDetailApi, OfflineEvaluationCreateApi, OfflineEvaluationDetailApi

urlpatterns = [
    path("eval-runs", EvalRunListCreateApi.as_view(), name="eval-run-list"),
    path("eval-runs/<int:run_id>", EvalRunDetailApi.as_view(), name="eval-run-detail"),
    path("eval-runs/compare", EvalRunCompareApi.as_view(), name="eval-run-compare"),
    path("eval-runs/<int:run_id>/qrels", EvalRunQrelsApi.as_view(), name="eval-run-qrels"),
    path("eval-runs/<int:run_id>/trec-run", EvalRunTrecRunApi.as_view(), name="eval-run-trec-run"),
    path("model-versions", ModelVersionListCreateApi.as_view(), name="model-version-list"),
    path("model-versions/<int:version_id>", ModelVersionDetailApi.as_view(), name="model-version-detail"),
    path("model-versions/<int:version_id>/offline-evaluations", OfflineEvaluationCreateApi.as_view(),
         name="model-version-offline-evaluations"),
    path("offline-evaluations/<int:evaluation_id>", OfflineEvaluationDetailApi.as_view(), name="offline-evaluation-detail"),
    path("training-jobs", TrainingJobListCreateApi.as_view(), name="training-job-list"),
    path("training-jobs/<int:job_id>", TrainingJobDetailApi.as_view(), name="training-job-detail"),
    path("training-jobs/<int:job_id>/cancel", TrainingJobCancelApi.as_view(), name="training-job-cancel"),
    path("scene-sets", SceneSetListApi.as_view(), name="scene-set-list"),
    path("box-queues/<int:queue_id>", BoxQueueJobApi.as_view(), name="box-queue-job"),
]
