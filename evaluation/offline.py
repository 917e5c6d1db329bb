"""Offline evaluations of model versions: the synthetic world's test sets, no people.

``offline_evaluation_request`` (a web request) validates the parameters, stores the row and, on
commit, sends ``evaluation.tasks.offline_evaluation_run`` to the ``gpu`` queue;
``offline_evaluation_execute`` (that task) runs ``models_runtime.offline``, the same functions the
benchmark scripts call, recording its progress in the row as it goes. ``OFFLINE.md`` beside this
file says what each figure is and which test sets are used; keep the two in step.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from evaluation.models import ModelKind, ModelVersion, OfflineEvaluation, OfflineEvaluationStatus

# PyTorch and the world are imported inside offline_evaluation_execute: web processes import this
# module to validate a request and never run a model.

logger = logging.getLogger(__name__)

OFFLINE_PARAMETERS_NOT_OBJECT = "parameters must be a JSON object."
OFFLINE_PARAMETER_UNKNOWN = "{keys}: not a parameter of a {kind}'s offline evaluation, which takes {accepted}."
OFFLINE_PARAMETER_INVALID = "'{key}' must be a whole number from {minimum} to {maximum}."
OFFLINE_STEP_QUEUED = "Waiting for a GPU worker"
OFFLINE_STEP_LOADING = "Loading the model"
OFFLINE_STEP_DONE = "Done"
OFFLINE_ERROR_MAX_LENGTH = 4000
# A progress write per callback would be one UPDATE per scene; a bar polled every second or two
# needs far fewer.
PROGRESS_WRITE_SECONDS = 0.25


@dataclass(frozen=True)
class OfflineParameter:
    default: int
    minimum: int
    maximum: int
    help: str


# The job's defaults are small (well under a minute on two CPU cores for the shipped models); the
# benchmark scripts keep the larger sets of models_runtime.offline as theirs. Keys both kinds take
# have the same bounds, so the API can declare one schema for them.
SEED = OfflineParameter(0, 0, 2**31 - 1, "Seed of the synthetic world the test sets come from.")
N_PRODUCTS = OfflineParameter(2000, 40, 20000, "Products in the world's catalogue, which its scenes show.")
OFFLINE_PARAMETERS: dict[str, dict[str, OfflineParameter]] = {
    ModelKind.DETECTOR: {
        "seed": SEED,
        "n_products": N_PRODUCTS,
        "val_scenes": OfflineParameter(100, 1, 3000, "Validation scenes that choose the F1-optimal score threshold."),
        "test_scenes": OfflineParameter(80, 1, 3000, "Test scenes measured (mAP, precision, recall)."),
        "single_products": OfflineParameter(100, 0, 5000, "Held-out products photographed alone, each on white and "
                                                          "on a busy background (single-product mAP); 0 skips it."),
    },
    ModelKind.EMBEDDER: {
        "seed": SEED,
        "n_products": N_PRODUCTS,
        "query_scenes": OfflineParameter(80, 1, 2000, "Test scenes whose true boxes are the query crops."),
        "distractors": OfflineParameter(2000, 0, 20000, "Products added to the catalogue in the corpus, besides "
                                                        "the true ones."),
        "k_max": OfflineParameter(10, 1, 50, "Longest K of the top-K accuracy curve."),
    },
}


class OfflineEvaluationError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def offline_parameters_resolve(*, kind: str, parameters: dict | None) -> dict[str, int]:
    """The kind's defaults with ``parameters`` laid over them; every key must be the kind's and
    every value a whole number in its range (``3.0`` is one, ``true`` is not)."""
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise OfflineEvaluationError(OFFLINE_PARAMETERS_NOT_OBJECT, "parameters")
    specs = OFFLINE_PARAMETERS[kind]
    unknown = sorted(key for key in parameters if key not in specs)
    if unknown:
        raise OfflineEvaluationError(OFFLINE_PARAMETER_UNKNOWN.format(
            keys=", ".join(f"'{key}'" for key in unknown), kind=kind, accepted=", ".join(specs)), "parameters")
    resolved = {}
    for key, spec in specs.items():
        value = parameters.get(key, spec.default)
        whole = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer())
        if not whole or not spec.minimum <= value <= spec.maximum:
            raise OfflineEvaluationError(OFFLINE_PARAMETER_INVALID.format(
                key=key, minimum=spec.minimum, maximum=spec.maximum), "parameters")
        resolved[key] = int(value)
    return resolved


def offline_evaluation_request(*, model_version: ModelVersion, created_by, parameters: dict | None = None
                               ) -> OfflineEvaluation:
    """Store a pending offline evaluation of ``model_version``; a GPU worker runs it once committed."""
    resolved = offline_parameters_resolve(kind=model_version.kind, parameters=parameters)
    with transaction.atomic():
        evaluation = OfflineEvaluation.objects.create(
            model_version=model_version, parameters=resolved, created_by=created_by, step=OFFLINE_STEP_QUEUED)
        from evaluation.tasks import offline_evaluation_run

        transaction.on_commit(lambda: offline_evaluation_run.delay(evaluation.pk))
    return evaluation


class _ProgressWriter:
    """Writes the job's progress into its row, at most every PROGRESS_WRITE_SECONDS and always at the end."""

    def __init__(self, evaluation_id: int) -> None:
        self.evaluation_id = evaluation_id
        self.written_at = 0.0

    def __call__(self, done: int, total: int, step: str) -> None:
        now = time.monotonic()
        if done < total and now - self.written_at < PROGRESS_WRITE_SECONDS:
            return
        self.written_at = now
        OfflineEvaluation.objects.filter(pk=self.evaluation_id, status=OfflineEvaluationStatus.RUNNING).update(
            steps_done=done, steps_total=total, step=step[:200])


