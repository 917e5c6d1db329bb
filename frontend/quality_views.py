"""Label-quality pages: the staff dashboard per task kind, a labeler's page for staff (with the
feedback form), and a labeler's own quality page.

The dashboard reads the kind's stored snapshot (``labeling.models.QualitySnapshot``), so it costs
the same whatever the number of labels; a stale snapshot asks for a refresh and the page's script
(``quality.js``) reloads once the new one is stored. The views are thin: read, then shape the
report for the templates with the pure helpers below (and ``frontend.charts``).
"""
from __future__ import annotations

import json
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from frontend import charts
from frontend.charts import NO_DATA, decimal_text, figure_texts, percent_text
from labeling.calibration import qualification
from labeling.models import PoolKind, QualitySnapshot, Role, User
from labeling.permissions import role_required, user_has_role
from labeling.quality.labeler import (labeler_feedback_rows, labeler_ids_by_username, labeler_quality,
                                     labeler_snapshot_rows)
from labeling.quality.services import (FeedbackError, labeler_feedback_give, quality_snapshot_is_stale,
                                       quality_snapshot_request)
from labeling.task_kinds import task_kind_specs

DEFAULT_KIND = "relevance"
UNKNOWN_KIND = "There is no task kind '{kind}'."
FEEDBACK_EXPERTS_ONLY = "Only experts and admins give labelers feedback."
NOT_A_LABELER = "User #{user_id} is not a labeler: only labelers have a quality page."
FEEDBACK_SENT = "Feedback sent to {username}: it shows on their quality page."
LOWEST_ITEMS_SHOWN = 20
FLAG_CLEARED = "{username}'s flag is cleared: they get the kind's tasks again."
HISTORY_SHOWN = 50
ACCURACY_HELP = "Share of golden units answered as the golden answer."
COARSE_HELP = "As accuracy, with near answers counted right (docs/METRICS.md, section 3)."
CONSISTENCY_HELP = "Share of an item's labels that give its most common answer; items with two or more labels."
ALPHA_HELP = "Chance-corrected agreement: 1 is perfect, 0 is what chance gives."


# -- views --------------------------------------------------------------------------------------

def _kind_of(request) -> str:
    kind = request.GET.get("kind") or DEFAULT_KIND
    if kind not in task_kind_specs():
        raise Http404(UNKNOWN_KIND.format(kind=kind))
    return kind


def _snapshot_state(kind: str) -> tuple[QualitySnapshot | None, bool]:
    """The kind's snapshot and whether labels arrived since; a stale one gets a refresh asked for."""
    snapshot = QualitySnapshot.objects.filter(task_kind=kind).first()
    stale = quality_snapshot_is_stale(snapshot=snapshot, task_kind=kind)
    if stale:
        quality_snapshot_request(task_kind=kind)
    return snapshot, stale


def _computed(snapshot: QualitySnapshot | None) -> bool:
    return snapshot is not None and snapshot.computed_at is not None


@role_required(Role.EXPERT, Role.ENGINEER)
def quality_dashboard(request):
    kind = _kind_of(request)
    snapshot, stale = _snapshot_state(kind)
    report = snapshot.report if _computed(snapshot) else None
    usernames = [row["labeler"] for row in (report or {}).get("per_labeler", [])]
    return render(request, "frontend/quality_dashboard.html", {
        "nav_section": "quality",
        "kind": kind,
        "kind_spec": task_kind_specs()[kind],
        "kinds": [{"kind": name, "label": spec.label, "active": name == kind}
                  for name, spec in task_kind_specs().items()],
        "snapshot": snapshot if _computed(snapshot) else None,
        "stale": stale,
        "status_url": reverse("frontend:quality-status") + f"?kind={kind}",
        **dashboard_context(report, labeler_ids=labeler_ids_by_username(usernames=usernames) if usernames else {}),
    })


@role_required(Role.EXPERT, Role.ENGINEER)
def quality_status(request):
    """What quality.js polls: when the kind's snapshot was computed, from how many labels, and
    whether labels arrived since (then a refresh is asked for, as the dashboard does)."""
    kind = _kind_of(request)
    snapshot, stale = _snapshot_state(kind)
    computed = _computed(snapshot)
    return JsonResponse({"kind": kind, "computed_at": snapshot.computed_at.isoformat() if computed else None,
                         "n_labels": snapshot.n_labels if computed else 0, "stale": stale})


