"""The model registry pages (engineers): register a version, a version's page with its offline
evaluations, and versions of one kind compared side by side. Thin: parse input, call
evaluation.services / evaluation.offline / evaluation.model_selectors, shape figures into texts,
tables and charts (frontend/charts.py draws every plot)."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from evaluation import model_selectors
from evaluation import selectors as evaluation_selectors
from evaluation.models import ModelKind, ModelVersion, OfflineEvaluationStatus
from evaluation.offline import OfflineEvaluationError, offline_evaluation_request
from evaluation.services import ModelVersionError, model_version_register
from labeling.models import Role
from labeling.permissions import role_required

from frontend import charts, selectors
from frontend.forms_models import ModelVersionForm, OfflineEvaluationForm

API_PREFIX = "/api/v1"
COMPARE_TEMPLATE = "frontend/model_version_compare.html"
COMPARE_NONE_CHOSEN = "Choose two or more model versions of one kind to compare, e.g. ?versions=1,2."
COMPARE_NOT_AN_ID = "{value!r} is not a model version id."
COMPARE_UNKNOWN = "No model version {ids}."
COMPARE_MIXED_KINDS = "Compare versions of one kind: {names} are not all detectors or all embedders."
COMPARE_MOST = 8
OFFLINE_STARTED = "Offline evaluation #{id} started: a GPU worker runs it."
VERSION_REGISTERED = "{kind} “{name} {version_tag}” registered."
# The stylesheet colours run statuses; an offline evaluation's map onto them.
STATUS_CLASS = {OfflineEvaluationStatus.PENDING: "pending", OfflineEvaluationStatus.RUNNING: "generating",
                OfflineEvaluationStatus.DONE: "labeling", OfflineEvaluationStatus.FAILED: "failed"}
ACTIVE = (OfflineEvaluationStatus.PENDING, OfflineEvaluationStatus.RUNNING)
DETECTOR_SCALES = (("fine", "Fine (11 categories)"), ("coarse", "Coarse (rolled up)"),
                   ("single_product", "Single-product images (held-out products alone; mAP only)"))
DETECTOR_COLUMNS = (("map", "mAP@[.5:.95]"), ("map50", "mAP@0.5"), ("map75", "mAP@0.75"), ("threshold", "Threshold"),
                    ("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
ATTRIBUTE_LABELS = {"color": "Colour", "pattern": "Pattern", "fabric": "Fabric", "length": "Lower-body length",
                    "dress_style": "Dress style", "gender": "Gender"}
TOP_K_SHOWN = (5, 10)
# line_chart draws over time; K = 1, 2, ... is placed at this moment plus K minutes, then labelled as K.
K_ORIGIN = datetime(2000, 1, 1)
K_TICKS_MOST = 12


def _text(key: str, value) -> str:
    """A figure as text: shares in percent, the detector's score threshold and the code's bit balance as decimals."""
    if key in ("threshold", "bit_balance_mean"):
        return charts.decimal_text(value)
    return charts.percent_text(value)


def _figures(evaluation) -> dict:
    return (evaluation.results or {}).get("figures") or {} if evaluation is not None else {}


def figure_rows(kind: str, figures: dict) -> list[tuple[str, str, float | None]]:
    """``(label, key, value)`` of every headline figure of a kind, in the order the pages list them."""
    rows = []
    if kind == ModelKind.DETECTOR:
        for scale, scale_label in DETECTOR_SCALES:
            for key, label in DETECTOR_COLUMNS:
                rows.append((f"{label}, {scale_label.split(' ')[0].lower()}", key, (figures.get(scale) or {}).get(key)))
        return rows
    curve = figures.get("top_k_binary") or []
    rows += [("Retrieval P@1 (binary codes)", "p1", figures.get("retrieval_p1_binary")),
             ("Retrieval P@1 (float embeddings)", "p1", figures.get("retrieval_p1_float")),
             ("Retrieval P@1, catalogue only", "p1", figures.get("retrieval_p1_binary_catalogue_only"))]
    rows += [(f"Top-{k} accuracy (binary)", "top_k", curve[k - 1] if len(curve) >= k else None) for k in TOP_K_SHOWN]
    rows += [(f"{label} P@1", "attribute", (figures.get("attribute_p1") or {}).get(name))
             for name, label in ATTRIBUTE_LABELS.items()]
    rows += [("Category accuracy, queries", "category", figures.get("category_accuracy_queries")),
             ("Category accuracy, corpus", "category", figures.get("category_accuracy_corpus")),
             ("Bit balance of the codes", "bit_balance_mean", figures.get("bit_balance_mean"))]
    return rows


def headline(kind: str, results: dict | None) -> str:
    """One line for the registry list: the figure an engineer looks at first."""
    figures = (results or {}).get("figures") or {}
    if not figures:
        return ""
    if kind == ModelKind.DETECTOR:
        fine = figures.get("fine") or {}
        return f"mAP@0.5 {charts.percent_text(fine.get('map50'))} · recall {charts.percent_text(fine.get('recall'))}"
    return f"P@1 {charts.percent_text(figures.get('retrieval_p1_binary'))} of {figures.get('corpus_size', 0):,} products"


def top_k_chart(*, chart_id: str, title: str, series: list[dict]) -> dict:
    """Top-K accuracy against K (``series``: ``{"name", "curve": [accuracy at K = 1..], "n"}``),
    drawn by ``charts.line_chart`` with K in place of time."""
    k_most = max((len(entry["curve"]) for entry in series), default=0)
    moments = [K_ORIGIN + timedelta(minutes=k) for k in range(1, k_most + 1)]
    step = max(1, math.ceil(k_most / K_TICKS_MOST))
    tick_ks = list(range(1, k_most + 1, step))
    chart = charts.line_chart(
        chart_id=chart_id, title=title, y_label="Top-K accuracy", x_label="K, results looked at",
        series=[{"name": entry["name"], "points": [(moments[k], {"value": value, "n": entry["n"]})
                                                   for k, value in enumerate(entry["curve"])]} for entry in series],
        span=(moments[0], moments[-1]) if moments else None,
        tick_moments=[moments[k - 1] for k in tick_ks])
    if chart["empty"]:
        return chart
    for tick, k in zip(chart["x_ticks"], tick_ks):
        tick["text"] = str(k)
    for entry, shaped in zip(series, chart["series"]):
        for k, point in enumerate(shaped["points"], start=1):
            point["title"] = charts.figure_sentence(f"{entry['name']}, top-{k}", {"value": entry["curve"][k - 1],
                                                                                  "n": entry["n"]})
    for k, row in enumerate(chart["table"]["rows"], start=1):
        row["moment"] = f"top-{k}"
    return chart


def _evaluation_row(evaluation, kind: str) -> dict:
    seconds = sum(((evaluation.results or {}).get("seconds") or {}).values())
    return {"evaluation": evaluation, "status_class": STATUS_CLASS.get(evaluation.status, "pending"),
            "headline": headline(kind, evaluation.results), "seconds": round(seconds, 1) if seconds else None,
            "share": evaluation.steps_done / evaluation.steps_total if evaluation.steps_total else 0.0,
            "parameters": ", ".join(f"{key} {value}" for key, value in evaluation.parameters.items())}


def _results_context(version, evaluation) -> dict:
    """The tables (and for an embedder the top-K curve) of one finished evaluation."""
    figures = _figures(evaluation)
    if not figures:
        return {}
    if version.kind == ModelKind.DETECTOR:
        return {"detector_rows": [{"label": label, "cells": [_text(key, (figures.get(scale) or {}).get(key))
                                                             for key, _ in DETECTOR_COLUMNS]}
                                  for scale, label in DETECTOR_SCALES],
                "detector_columns": [label for _, label in DETECTOR_COLUMNS]}
    return {
        "retrieval_rows": [(label, _text(key, value)) for label, key, value in figure_rows(version.kind, figures)
                           if key == "p1" or (key == "top_k" and value is not None)],
        "attribute_rows": [(ATTRIBUTE_LABELS.get(name, name), charts.percent_text(value))
                           for name, value in (figures.get("attribute_p1") or {}).items()],
        "other_rows": [(label, _text(key, value)) for label, key, value in figure_rows(version.kind, figures)
                       if key in ("category", "bit_balance_mean")],
        "top_k": top_k_chart(chart_id=f"top-k-{evaluation.pk}", title="Top-K accuracy", series=[
            {"name": "binary codes (Hamming)", "curve": figures.get("top_k_binary") or [], "n": figures.get("n_queries", 0)},
            {"name": "float embeddings (cosine)", "curve": figures.get("top_k_float") or [],
             "n": figures.get("n_queries", 0)}]),
    }


def compare_url(version_ids) -> str:
    return f"{reverse('frontend:model-version-compare')}?{urlencode({'versions': ','.join(map(str, version_ids))})}"


def model_version_list_context() -> dict:
    """For the registry list (frontend/views.py ``model_version_list``)."""
    versions = selectors.model_version_rows().annotate(offline_results=model_selectors.latest_done_results())
    rows = [{"version": version, "headline": headline(version.kind, version.offline_results)} for version in versions]
    return {"rows": rows, "compare_action": reverse("frontend:model-version-compare")}


@role_required(Role.ENGINEER)
def model_version_new(request):
    # Bound on every POST, even an empty one, so that a form sent empty shows what it lacks.
    form = ModelVersionForm(request.POST, request.FILES) if request.method == "POST" else ModelVersionForm()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = model_version_register(kind=data["kind"], name=data["name"], version_tag=data["version_tag"],
                                             checkpoint_file=data["checkpoint"], config=data["config"],
                                             notes=data["notes"], created_by=request.user)
        except ModelVersionError as refusal:
            form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        else:
            messages.success(request, VERSION_REGISTERED.format(kind=version.get_kind_display(), name=version.name,
                                                                version_tag=version.version_tag))
            return redirect("frontend:model-version-detail", version_id=version.pk)
    return render(request, "frontend/model_version_new.html", {"nav_section": "models", "form": form})


@role_required(Role.ENGINEER)
def model_version_detail(request, version_id: int):
    try:
        version = model_selectors.model_version_get(version_id=version_id)
    except ModelVersion.DoesNotExist:
        raise Http404("No model version with this id.") from None
    # An empty POST is a valid request: every parameter takes its default.
    form = OfflineEvaluationForm(request.POST if request.method == "POST" else None, kind=version.kind)
    if request.method == "POST" and form.is_valid():
        try:
            evaluation = offline_evaluation_request(model_version=version, created_by=request.user,
                                                    parameters=form.parameters())
        except OfflineEvaluationError as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, OFFLINE_STARTED.format(id=evaluation.pk))
            return redirect("frontend:model-version-detail", version_id=version.pk)
    runs = model_selectors.model_version_runs(version=version)
    evaluations = list(model_selectors.offline_evaluations(version=version)[:model_selectors.EVALUATIONS_SHOWN])
    latest_done = next((e for e in evaluations if e.status == OfflineEvaluationStatus.DONE), None)
    if latest_done is None:
        latest_done = model_selectors.offline_latest_done(versions=[version]).get(version.pk)
    active = next((e for e in evaluations if e.status in ACTIVE), None)
    same_kind = [other.pk for other in evaluation_selectors.model_version_list().filter(kind=version.kind)
                 .exclude(pk=version.pk)[:COMPARE_MOST - 1]]
    return render(request, "frontend/model_version_detail.html", {
        "nav_section": "models",
        "version": version,
        "config_text": json.dumps(version.config, indent=2, sort_keys=True),
        "runs": runs[:model_selectors.RUNS_SHOWN],
        "runs_total": runs.count(),
        "evaluation_rows": [_evaluation_row(e, version.kind) for e in evaluations],
        "evaluations_total": model_selectors.offline_evaluations(version=version).count(),
        "latest_done": latest_done,
        "latest_row": _evaluation_row(latest_done, version.kind) if latest_done else None,
        "active": _evaluation_row(active, version.kind) if active else None,
        "active_url": f"{API_PREFIX}/offline-evaluations/{active.pk}" if active else "",
        "form": form,
        "compare_href": compare_url([version.pk, *same_kind]) if same_kind else "",
        **_results_context(version, latest_done),
    })


def _compare_ids(request) -> list[int]:
    raw = [part.strip() for value in request.GET.getlist("versions") for part in value.split(",") if part.strip()]
    ids = []
    for part in raw:
        if not part.isdigit():
            raise ValueError(COMPARE_NOT_AN_ID.format(value=part))
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) < 2:
        raise ValueError(COMPARE_NONE_CHOSEN)
    return ids[:COMPARE_MOST]


@role_required(Role.ENGINEER)
def model_version_compare(request):
    try:
        ids = _compare_ids(request)
    except ValueError as refusal:
        return render(request, COMPARE_TEMPLATE, {"nav_section": "models", "refusal": str(refusal)}, status=400)
    found = {version.pk: version for version in evaluation_selectors.model_version_list().filter(pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        return render(request, COMPARE_TEMPLATE, {"nav_section": "models",
                                                  "refusal": COMPARE_UNKNOWN.format(ids=", ".join(missing))}, status=404)
    versions = [found[pk] for pk in ids]
    if len({version.kind for version in versions}) > 1:
        names = ", ".join(f"{v.name} {v.version_tag} ({v.kind})" for v in versions)
        return render(request, COMPARE_TEMPLATE, {"nav_section": "models",
                                                  "refusal": COMPARE_MIXED_KINDS.format(names=names)}, status=400)
    kind = versions[0].kind
    latest = model_selectors.offline_latest_done(versions=versions)
    columns = [{"version": version, "evaluation": latest.get(version.pk)} for version in versions]
    per_version = [figure_rows(kind, _figures(column["evaluation"])) for column in columns]
    rows = []
    for index, (label, key, _) in enumerate(per_version[0]):
        values = [figures[index][2] for figures in per_version]
        known = [value for value in values if value is not None]
        if not known and key == "top_k":
            continue  # no version measured that far down the ranking
        # The best of a row is marked when it beats another; a threshold or a bit balance is no
        # better for being higher.
        best = (max(known) if len(set(known)) > 1 and key not in ("threshold", "bit_balance_mean") else None)
        rows.append({"label": label, "cells": [{"text": _text(key, value), "best": value is not None and value == best}
                                               for value in values]})
    parameters = {json.dumps(column["evaluation"].parameters, sort_keys=True)
                  for column in columns if column["evaluation"] is not None}
    chart = None
    if kind == ModelKind.EMBEDDER:
        chart = top_k_chart(chart_id="compare-top-k", title="Top-K accuracy (binary codes)", series=[
            {"name": f"{column['version'].name} {column['version'].version_tag}",
             "curve": _figures(column["evaluation"]).get("top_k_binary") or [],
             "n": _figures(column["evaluation"]).get("n_queries", 0)}
            for column in columns if column["evaluation"] is not None])
    return render(request, COMPARE_TEMPLATE, {
        "nav_section": "models", "kind": kind, "columns": columns, "rows": rows, "chart": chart,
        "different_test_sets": len(parameters) > 1,
        "missing": [column["version"] for column in columns if column["evaluation"] is None],
        "per_version": [{"version": column["version"], "evaluation": column["evaluation"],
                         **_results_context(column["version"], column["evaluation"])} for column in columns],
    })
