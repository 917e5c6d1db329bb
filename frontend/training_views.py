"""Training job pages (engineers): start a job from exports, follow its progress and loss curve,
cancel it, and go on to its new version and an end-to-end run against its parent. Thin: parse
input, call evaluation.training / evaluation.training_selectors, shape the loss curve for
frontend/charts.py."""
from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from evaluation import model_selectors, training, training_selectors
from evaluation.models import ModelKind, ModelVersion, TrainingJob, TrainingJobStatus
from labeling.models import ExportJob, Role
from labeling.permissions import role_required

from frontend import charts

API_PREFIX = "/api/v1"
JOBS_PER_PAGE = 25
JOB_STARTED = "Training job #{id} started: a GPU worker runs it."
JOB_CANCEL_ASKED = "Cancelling: the job stops at its next step."
STATUS_CLASS = {TrainingJobStatus.PENDING: "pending", TrainingJobStatus.RUNNING: "generating",
                TrainingJobStatus.DONE: "labeling", TrainingJobStatus.FAILED: "failed",
                TrainingJobStatus.CANCELLED: "failed"}
ACTIVE = (TrainingJobStatus.PENDING, TrainingJobStatus.RUNNING)
# line_chart draws over time; step n is placed at this moment plus n seconds, then labelled as n.
STEP_ORIGIN = datetime(2000, 1, 1)
LOSS_TICKS = 5