@role_required(Role.EXPERT, Role.ENGINEER)
def labeler_quality_page(request, user_id: int):
    labeler = get_object_or_404(User.objects.select_related("pool"), pk=user_id)
    if labeler.role != Role.LABELER:
        raise Http404(NOT_A_LABELER.format(user_id=user_id))
    can_give_feedback = user_has_role(request.user, Role.EXPERT)
    body, error = "", None
    if request.method == "POST" and request.POST.get("action") == "clear_flag":
        if not can_give_feedback:
            raise PermissionDenied(FEEDBACK_EXPERTS_ONLY)
        try:
            qualification.labeler_flag_clear(labeler_id=labeler.pk, task_kind=request.POST.get("task_kind", ""),
                                             cleared_by=request.user,
                                             reason=request.POST.get("reason") or qualification.FLAG_CLEARED_BY_EXPERT)
        except qualification.QualificationNotFound as refusal:
            raise Http404(str(refusal)) from refusal
        messages.success(request, FLAG_CLEARED.format(username=labeler.username))
        return redirect("frontend:labeler-quality", user_id=labeler.pk)
    if request.method == "POST":
        if not can_give_feedback:
            raise PermissionDenied(FEEDBACK_EXPERTS_ONLY)
        body = request.POST.get("body", "")
        try:
            labeler_feedback_give(labeler=labeler, author=request.user, body=body)
        except FeedbackError as refusal:
            error = str(refusal)
        else:
            messages.success(request, FEEDBACK_SENT.format(username=labeler.username))
            return redirect("frontend:labeler-quality", user_id=labeler.pk)
    return render(request, "frontend/labeler_quality.html", {
        "nav_section": "quality",
        "labeler": labeler,
        "kinds": [labeler_kind_view(entry) for entry in labeler_snapshot_rows(labeler=labeler)],
        "feedback": labeler_feedback_rows(labeler=labeler),
        "can_give_feedback": can_give_feedback,
        "feedback_body": body,
        "feedback_error": error,
        # Qualification and re-calibration per kind, with the history (CALIBRATION_qualification.md).
        "standings": qualification.labeler_standings(labeler=labeler),
        "qualification_history": qualification.qualifications_of(labeler=labeler)[:HISTORY_SHOWN],
        "flag_history": qualification.flags_of(labeler=labeler)[:HISTORY_SHOWN],
    })


@login_required
def my_quality(request):
    if request.method == "POST":
        # "Mark read" on an item of the feed: the labeler's own feedback only, 404 for anything else.
        try:
            qualification.labeler_feedback_mark_read(feedback_id=_whole(request.POST.get("feedback_id")),
                                                     labeler=request.user)
        except qualification.QualificationNotFound as refusal:
            raise Http404(str(refusal)) from refusal
        return redirect("frontend:my-quality")
    quality = labeler_quality(labeler=request.user)
    feed = list(qualification.labeler_feed(labeler=request.user)[:HISTORY_SHOWN])
    for item in feed:
        item.expert_answer_text = answer_text(item.details.get("expert_answer"))
        item.your_answer_text = answer_text(item.details.get("your_answer"))
    return render(request, "frontend/my_quality.html", {
        "nav_section": "my-quality",
        "quality": quality,
        "kinds": [my_kind_view(entry) for entry in quality["kinds"]],
        "is_labeler": request.user.role == Role.LABELER and not request.user.is_superuser,
        "feed": feed,
        "unread": sum(1 for item in feed if item.read_at is None),
    })


def answer_text(answer) -> str:
    """An answer as a person reads it: "grades: 1 similar · 2 not similar"; nested values as JSON
    (the same shape session.js and qualify.js show)."""
    if not isinstance(answer, dict):
        return "" if answer is None else json.dumps(answer)
    parts = []
    for key, value in answer.items():
        if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            text = " · ".join(f"{i} {str(v).replace('_', ' ')}" for i, v in enumerate(value, start=1))
        else:
            text = json.dumps(value)
        parts.append(f"{key.replace('_', ' ')}: {text}")
    return "; ".join(parts)


def _whole(value) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 19 else 0


# -- shaping (pure: report dicts in, template contexts out) ---------------------------------------

def seconds_text(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.1f} s"


def count_text(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:,.0f}"


def money_text(value: float | None, digits: int = 2) -> str:
    return NO_DATA if value is None else f"{value:.{digits}f}"


