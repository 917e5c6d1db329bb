"""The staff pages of training-data exports: the list with a form to start one, and one export's
page with its progress bar (export_progress.js polls GET /api/v1/exports/<id>), provenance,
report, download and rebuild. Thin: the form parses, ``export_job_create`` decides and enqueues."""
from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from labeling.exports import selectors
from labeling.exports.jobs import EXPORT_NAME_MAX_LENGTH, export_job_create, export_job_rebuild
from labeling.exports.registry import ExportParamsError, export_formats
from labeling.models import JobStatus, Queue, Role, TaskKind
from labeling.permissions import role_required

API_PREFIX = "/api/v1"
EXPORTS_PER_PAGE = 20
EXPORT_STARTED = "Export “{name}” started."
EXPORT_REBUILT = "Rebuild of “{name}” started: it reads the same labels, so its file will have the same sha256."
EXTRA_PARAMS_INVALID = "Extra parameters must be a JSON object."
STATUS_CLASS = {JobStatus.PENDING: "pending", JobStatus.RUNNING: "generating", JobStatus.DONE: "labeling",
                JobStatus.FAILED: "failed"}
# Which form fields each format reads; a format not listed here takes its params from "extra".
QUEUE_FORMATS = {"coco_detection": TaskKind.BOUNDING_BOXES, "matching": TaskKind.MATCHING_PAIR,
                 "attributes": TaskKind.ATTRIBUTES}


class ExportForm(forms.Form):
    format = forms.ChoiceField()
    name = forms.CharField(max_length=EXPORT_NAME_MAX_LENGTH)
    queues = forms.TypedMultipleChoiceField(coerce=int, required=False,
                                            help_text="Box queues for COCO, cleanup queues for matching, attribute "
                                                      "queues for attributes.")
    rollup = forms.ChoiceField(choices=[("fine", "fine (taxonomy slugs: the detector trainer)"),
                                        ("coarse", "coarse (outside tools)")], initial="fine", required=False,
                               label="COCO rollup")
    keep_similar = forms.BooleanField(required=False, initial=True, label="Matching: keep similar items")
    product_images = forms.BooleanField(required=False, initial=True, label="Matching: add each product's photo",
                                        help_text="The gallery side of each pair, as the embedder is served.")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0, required=False, label="Attributes: split seed")
    eval_run = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Qrels: evaluation run")
    extra = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Extra parameters",
                            help_text="JSON object, for formats that take other parameters.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        formats = export_formats()
        self.fields["format"].choices = [(name, formats[name].label) for name in sorted(formats)]
        self.fields["queues"].choices = [(q.pk, f"{q.name} ({q.get_task_kind_display()})") for q in
                                         Queue.objects.filter(task_kind__in=QUEUE_FORMATS.values()).order_by("-pk")]
        from evaluation.models import EvalRun

        self.fields["eval_run"].choices = [("", "–")] + [(r.pk, r.name) for r in
                                                         EvalRun.objects.filter(queue__isnull=False).order_by("-pk")]

    def clean_extra(self):
        text = self.cleaned_data.get("extra") or ""
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise forms.ValidationError(EXTRA_PARAMS_INVALID)
        return value

    def params(self) -> dict:
        data, format = self.cleaned_data, self.cleaned_data["format"]
        params = dict(data["extra"])
        if format in QUEUE_FORMATS:
            params["queues"] = data["queues"]
        if format == "coco_detection":
            params["rollup"] = data["rollup"] or "fine"
        if format == "matching":
            params["keep_similar"] = data["keep_similar"]
            params["product_images"] = data["product_images"]
        if format == "attributes":
            params["seed"] = data["seed"] or 0
        if format == "trec_qrels" and data["eval_run"] is not None:
            params["eval_run"] = data["eval_run"]
        return params


def _status_class(job) -> str:
    return STATUS_CLASS.get(job.status, "pending")


@role_required(Role.EXPERT, Role.ENGINEER)
def export_list(request):
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = export_job_create(format=form.cleaned_data["format"], name=form.cleaned_data["name"],
                                    params=form.params(), created_by=request.user)
        except ExportParamsError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, EXPORT_STARTED.format(name=job.name))
            return redirect("frontend:export-detail", export_id=job.pk)
    page = Paginator(selectors.export_job_list(), EXPORTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"job": job, "status_class": _status_class(job),
             "share": 1.0 if job.status == JobStatus.DONE else (job.items_done / job.items_total
                                                                if job.items_total else 0.0)} for job in page]
    return render(request, "frontend/exports.html", {"nav_section": "exports", "form": form, "rows": rows,
                                                     "page": page})


@role_required(Role.EXPERT, Role.ENGINEER)
def export_detail(request, export_id: int):
    job = get_object_or_404(selectors.export_job_list(), pk=export_id)
    if request.method == "POST":
        rebuilt = export_job_rebuild(job=job, created_by=request.user)
        messages.success(request, EXPORT_REBUILT.format(name=job.name))
        return redirect("frontend:export-detail", export_id=rebuilt.pk)
    export_format = export_formats().get(job.format)
    return render(request, "frontend/exports_detail.html", {
        "nav_section": "exports",
        "job": job,
        "format_label": export_format.label if export_format else job.format,
        "status_class": _status_class(job),
        "share": 1.0 if job.status == JobStatus.DONE else (job.items_done / job.items_total if job.items_total else 0.0),
        "live": job.status in (JobStatus.PENDING, JobStatus.RUNNING),
        "status_url": f"{API_PREFIX}/exports/{job.pk}",
        "download_url": reverse("api-export-download", args=[job.pk]) if job.status == JobStatus.DONE else None,
        "params_json": json.dumps(job.params, indent=2, sort_keys=True),
        "provenance_json": json.dumps(job.provenance, indent=2, sort_keys=True),
        "report_json": json.dumps(job.report, indent=2, sort_keys=True),
    })