class _ParentSelect(forms.Select):
    """Parent versions tagged with their kind (``data-kind``), as are the exports below, so that
    training_form.js offers a detector's parents and exports only for a detector job (the server
    checks the match anyway)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-kind"] = instance.kind
        return option


class _ExportCheckboxes(forms.CheckboxSelectMultiple):
    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-kind"] = next((kind for kind, formats in training.TRAINING_FORMATS.items()
                                                 if instance.format in formats), "")
        return option


class TrainingJobForm(forms.Form):
    kind = forms.ChoiceField(choices=ModelKind.choices)
    name = forms.CharField(max_length=200, help_text="What this version is trained on, e.g. \"cleaned pairs\".")
    parent = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), empty_label=None, widget=_ParentSelect,
                                    help_text="Fine-tuned from this version; the finished job offers an E2E run "
                                              "against it.")
    exports = forms.ModelMultipleChoiceField(
        queryset=ExportJob.objects.none(), widget=_ExportCheckboxes,
        help_text="Finished exports: COCO detection or single-product for a detector, matching or attributes for an "
                  "embedder.")
    version_tag = forms.CharField(max_length=40, required=False, help_text="Empty: the parent's tag plus .1, .2, ...")
    steps = forms.IntegerField(min_value=1, max_value=100000, required=False, help_text="Empty: 200 (detector), 300 (embedder).")
    batch_size = forms.IntegerField(min_value=1, max_value=512, required=False)
    lr = forms.FloatField(min_value=1e-7, max_value=10.0, required=False, label="Learning rate")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = training_selectors.training_parents()
        self.fields["parent"].label_from_instance = lambda v: f"{v.get_kind_display()}: {v.name} {v.version_tag}"
        self.fields["exports"].queryset = training_selectors.training_exports_available()
        self.fields["exports"].label_from_instance = lambda e: f"#{e.pk} {e.name} ({e.format})"

    def params(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("steps", "batch_size", "lr", "seed")
                if self.cleaned_data.get(key) is not None}


def _row(job: TrainingJob) -> dict:
    return {"job": job, "status_class": STATUS_CLASS.get(job.status, "pending"),
            "share": job.steps_done / job.steps_total if job.steps_total else 0.0}


@role_required(Role.ENGINEER)
def training_job_list(request):
    form = TrainingJobForm(request.POST or None, initial={"kind": request.GET.get("kind", ModelKind.EMBEDDER)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = training.training_job_create(kind=data["kind"], name=data["name"], parent=data["parent"],
                                               exports=list(data["exports"]), version_tag=data["version_tag"],
                                               params=form.params(), created_by=request.user)
        except training.TrainingJobError as refusal:
            field = refusal.field if refusal.field in form.fields else None
            form.add_error(field, str(refusal))
        else:
            messages.success(request, JOB_STARTED.format(id=job.pk))
            return redirect("frontend:training-job-detail", job_id=job.pk)
    page = Paginator(training_selectors.training_job_list(), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "frontend/training_jobs.html", {
        "nav_section": "training", "form": form, "page": page, "rows": [_row(job) for job in page]})


def loss_chart(job: TrainingJob) -> dict:
    """The loss curve against the step, drawn by ``charts.line_chart`` with steps in place of time."""
    points = [(STEP_ORIGIN + timedelta(seconds=point["step"]), {"value": point["loss"], "n": point["step"]})
              for point in job.loss_curve]
    highest = max((point["loss"] for point in job.loss_curve), default=1.0) or 1.0
    top = highest * 1.05
    steps = [point["step"] for point in job.loss_curve]
    tick_steps = sorted({steps[int(i * (len(steps) - 1) / 4)] for i in range(5)}) if steps else []
    chart = charts.line_chart(
        chart_id=f"loss-{job.pk}", title="Training loss", y_label="Loss", x_label="step",
        series=[{"name": "loss", "points": points}], domain=(0.0, top),
        span=(STEP_ORIGIN + timedelta(seconds=steps[0]), STEP_ORIGIN + timedelta(seconds=steps[-1])) if steps else None,
        tick_moments=[STEP_ORIGIN + timedelta(seconds=s) for s in tick_steps],
        as_text=lambda value: "–" if value is None else f"{value:.3f}",
        y_tick_values=[top * i / (LOSS_TICKS - 1) for i in range(LOSS_TICKS)])
    if chart["empty"]:
        return chart
    for tick, step in zip(chart["x_ticks"], tick_steps):
        tick["text"] = str(step)
    for point, (step, loss) in zip(chart["series"][0]["points"], ((p["step"], p["loss"]) for p in job.loss_curve)):
        point["title"] = f"step {step}: loss {loss:.4f}"
    for row, step in zip(chart["table"]["rows"], steps):
        row["moment"] = f"step {step}"
    return chart


def e2e_link(job: TrainingJob) -> dict | None:
    """The new-run form with the new version in place of its parent, the latest run that used the
    parent as baseline, on that run's scene set."""
    if job.model_version_id is None:
        return None
    baseline = model_selectors.model_version_runs(version=job.parent).first()
    query = {"name": f"{job.model_version.name} {job.model_version.version_tag} vs {job.parent.version_tag}"}
    if baseline is not None:
        query |= {"baseline": baseline.pk, "scene_set": baseline.scene_set_id, "detector": baseline.detector_id,
                  "embedder": baseline.embedder_id}
    query[job.kind] = job.model_version_id
    return {"href": reverse("frontend:eval-run-new") + "?" + urlencode(query), "baseline": baseline}


@role_required(Role.ENGINEER)
def training_job_detail(request, job_id: int):
    try:
        job = training_selectors.training_job_get(job_id=job_id)
    except TrainingJob.DoesNotExist:
        raise Http404("No training job with this id.") from None
    if request.method == "POST":
        try:
            training.training_job_cancel(job=job)
        except training.TrainingJobError as refusal:
            messages.error(request, str(refusal))
        else:
            messages.success(request, JOB_CANCEL_ASKED)
        return redirect("frontend:training-job-detail", job_id=job.pk)
    return render(request, "frontend/training_job_detail.html", {
        "nav_section": "training", "job": job, "row": _row(job), "chart": loss_chart(job),
        "active": job.status in ACTIVE, "status_url": f"{API_PREFIX}/training-jobs/{job.pk}",
        "e2e": e2e_link(job)})