def _figure(figure: dict | None, as_text=percent_text) -> dict:
    """A figure's texts plus its value as a sort key (empty when missing: sorted last)."""
    value = (figure or {}).get("value")
    return {**figure_texts(figure, as_text=as_text), "sort": "" if value is None else f"{value:.6f}",
            "marks": charts.interval_marks(figure), "missing": value is None}


def _plain(text: str, sort=None) -> dict:
    return {"value": text, "interval": "", "n": None, "sort": "" if sort is None else sort, "plain": True}


def value_text(value: str) -> str:
    """A unit's nominal value for people: relevance grades read as words."""
    return value.replace("_", " ") if isinstance(value, str) else str(value)


ITEM_NAMES = {"golden": "Golden item #{number}", "task": "Task #{number}"}


def item_text(item: str) -> str:
    """A report's item key (``task-7``, ``golden-3``, labeling/quality/records.py) for people."""
    prefix, _, number = item.partition("-")
    return ITEM_NAMES[prefix].format(number=number) if prefix in ITEM_NAMES else item


def _pool_kind_text(kind: str | None) -> str:
    return PoolKind(kind).label if kind in PoolKind.values else (kind or "")


def _scales(report: dict) -> list[str]:
    return list(report.get("accuracy_scales") or ["exact"])


def _table9(report: dict) -> dict:
    """Pools side by side: one column per pool, one row per figure (the seed's Table 9 layout)."""
    pools = report["per_pool"]
    has_coarse = "coarse" in _scales(report)
    has_cost = any(pool.get("cost_per_label") is not None for pool in pools)
    rows = [{"key": "consistency", "label": "Consistency", "help": CONSISTENCY_HELP,
             "cells": [_figure(pool["consistency"]) for pool in pools]},
            {"key": "accuracy", "label": "Accuracy", "help": ACCURACY_HELP,
             "cells": [_figure(pool["accuracy"]) for pool in pools]}]
    if has_coarse:
        rows.append({"key": "accuracy_coarse", "label": "Coarse accuracy", "help": COARSE_HELP,
                     "cells": [_figure(pool.get("accuracy_coarse")) for pool in pools]})
    level = (pools[0]["alpha"].get("level") if pools else None) or "nominal"
    rows += [
        {"key": "alpha", "label": "Krippendorff's alpha", "help": f"{ALPHA_HELP} Level: {level}.",
         "cells": [_figure(pool["alpha"], as_text=decimal_text) for pool in pools]},
        {"key": "labels", "label": "Labels", "help": "",
         "cells": [_plain(count_text(pool["n_labels"]) + (f" ({pool['simulated_labels']:,} simulated)"
                                                          if pool["simulated_labels"] else "")) for pool in pools]},
        {"key": "labelers", "label": "Labelers", "help": "",
         "cells": [_plain(count_text(pool["n_labelers"])) for pool in pools]},
        {"key": "time", "label": "Time per label", "help": "Mean time a labeler spent on a task.",
         "cells": [_plain(seconds_text(pool["time_per_label_s"])) for pool in pools]},
    ]
    if has_cost:
        rows += [{"key": "cost", "label": "Cost per label", "help": "The pool's price of one label.",
                  "cells": [_plain(money_text(pool.get("cost_per_label"))) for pool in pools]},
                 {"key": "cost_correct", "label": "Cost per correct label", "help": "Cost per label / accuracy.",
                  "cells": [_plain(money_text(pool.get("cost_per_correct_label"), 3)) for pool in pools]}]
    return {"pools": [{"name": pool["pool"], "kind": _pool_kind_text(pool.get("pool_kind")),
                       "simulated": bool(pool["simulated_labels"]),
                       "all_simulated": pool["simulated_labels"] == pool["n_labels"]} for pool in pools],
            "rows": rows}


def _labeler_rows(report: dict, labeler_ids: dict[str, int]) -> list[dict]:
    rows = []
    for row in report["per_labeler"]:
        user_id = labeler_ids.get(row["labeler"])
        rows.append({
            "labeler": row["labeler"], "pool": row["pool"], "simulated": row["simulated"],
            "href": reverse("frontend:labeler-quality", args=[user_id]) if user_id else None,
            "n_labels": row["n_labels"], "consistency": _figure(row["consistency"]),
            "accuracy": _figure(row["accuracy"]), "accuracy_coarse": _figure(row.get("accuracy_coarse")),
            "time": _plain(seconds_text(row["time_per_label_s"]), sort=f"{row['time_per_label_s']:.6f}"),
            "per_hour": _plain(count_text(row["labels_per_hour"]),
                               sort="" if row["labels_per_hour"] is None else f"{row['labels_per_hour']:.6f}"),
            "flags": row["flags"],
        })
    return rows


