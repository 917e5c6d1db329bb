"""Pages. Thin: check the role, call one selector or service, render. The work page's work (claim,
submit, skip) runs in the browser against the public REST API, the same path outside clients use;
what differs per task kind comes from the kind's spec (labeling/task_kinds/)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from evaluation import selectors as evaluation_selectors
from evaluation.models import EvalRun
from evaluation.services import EvalRunError, eval_run_create
from evaluation.attribute_queues import (AttributeQueueError, attribute_queue_create, crops_from_box_queue,
                                         crops_from_pairs)
from evaluation.box_queues import BoxQueueError, box_queue_create
from evaluation.cleanup_queues import CleanupQueueError, cleanup_queue_create
from labeling.calibration import guide_selectors, qualification
from labeling.golden import selectors as golden_selectors
from labeling.models import AggregationMethod, Queue, Role
from labeling.task_kinds import task_kind_spec
from labeling.permissions import role_required, user_has_role
from labeling.services.attribute_schema import AttributeSchemaError, attribute_create, attribute_value_add
from labeling.selectors import queues_open_to
from labeling.services.queue_engine import QueueEngineError, queue_check_open
from labeling.services.queues import QueueReplicationError, queue_settings_update

from frontend import selectors
from frontend.compare_views import run_significance_context
from frontend.model_views import model_version_list_context
from frontend.forms import (AttributeForm, AttributeQueueForm, AttributeValueForm, BoxQueueForm, CleanupQueueForm,
                            EvalRunForm, QueueSettingsForm, SignInForm)

API_PREFIX = "/api/v1"
NO_WEB_EDITOR = "There is no web editor for {kind} tasks yet; label this queue through the API."
TASKS_PER_PAGE = 50
ATTRIBUTE_SCHEMA_EXPERTS_ONLY = "Only experts and admins change the attribute schema."


class SignInView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = False
    authentication_form = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.signin_refusal is not None:
            # The page shows the wait in the form; scripts get the status and header they know.
            response.status_code = 429
            response["Retry-After"] = str(form.signin_refusal.retry_after)
        return response


class SignOutView(LogoutView):
    pass


@login_required
def home(request):
    user = request.user
    if user.is_superuser or user.role == Role.ADMIN:
        return render(request, "frontend/admin_home.html", {"nav_section": "home"})
    if user.role == Role.ENGINEER:
        return redirect("frontend:eval-run-list")
    if user.role == Role.EXPERT:
        return redirect("frontend:expert-overview")
    return redirect("frontend:my-queues")


def _with_editor_flags(queues):
    """Mark each queue with whether its kind has a web editor (the kind's spec says)."""
    rows = list(queues)
    for queue in rows:
        queue.has_editor = task_kind_spec(queue.task_kind).editor_template is not None
    return rows


@role_required(Role.LABELER, Role.EXPERT)
def my_queues(request):
    queues = _with_editor_flags(queues_open_to(user=request.user).select_related("guide_version"))
    # "Qualify first" / "Flagged": the queues claim would refuse (labeling/calibration/qualification.py).
    gates = qualification.queue_gates_for(labeler=request.user, queues=queues)
    for queue in queues:
        queue.gate = gates.get(queue.pk)
    return render(request, "frontend/my_queues.html", {
        "nav_section": "queues",
        "queues": queues,
        "throughput": selectors.labeler_throughput(labeler=request.user),
    })


@role_required(Role.LABELER, Role.EXPERT)
def work_page(request, queue_id: int):
    """The generic labeling page: session.js plus the queue kind's editor."""
    queue = get_object_or_404(Queue.objects.select_related("guide_version__guide"), pk=queue_id)
    try:
        queue_check_open(queue=queue, labeler=request.user)
    except QueueEngineError as refusal:
        raise PermissionDenied(str(refusal)) from refusal
    spec = task_kind_spec(queue.task_kind)
    if spec.editor_template is None:
        raise Http404(NO_WEB_EDITOR.format(kind=spec.label))
    open_queue = queues_open_to(user=request.user).filter(pk=queue.pk).first()
    return render(request, "frontend/work.html", {
        "nav_section": "queues",
        "queue": queue,
        "kind_spec": spec,
        "guide_version": queue.guide_version,
        # The guide panel: the guide with its edge-case images, and the edge cases of its version and older.
        "guide_html": guide_selectors.guide_render(body=queue.guide_version.body) if queue.guide_version else "",
        "edge_case_groups": guide_selectors.edge_cases_for_guide(guide_version=queue.guide_version),
        "remaining": open_queue.available_for_me if open_queue else None,
        "editor_context": {**spec.editor_context(), "show_preannotations": queue.show_preannotations},
        "claim_url": f"{API_PREFIX}/queues/{queue.pk}/claim",
        "assignment_url_template": f"{API_PREFIX}/assignments/{{id}}/{{action}}",
        "queue_status_url": f"{API_PREFIX}/queues",
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def expert_overview(request):
    return render(request, "frontend/expert_overview.html", {
        "nav_section": "overview",
        "queues": selectors.queue_overview_rows(),
        "guides": selectors.guide_rows(),
        "golden_sets": golden_selectors.golden_set_list(),
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def queue_detail(request, queue_id: int):
    queue = selectors.queue_overview_row(queue_id=queue_id)
    if queue is None:
        raise Http404
    spec = task_kind_spec(queue.task_kind)
    tasks = Paginator(selectors.queue_task_rows(queue=queue), TASKS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "frontend/queue_detail.html", {
        "nav_section": "overview",
        "queue": queue,
        "kind_spec": spec,
        "can_label": user_has_role(request.user, Role.LABELER, Role.EXPERT) and spec.editor_template is not None,
        "golden_scores": golden_selectors.queue_golden_scores(queue=queue),
        "golden_sets": list(queue.golden_sets.all()),
        "box_job": selectors.box_job_of(queue=queue),
        "tasks": tasks,
        "job_status_url": f"{API_PREFIX}/box-queues/{queue.pk}",
        "settings_form": QueueSettingsForm(initial={
            "aggregation": queue.aggregation, "replication": queue.replication, "min_labels": queue.min_labels,
            "agreement_target": queue.agreement_target, "requires_qualification": queue.requires_qualification,
            "qualification_set": queue.qualification_set_id, "qualification_pass_mark": queue.qualification_pass_mark,
            "qualification_items": queue.qualification_items, "recalibration_window": queue.recalibration_window,
            "recalibration_threshold": queue.recalibration_threshold,
            "immediate_feedback": queue.immediate_feedback}),
    })


@role_required(Role.EXPERT, Role.ENGINEER)
@require_POST
def queue_settings(request, queue_id: int):
    queue = get_object_or_404(Queue, pk=queue_id)
    form = QueueSettingsForm(request.POST)
    if form.is_valid():
        try:
            queue_settings_update(queue=queue, **form.cleaned_data)
        except QueueReplicationError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, "Settings saved: they apply to the next claims and submits.")
            return redirect("frontend:queue-detail", queue_id=queue.pk)
    for field, errors in form.errors.items():
        label = (form.fields[field].label or field.replace("_", " ")) if field in form.fields else ""
        messages.error(request, f"{label.capitalize()}: {' '.join(errors)}" if label else " ".join(errors))
    return redirect("frontend:queue-detail", queue_id=queue.pk)


@role_required(Role.EXPERT, Role.ENGINEER)
def task_review(request, task_id: int):
    """Any task as staff see it: every labeler's answer, the consensus, and the golden answer."""
    review = selectors.task_review(task_id=task_id)
    if review is None:
        raise Http404
    spec = task_kind_spec(review.task.queue.task_kind)
    consensus = spec.consensus(payload=review.task.payload, answers=[answer for _, answer in review.labels])
    golden = review.golden_item.answer if review.golden_item else None
    comparisons = ([(name, spec.golden_compare(payload=review.task.payload, answer=answer, golden=golden))
                    for name, answer in review.labels] if golden is not None else [])
    return render(request, "frontend/task_review.html", {
        "nav_section": "overview",
        "task": review.task,
        "queue": review.task.queue,
        "kind_spec": spec,
        "labels": review.labels,
        "consensus": consensus,
        "golden_item": review.golden_item,
        "comparisons": comparisons,
        "review": spec.review_context(payload=review.task.payload, labels=review.labels, consensus=consensus,
                                      golden=golden),
        "can_make_golden": user_has_role(request.user, Role.EXPERT) and spec.editor_template is not None,
    })


@role_required(Role.EXPERT)
def golden_editor(request, task_id: int):
    """The kind's editor in expert mode: answer a task as golden, or fix a golden answer."""
    review = selectors.task_review(task_id=task_id)
    if review is None:
        raise Http404
    spec = task_kind_spec(review.task.queue.task_kind)
    if spec.editor_template is None:
        raise Http404(NO_WEB_EDITOR.format(kind=spec.label))
    item = review.golden_item
    return render(request, "frontend/golden_editor.html", {
        "nav_section": "overview",
        "task": review.task,
        "queue": review.task.queue,
        "kind_spec": spec,
        "golden_item": item,
        "editor_context": {**spec.editor_context(), "show_preannotations": False},
        "expert_task": {"id": review.task.pk, "kind": spec.kind,
                        "payload": spec.payload_for_labeler(payload=review.task.payload, show_preannotations=False)},
        "initial_answer": item.answer if item else None,
        "golden_answer_url": f"{API_PREFIX}/tasks/{review.task.pk}/golden-answer",
        "review_url": reverse("frontend:task-review", args=[review.task.pk]),
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def box_queue_new(request):
    form = BoxQueueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = box_queue_create(created_by=request.user, **form.cleaned_data)
        except BoxQueueError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            started = " The detector is pre-annotating its scenes." if job.detector_id else ""
            messages.success(request, f"Queue “{job.queue.name}” created with {job.scenes_total} scenes.{started}")
            return redirect("frontend:queue-detail", queue_id=job.queue_id)
    return render(request, "frontend/box_queue_new.html", {"nav_section": "overview", "form": form})


@role_required(Role.EXPERT, Role.ENGINEER)
def attribute_queue_new(request):
    form = AttributeQueueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["box_queue"] is not None:
                crops = crops_from_box_queue(queue=data["box_queue"], source=data["box_source"] or "consensus")
            else:
                crops = crops_from_pairs(pairs=data["pair_import"].pairs.select_related("scene"))
            queue = attribute_queue_create(name=data["name"], crops=crops, created_by=request.user,
                                           replication=data["replication"], golden_rate=data["golden_rate"],
                                           golden_sets=data["golden_sets"])
        except AttributeQueueError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, f"Queue “{queue.name}” created with {len(crops)} crops.")
            return redirect("frontend:queue-detail", queue_id=queue.pk)
    return render(request, "frontend/attribute_queue_new.html", {"nav_section": "overview", "form": form})


@role_required(Role.EXPERT, Role.ENGINEER)
def cleanup_queue_new(request):
    form = CleanupQueueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            queue = cleanup_queue_create(name=data["name"], pairs=data["pair_import"].pairs.all(),
                                         created_by=request.user, replication=data["replication"],
                                         golden_rate=data["golden_rate"], golden_sets=data["golden_sets"])
        except CleanupQueueError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, f"Queue “{queue.name}” created with {queue.tasks.count()} pairs.")
            return redirect("frontend:queue-detail", queue_id=queue.pk)
    return render(request, "frontend/cleanup_queue_new.html", {"nav_section": "overview", "form": form})


@role_required(Role.EXPERT, Role.ENGINEER)
def attribute_schema(request):
    """The attribute schema as validation reads it; experts (and admins) add values and attributes."""
    can_edit = user_has_role(request.user, Role.EXPERT)
    value_form, attribute_form = AttributeValueForm(prefix="value"), AttributeForm(prefix="attribute")
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(ATTRIBUTE_SCHEMA_EXPERTS_ONLY)
        adding_value = "value-attribute" in request.POST
        form = AttributeValueForm(request.POST, prefix="value") if adding_value else AttributeForm(
            request.POST, prefix="attribute")
        if form.is_valid():
            try:
                if adding_value:
                    attribute = attribute_value_add(**form.cleaned_data)
                    messages.success(request, f"“{form.cleaned_data['value']}” added to {attribute.label}.")
                else:
                    attribute = attribute_create(**form.cleaned_data)
                    messages.success(request, f"Attribute “{attribute.label}” added.")
            except AttributeSchemaError as refusal:
                form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
            else:
                return redirect("frontend:attribute-schema")
        if adding_value:
            value_form = form
        else:
            attribute_form = form
    return render(request, "frontend/attribute_schema.html", {
        "nav_section": "overview",
        "attributes": selectors.attribute_rows(),
        "can_edit": can_edit,
        "value_form": value_form,
        "attribute_form": attribute_form,
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def golden_set_list(request):
    return render(request, "frontend/golden_sets.html", {
        "nav_section": "overview",
        "golden_sets": golden_selectors.golden_set_list(),
        "can_write": user_has_role(request.user, Role.EXPERT),
    })


@role_required(Role.ENGINEER)
def model_version_list(request):
    return render(request, "frontend/model_versions.html", {"nav_section": "models", **model_version_list_context()})


# -- evaluation runs (engineers) ------------------------------------------------------------------

RUNS_PER_PAGE = 20
GAIN_NO_SHARED_SCENES = "No scene is judged in both this run and the baseline yet."
GAIN_BASELINE_ZERO = "The baseline scores 0 here, so a relative gain is undefined."
GAIN_NOT_JUDGED = "This run has no judged slots on the shared scenes yet."
METRIC_LABELS = (
    ("similar_p_at_5", "Similar P@5", False),
    ("extremely_similar_p_at_5", "Extremely Similar P@5", False),
    ("bad_rate", "Bad rate", True),
)


def _share(done: int, total: int) -> float:
    return done / total if total else 0.0


def _signed_percent(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _gain_view(gain: dict | None, *, lower_is_better: bool) -> dict | None:
    if gain is None:
        return None
    shaped = dict(gain)
    if gain.get("gain") is not None:
        shaped["gain_signed"] = _signed_percent(gain["gain"])
        # A falling Bad rate is the improvement, so its colour flips.
        shaped["better"] = (gain["gain"] < 0) if lower_is_better else (gain["gain"] >= 0)
    if gain.get("ci"):
        shaped["ci_text"] = f"{_signed_percent(gain['ci'][0])} to {_signed_percent(gain['ci'][1])}"
    if gain.get("p_value") is not None:
        # A sampled randomization p-value is only resolved to about 1/10,000; "0.000" would overclaim.
        shaped["p_text"] = "p<0.001" if gain["p_value"] < 0.001 else f"p={gain['p_value']:.3f}"
    if not gain.get("n_shared_scenes"):
        shaped["missing_reason"] = GAIN_NO_SHARED_SCENES
    elif not gain.get("baseline"):
        shaped["missing_reason"] = GAIN_BASELINE_ZERO
    else:
        shaped["missing_reason"] = GAIN_NOT_JUDGED
    return shaped


def _metric_cards(metrics: dict, gains: dict | None) -> list[dict]:
    cards = []
    for key, label, lower_is_better in METRIC_LABELS:
        interval = (metrics.get("ci") or {}).get(key)
        cards.append({
            "key": key, "label": label, "value": metrics.get(key), "ci": interval,
            "gain": _gain_view((gains or {}).get(key), lower_is_better=lower_is_better) if gains else None,
        })
    return cards


AGGREGATION_LABELS = dict(AggregationMethod.choices)


def _aggregation_rows(metrics: dict) -> list[dict]:
    """The run's overall figures under each aggregation method, the queue's own first."""
    chosen = metrics.get("aggregation")
    rows = []
    for method, block in (metrics.get("by_aggregation") or {}).items():
        rows.append({
            "method": method, "label": AGGREGATION_LABELS.get(method, method), "chosen": method == chosen,
            "n_judged": block.get("n_judged", 0),
            "cells": [{"value": block.get(key), "ci": (block.get("ci") or {}).get(key)} for key, _, _ in METRIC_LABELS],
        })
    return sorted(rows, key=lambda row: not row["chosen"])


def _per_category_rows(metrics: dict) -> list[dict]:
    rows = []
    for category, block in sorted((metrics.get("per_category") or {}).items()):
        rows.append({
            "category": category,
            "n_judged": block.get("n_judged", 0),
            "cells": [{"value": block.get(key), "ci": (block.get("ci") or {}).get(key)} for key, _, _ in METRIC_LABELS],
        })
    return rows


def _labels_progress(run) -> tuple[int, int]:
    """(labels stored, labels wanted in all) of the run's queue, golden tasks left out."""
    if run.queue_id is None:
        return 0, 0
    row = selectors.queue_overview_row(queue_id=run.queue_id)
    if row is None:
        return 0, 0
    return row.labels_stored, row.labels_stored + row.labels_wanted


@role_required(Role.ENGINEER)
def eval_run_list(request):
    # Metrics are computed per run (cached per label count), so the page shows a bounded number of runs.
    page = Paginator(evaluation_selectors.eval_run_list().select_related("baseline"), RUNS_PER_PAGE).get_page(
        request.GET.get("page"))
    queues = {row.pk: row for row in selectors.queue_overview_rows().filter(
        pk__in=[run.queue_id for run in page if run.queue_id])}
    rows = []
    for run in page:
        queue = queues.get(run.queue_id)
        labels_stored = queue.labels_stored if queue else 0
        labels_target = labels_stored + queue.labels_wanted if queue else 0
        rows.append({
            "run": run,
            "metrics": evaluation_selectors.eval_run_metrics(run=run) if labels_stored else None,
            "scene_share": _share(run.scenes_done, run.scenes_total),
            "labels_stored": labels_stored,
            "labels_target": labels_target,
            "label_share": _share(labels_stored, labels_target),
        })
    return render(request, "frontend/eval_run_list.html", {"nav_section": "runs", "rows": rows, "page": page})


@role_required(Role.ENGINEER)
def eval_run_new(request):
    # A new run is most often compared with the last one: start from its scene set and models.
    latest = evaluation_selectors.eval_run_list().first()
    initial = ({"scene_set": latest.scene_set_id, "detector": latest.detector_id, "embedder": latest.embedder_id,
                "baseline": latest.pk} if latest else {})
    # A finished training job links here with its new version and the run to compare it against.
    initial |= {key: request.GET[key] for key in ("detector", "embedder", "baseline", "scene_set", "name")
                if request.GET.get(key, "").strip()}
    form = EvalRunForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            run = eval_run_create(created_by=request.user, **form.cleaned_data)
        except EvalRunError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, f"Run “{run.name}” started: workers are generating its tasks.")
            return redirect("frontend:eval-run-detail", run_id=run.pk)
    return render(request, "frontend/eval_run_new.html", {"nav_section": "runs", "form": form})


@role_required(Role.ENGINEER)
def eval_run_detail(request, run_id: int):
    run = get_object_or_404(
        EvalRun.objects.select_related("scene_set", "detector", "embedder", "baseline", "queue", "created_by"),
        pk=run_id,
    )
    metrics = evaluation_selectors.eval_run_metrics(run=run)
    comparison = evaluation_selectors.eval_run_comparison(run=run)
    gains = comparison["gains"] if comparison else None
    labels_stored, labels_target = _labels_progress(run)
    return render(request, "frontend/eval_run_detail.html", {
        "nav_section": "runs",
        "run": run,
        "status_url": f"{API_PREFIX}/eval-runs/{run.pk}",
        "scene_share": _share(run.scenes_done, run.scenes_total),
        "labels_stored": labels_stored,
        "labels_target": labels_target,
        "label_share": _share(labels_stored, labels_target),
        "n_judged": metrics.get("n_judged", 0),
        "n_query_objects": metrics.get("n_query_objects", 0),
        "staff_labels": metrics.get("staff_labels", {"total": 0, "counted": 0}),
        "staff_labels_count": run.queue.staff_labels_count if run.queue_id else False,
        "metric_cards": _metric_cards(metrics, gains),
        "per_category": _per_category_rows(metrics),
        "aggregation_rows": _aggregation_rows(metrics),
        # The "Significance and planning" section: gains plot, compare link, sample-size planner.
        **run_significance_context(run=run, gains=gains),
        "reuse": evaluation_selectors.eval_run_reuse(run=run),
    })
