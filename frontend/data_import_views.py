"""The staff page of catalogue and COCO imports: the list with each import's progress, result and
refused rows, and an upload form. Thin: the form parses, ``data_import_create`` decides and
enqueues the run; the page's script follows running imports through GET /api/v1/data-imports/<id>."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from labeling.imports import selectors
from labeling.imports.catalogue import FORMATS
from labeling.imports.data_jobs import DATA_FILE_MAX_BYTES, FILE_TOO_LARGE, DataImportError, data_import_create
from labeling.imports.stl_pairs import IMAGE_SOURCE_MAX_LENGTH, NAME_MAX_LENGTH, WORLD_SOURCE
from labeling.models import DataImportKind, GoldenSet, JobStatus, Queue, Role, TaskKind
from labeling.permissions import role_required

API_PREFIX = "/api/v1"
IMPORTS_PER_PAGE = 20
ERRORS_SHOWN = 20
IMPORT_STARTED = "Import “{name}” started: its {lines} rows are being checked."
STATUS_CLASS = {JobStatus.PENDING: "pending", JobStatus.RUNNING: "generating", JobStatus.DONE: "labeling",
                JobStatus.FAILED: "failed"}
# What a done import's result shows, in this order (labeling/imports/IMPORTS.md).
RESULT_LABELS = (("products_created", "products created"), ("products_updated", "updated"),
                 ("products_unchanged", "unchanged"), ("images", "images"), ("boxes", "boxes"),
                 ("tasks_created", "tasks created"), ("tasks_existing", "tasks already there"),
                 ("items_created", "golden items created"), ("items_revised", "revised"),
                 ("items_unchanged", "unchanged"), ("crowd_left_out", "crowd boxes left out"))
TARGET_CHOICES = [("", "—"), ("tasks", "Box tasks to label"), ("golden", "A golden set")]


class DataImportForm(forms.Form):
    kind = forms.ChoiceField(choices=DataImportKind.choices, label="Kind")
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    file = forms.FileField(help_text="A catalogue: CSV with a header row (id, image, category, gender, price, merchant, "
                                     "merchant_provided_category) or JSON lines. COCO: a detection JSON.")
    image_source = forms.CharField(max_length=IMAGE_SOURCE_MAX_LENGTH, initial=WORLD_SOURCE,
                                   help_text=f"“{WORLD_SOURCE}” for the synthetic world's ids, or a folder under "
                                             "PAIR_IMAGE_ROOT holding <id>.jpg or <id>.png.")
    format = forms.ChoiceField(choices=[("", "From the file name")] + [(f, f) for f in FORMATS], required=False,
                               label="Catalogue format")
    target = forms.ChoiceField(choices=TARGET_CHOICES, required=False, label="COCO target")
    queue = forms.ModelChoiceField(queryset=Queue.objects.none(), required=False, label="Box queue",
                                   help_text="COCO into tasks: one task per image, its boxes as proposals.")
    golden_set = forms.ModelChoiceField(queryset=GoldenSet.objects.none(), required=False, label="Box golden set",
                                        help_text="COCO into a golden set: the boxes are the answer.")
    skip_unmapped = forms.BooleanField(required=False, label="Leave out unmapped categories",
                                       help_text="COCO: boxes whose category maps onto no taxonomy category are "
                                                 "left out (and listed) instead of refusing the file.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = Queue.objects.filter(task_kind=TaskKind.BOUNDING_BOXES).order_by("name")
        self.fields["golden_set"].queryset = GoldenSet.objects.filter(
            task_kind=TaskKind.BOUNDING_BOXES).order_by("name")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > DATA_FILE_MAX_BYTES:
            raise forms.ValidationError(FILE_TOO_LARGE.format(limit=DATA_FILE_MAX_BYTES))
        return upload

    def options(self) -> dict:
        data = self.cleaned_data
        options = {"image_source": data["image_source"], "skip_unmapped": data.get("skip_unmapped", False)}
        for key in ("format", "target"):
            if data.get(key):
                options[key] = data[key]
        for key in ("queue", "golden_set"):
            if data.get(key) is not None:
                options[key] = data[key].pk
        return options


def _result_items(result: dict) -> list[tuple[str, object]]:
    return [(label, result[key]) for key, label in RESULT_LABELS if key in result]


def _rows(page) -> list[dict]:
    return [{
        "job": job,
        "status_class": STATUS_CLASS.get(job.status, "pending"),
        "share": job.lines_done / job.lines_total if job.lines_total else 0.0,
        "result_items": _result_items(job.result or {}),
        "target": job.result.get("queue") or job.result.get("golden_set") if job.result else "",
        "unmapped": (job.result or {}).get("unmapped_categories") or {},
        "errors_shown": job.errors[:ERRORS_SHOWN],
        "errors_hidden": max(0, len(job.errors) - ERRORS_SHOWN),
        "live": job.status in (JobStatus.PENDING, JobStatus.RUNNING),
        "status_url": f"{API_PREFIX}/data-imports/{job.pk}",
    } for job in page]


@role_required(Role.EXPERT, Role.ENGINEER)
def data_import_list(request):
    form = DataImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = data_import_create(kind=form.cleaned_data["kind"], name=form.cleaned_data["name"], data=upload.read(),
                                     file_name=upload.name or "", options=form.options(), created_by=request.user)
        except DataImportError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, IMPORT_STARTED.format(name=job.name, lines=job.lines_total))
            return redirect("frontend:data-import-list")
    page = Paginator(selectors.data_import_list(), IMPORTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = _rows(page)
    return render(request, "frontend/data_imports.html", {
        "nav_section": "overview",
        "form": form,
        "rows": rows,
        "page": page,
        "folders": selectors.pair_image_folders(),
        "any_live": any(row["live"] for row in rows),
    })