def _over_time_chart(report: dict) -> dict:
    over_time = report["over_time"]
    simulated = {pool["pool"]: bool(pool["simulated_labels"]) for pool in report["per_pool"]}
    order = [pool["pool"] for pool in report["per_pool"]]
    by_series: dict[str | None, list] = {}
    for row in over_time["rows"]:
        by_series.setdefault(row["pool"], []).append((datetime.fromisoformat(row["start"]), row["accuracy"]))
    series = []
    if None in by_series:
        series.append({"name": "All pools", "points": by_series[None], "emphasis": True,
                       "simulated": any(simulated.values())})
    for pool in order + sorted(set(by_series) - set(order) - {None}):
        if pool in by_series:
            series.append({"name": pool, "points": by_series[pool], "simulated": simulated.get(pool, False)})
    return charts.small_multiples(chart_id="accuracy-over-time", title="Accuracy on golden items over time",
                                  y_label="Accuracy", x_label=f"window start (windows of {over_time['window']}, UTC)",
                                  series=series)


def _group_rows(rows: list[dict], column: str, *, with_alpha: bool = False) -> list[dict]:
    shaped = []
    for row in rows:
        entry = {"name": row[column], "n_labels": row["n_labels"], "consistency": _figure(row["consistency"]),
                 "accuracy": _figure(row["accuracy"]), "accuracy_coarse": _figure(row.get("accuracy_coarse"))}
        if with_alpha:
            entry["alpha"] = _figure(row.get("alpha"), as_text=decimal_text)
            entry["alpha_level"] = (row.get("alpha") or {}).get("level")
        shaped.append(entry)
    return shaped


def _confusions(report: dict) -> list[dict]:
    return [{"field": entry["field"], "n": entry["n"],
             "matrix": charts.heatmap(values=entry["values"], matrix=entry["matrix"], value_text=value_text)}
            for entry in report["confusion"]]


def _items(report: dict) -> dict:
    items = report["items"]
    lowest = [{"item": item_text(row["item"]), "is_golden": row["item"].startswith("golden-"),
               "href": reverse("frontend:task-review", args=[row["task"]]) if row.get("task") else None,
               "task": row.get("task"), "agreement": percent_text(row["agreement"], 0),
               "n_labels": row["n_labels"], "n_units": row["n_units"]} for row in items["lowest"]]
    histogram = None
    if items["histogram"]:
        histogram = charts.histogram(
            chart_id="item-agreement", title="Items by agreement",
            x_label="agreement (mean share giving the most common answer)", y_label="Items",
            bins=[{"low": row["low"], "high": row["high"], "count": row["n_items"]} for row in items["histogram"]])
    return {"n_items": items["n_items"], "lowest": lowest[:LOWEST_ITEMS_SHOWN],
            "lowest_more": lowest[LOWEST_ITEMS_SHOWN:], "histogram": histogram}


def _aggregation(report: dict) -> dict | None:
    aggregation = report.get("aggregation")
    if not aggregation:
        return None
    names = {"majority": "Majority vote", "dawid_skene": "Dawid-Skene"}
    keys = [key for key, value in aggregation.items() if isinstance(value, dict)]
    return {"methods": [{"name": names.get(key, key), "accuracy": _figure(aggregation[key]["accuracy"]),
                         "n_items": aggregation[key]["n_items"]} for key in keys],
            "agree": percent_text(aggregation.get("methods_agree")),
            "chart": charts.interval_chart(title="Aggregated answers against the golden answers",
                                           axis_label="Accuracy of the aggregated answer",
                                           rows=[{"label": names.get(key, key), "figure": aggregation[key]["accuracy"]}
                                                 for key in keys])}


