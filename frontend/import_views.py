"""The staff page of creator-pair imports: the list with each import's progress and refused lines,
and an upload form. Thin: the form parses, ``pair_import_create`` decides and enqueues the run; the
page's script follows running imports through GET /api/v1/pair-imports/<id>."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from labeling.imports import selectors
from labeling.imports.stl_pairs import (CATEGORIES_MAX_BYTES, CATEGORIES_TOO_LARGE, FILE_TOO_LARGE,
                                        IMAGE_SOURCE_MAX_LENGTH, NAME_MAX_LENGTH, PAIR_FILE_MAX_BYTES, WORLD_SOURCE,
                                        PairImportError, pair_import_create)
from labeling.models import PairImportStatus, Role
from labeling.permissions import role_required

API_PREFIX = "/api/v1"
IMPORTS_PER_PAGE = 20
ERRORS_SHOWN = 20
IMPORT_STARTED = "Import “{name}” started: its {lines} lines are being checked."
# The stylesheet's status colours (app.css): pending and failed as they are, the others like a run's.
STATUS_CLASS = {PairImportStatus.PENDING: "pending", PairImportStatus.RUNNING: "generating",
                PairImportStatus.DONE: "labeling", PairImportStatus.FAILED: "failed"}


class PairImportForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    image_source = forms.CharField(max_length=IMAGE_SOURCE_MAX_LENGTH, initial=WORLD_SOURCE,
                                   help_text=f"“{WORLD_SOURCE}” for the synthetic world's ids, or a folder under "
                                             "PAIR_IMAGE_ROOT holding <id>.jpg or <id>.png.")
    file = forms.FileField(label="Pairs (JSON lines)",
                           help_text='One {"product", "scene", "bbox": [left, top, right, bottom]} per line, '
                                     "normalised to [0, 1].")
    categories = forms.FileField(required=False, label="Categories (optional)",
                                 help_text="A JSON object: product id → Google Product Taxonomy path.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > PAIR_FILE_MAX_BYTES:
            raise forms.ValidationError(FILE_TOO_LARGE.format(limit=PAIR_FILE_MAX_BYTES))
        return upload

    def clean_categories(self):
        upload = self.cleaned_data.get("categories")
        if upload is not None and upload.size > CATEGORIES_MAX_BYTES:
            raise forms.ValidationError(CATEGORIES_TOO_LARGE.format(limit=CATEGORIES_MAX_BYTES))
        return upload


def _rows(page) -> list[dict]:
    return [{
        "job": job,
        "status_class": STATUS_CLASS.get(job.status, "pending"),
        "share": job.lines_done / job.lines_total if job.lines_total else 0.0,
        "pairs_existing": job.lines_total - job.pairs_created if job.status == PairImportStatus.DONE else None,
        "errors_shown": job.errors[:ERRORS_SHOWN],
        "errors_hidden": max(0, len(job.errors) - ERRORS_SHOWN),
        "live": job.status in (PairImportStatus.PENDING, PairImportStatus.RUNNING),
        "status_url": f"{API_PREFIX}/pair-imports/{job.pk}",
    } for job in page]


@role_required(Role.EXPERT, Role.ENGINEER)
def pair_import_list(request):
    form = PairImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        categories = form.cleaned_data.get("categories")
        try:
            job = pair_import_create(name=form.cleaned_data["name"], data=form.cleaned_data["file"].read(),
                                     image_source=form.cleaned_data["image_source"],
                                     categories=categories.read() if categories is not None else None,
                                     created_by=request.user)
        except PairImportError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, IMPORT_STARTED.format(name=job.name, lines=job.lines_total))
            return redirect("frontend:pair-import-list")
    page = Paginator(selectors.pair_import_list(), IMPORTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = _rows(page)
    return render(request, "frontend/pair_imports.html", {
        "nav_section": "overview",
        "form": form,
        "rows": rows,
        "page": page,
        "folders": selectors.pair_image_folders(),
        "any_live": any(row["live"] for row in rows),
    })