def _evaluate(evaluation: OfflineEvaluation, progress: _ProgressWriter) -> dict:
    from evaluation import runtime_cache
    from models_runtime import offline

    version = evaluation.model_version
    parameters = evaluation.parameters
    category_map = version.config.get("category_map") or None
    if version.kind == ModelKind.DETECTOR:
        model = runtime_cache.detector_for(version)
        scene_sets = {key: value for key, value in parameters.items() if key != "single_products"}
        singles = parameters.get("single_products", 0)
        scene_steps = scene_sets.get("val_scenes", 0) + scene_sets.get("test_scenes", 0) + 2
        single_steps = 2 * singles

        def scenes_progress(done: int, total: int, step: str) -> None:
            progress(done, total + single_steps, step)

        def singles_progress(done: int, total: int, step: str) -> None:
            progress(scene_steps + done, scene_steps + total, step)

        report = offline.detector_offline_evaluate(
            model, offline.DetectorTestSets(**scene_sets), category_map=category_map, progress=scenes_progress)
        if singles:
            single = offline.single_product_offline_evaluate(
                model, offline.SingleProductTestSets(seed=scene_sets["seed"], n_products=scene_sets["n_products"],
                                                     count=singles),
                category_map=category_map, progress=singles_progress)
            report.figures["single_product"] = single.figures
            report.seconds["single_product"] = single.seconds.get("detect", 0.0)
    else:
        model = runtime_cache.embedder_for(version)
        report = offline.embedder_offline_evaluate(
            model, offline.EmbedderTestSets(split="test", **parameters), category_map=category_map,
            progress=progress)
    return {"figures": report.figures, "seconds": report.seconds, "device": str(model.device)}


def offline_evaluation_execute(*, evaluation_id: int) -> str:
    """Run one offline evaluation and store its figures; returns the status it ends in.

    Safe to deliver twice: a done or failed evaluation is left as it is, and one left running by a
    worker that died is run again from the start (it takes a minute or so, so there is nothing
    worth resuming). Any error is recorded in the row as ``"<Type>: <message>"`` with status failed.
    """
    claimed = OfflineEvaluation.objects.filter(
        pk=evaluation_id, status__in=[OfflineEvaluationStatus.PENDING, OfflineEvaluationStatus.RUNNING],
    ).update(status=OfflineEvaluationStatus.RUNNING, started_at=timezone.now(), steps_done=0,
             step=OFFLINE_STEP_LOADING, error="", results={})
    evaluation = OfflineEvaluation.objects.select_related("model_version").get(pk=evaluation_id)
    if not claimed:
        return evaluation.status
    try:
        results = _evaluate(evaluation, _ProgressWriter(evaluation_id))
    except Exception as error:  # noqa: BLE001 - whatever broke, the engineer reads it on the page
        logger.exception("offline evaluation %s failed", evaluation_id)
        OfflineEvaluation.objects.filter(pk=evaluation_id).update(
            status=OfflineEvaluationStatus.FAILED, error=f"{type(error).__name__}: {error}"[:OFFLINE_ERROR_MAX_LENGTH],
            finished_at=timezone.now())
        return OfflineEvaluationStatus.FAILED
    OfflineEvaluation.objects.filter(pk=evaluation_id).update(
        status=OfflineEvaluationStatus.DONE, results=results, step=OFFLINE_STEP_DONE, finished_at=timezone.now())
    return OfflineEvaluationStatus.DONE