def dashboard_context(report: dict | None, *, labeler_ids: dict[str, int]) -> dict:
    """Everything the dashboard shows of one report; ``has_labels`` False is the empty state."""
    if not report or not report.get("overall", {}).get("n_labels"):
        return {"report": None, "has_labels": False}
    overall = report["overall"]
    scales = _scales(report)
    pools = report["per_pool"]
    return {
        "report": report,
        "has_labels": True,
        "has_coarse": "coarse" in scales,
        "has_golden": bool(overall["accuracy"]["n"]),
        "overall": {"n_labels": overall["n_labels"], "n_items": overall["n_items"],
                    "n_labelers": overall["n_labelers"], "n_simulated_labels": overall["n_simulated_labels"],
                    "consistency": _figure(overall["consistency"]), "accuracy": _figure(overall["accuracy"]),
                    "accuracy_coarse": _figure(overall.get("accuracy_coarse")),
                    "alpha": _figure(overall["alpha"], as_text=decimal_text),
                    "alpha_level": overall["alpha"].get("level"),
                    "time_per_label": seconds_text(overall["time_per_label_s"])},
        "table9": _table9(report),
        "pool_accuracy_chart": charts.interval_chart(
            title="Accuracy by pool", axis_label="Accuracy on golden units",
            rows=[{"label": pool["pool"], "figure": pool["accuracy"], "simulated": bool(pool["simulated_labels"]),
                   "testid": f"pool-accuracy-{index}"} for index, pool in enumerate(pools)]),
        "pool_consistency_chart": charts.interval_chart(
            title="Consistency by pool", axis_label="Share agreeing with the item's most common answer",
            rows=[{"label": pool["pool"], "figure": pool["consistency"], "simulated": bool(pool["simulated_labels"])}
                  for pool in pools]),
        "labelers": _labeler_rows(report, labeler_ids),
        "over_time": _over_time_chart(report),
        "confusions": _confusions(report),
        "categories": _group_rows(report["per_category"], "category"),
        "category_chart": charts.interval_chart(
            title="Accuracy by category", axis_label="Accuracy on golden units",
            rows=[{"label": row["category"], "figure": row["accuracy"]} for row in report["per_category"]]),
        "guide_versions": _group_rows(report["per_guide_version"], "guide_version"),
        "fields": _group_rows(report["per_field"], "field", with_alpha=True),
        "items": _items(report),
        "aggregation": _aggregation(report),
    }


def labeler_kind_view(entry: dict) -> dict:
    """One kind's row of a labeler (from its snapshot) for their staff page, beside the kind's overall figures."""
    row, overall = entry["row"], entry["overall"]
    rows = [{"label": row["labeler"], "figure": row["accuracy"], "simulated": row["simulated"]},
            {"label": "All labelers of the kind", "figure": overall.get("accuracy")}]
    return {"kind": entry["kind"], "label": entry["label"], "computed_at": entry["computed_at"],
            "has_coarse": "coarse" in entry["accuracy_scales"], "pool": row["pool"], "simulated": row["simulated"],
            "n_labels": row["n_labels"], "consistency": _figure(row["consistency"]),
            "accuracy": _figure(row["accuracy"]), "accuracy_coarse": _figure(row.get("accuracy_coarse")),
            "overall_accuracy": _figure(overall.get("accuracy")), "time": seconds_text(row["time_per_label_s"]),
            "per_hour": count_text(row["labels_per_hour"]), "flags": row["flags"],
            "chart": charts.interval_chart(title=f"{entry['label']}: accuracy against the kind's",
                                           axis_label="Accuracy on golden units", rows=rows)}


def my_kind_view(entry: dict) -> dict:
    """One kind of a labeler's own figures for their page: nothing about anyone else."""
    points = [(datetime.fromisoformat(row["start"]), row["accuracy"]) for row in entry["over_time"]["rows"]]
    return {"kind": entry["kind"], "label": entry["label"], "n_labels": entry["n_labels"],
            "n_golden_labels": entry["n_golden_labels"], "has_coarse": "coarse" in entry["accuracy_scales"],
            "accuracy": _figure(entry["accuracy"]), "accuracy_coarse": _figure(entry.get("accuracy_coarse")),
            "time": seconds_text(entry["time_per_label_s"]), "per_hour": count_text(entry["labels_per_hour"]),
            "chart": charts.line_chart(chart_id=f"my-accuracy-{entry['kind']}", title="Your accuracy over time",
                                       y_label="Accuracy", series=[{"name": "You", "points": points, "emphasis": True}],
                                       x_label=f"window start (windows of {entry['over_time']['window']}, UTC)")}
