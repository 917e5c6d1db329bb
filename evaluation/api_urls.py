from django.urls import path

from evaluation.api import BoxQueueJobApi, EvalRunDetailApi, EvalRunListCreateApi, ModelVersionListCreateApi, SceneSetListApi

urlpatterns = [
    path("eval-runs", EvalRunListCreateApi.as_view(), name="eval-run-list"),
    path("eval-runs/<int:run_id>", EvalRunDetailApi.as_view(), name="eval-run-detail"),
    path("model-versions", ModelVersionListCreateApi.as_view(), name="model-version-list"),
    path("scene-sets", SceneSetListApi.as_view(), name="scene-set-list"),
    path("box-queues/<int:queue_id>", BoxQueueJobApi.as_view(), name="box-queue-job"),
]
