"""The run comparison page, and the significance block of the run page (gains plot, sample-size
planner). Thin: parse the query, call the evaluation selectors, shape numbers into texts and charts
(frontend/charts.py draws every plot)."""
from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse

from evaluation import comparison
from evaluation import selectors as evaluation_selectors
from evaluation.significance import MAX_EXACT_SCENES
from labeling.models import Role
from labeling.permissions import role_required

from frontend import charts

COMPARE_TEMPLATE = "frontend/eval_run_compare.html"
BASELINE_NOT_A_RUN_ID = "The baseline {value!r} is not a run id."
COMPARE_GAIN_NO_SHARED_SCENES = "No scene is judged in both runs yet."
COMPARE_GAIN_BASELINE_ZERO = "The reference run scores 0 here, so a relative gain is undefined."
COMPARE_GAIN_NOT_JUDGED = "This run has no judged slots on the shared scenes yet."
MODE_LABELS = {"baseline": "Against one baseline", "chain": "Chained: each run against the one before"}


def compare_url(*, run_ids, baseline_id: int | None = None, mode: str = "baseline") -> str:
    query = {"runs": ",".join(str(run_id) for run_id in run_ids), "mode": mode}
    if baseline_id is not None:
        query["baseline"] = baseline_id
    return f"{reverse('frontend:eval-run-compare')}?{urlencode(query)}"


def p_text(p_value: float | None) -> str:
    # The sampled test resolves p to about 1/10,000; "p=0.000" would overclaim either way.
    if p_value is None:
        return ""
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def _figure(value, ci, n) -> dict:
    return {"value": value, "low": ci[0] if ci else None, "high": ci[1] if ci else None, "n": n}


def _row_figure(row: dict) -> dict:
    return _figure(row.get("value"), row.get("ci"), row.get("n_judged"))


def gain_view(gain: dict | None, *, metric: str) -> dict | None:
    """A gain's texts: signed percent, interval, p-value and how it was counted, whether it is an
    improvement (a falling Bad rate is), or why there is none."""
    if gain is None:
        return None
    n_shared = gain.get("n_shared_scenes", 0)
    shaped = {"gain": gain.get("gain"), "p_value": gain.get("p_value"), "n_shared_scenes": n_shared,
              "reference_id": gain.get("reference_id"), "exact": gain.get("exact"),
              "figure": _figure(gain.get("gain"), gain.get("ci"), n_shared)}
    if gain.get("gain") is not None:
        shaped["gain_text"] = charts.signed_percent_text(gain["gain"])
        lower_is_better = metric in comparison.LOWER_IS_BETTER
        shaped["better"] = (gain["gain"] < 0) if lower_is_better else (gain["gain"] > 0)
        shaped["worse"] = (gain["gain"] > 0) if lower_is_better else (gain["gain"] < 0)
        low, high = gain.get("ci") or (None, None)
        shaped["ci_text"] = (f"{charts.signed_percent_text(low)} to {charts.signed_percent_text(high)}"
                             if gain.get("ci") else "")
        shaped["p_text"] = p_text(gain.get("p_value"))
        shaped["test_text"] = ("exact, all swaps" if gain.get("exact")
                               else f"{gain.get('n_permutations', 0):,} random swaps")
    elif not gain.get("n_shared_scenes"):
        shaped["missing_reason"] = COMPARE_GAIN_NO_SHARED_SCENES
    elif not gain.get("baseline"):
        shaped["missing_reason"] = COMPARE_GAIN_BASELINE_ZERO
    else:
        shaped["missing_reason"] = COMPARE_GAIN_NOT_JUDGED
    return shaped


def _value_texts(row: dict) -> dict:
    ci = row.get("ci")
    return {"value_text": charts.percent_text(row.get("value")),
            "ci_text": f"{charts.percent_text(ci[0])} – {charts.percent_text(ci[1])}" if ci else "",
            "n_judged": row.get("n_judged", 0)}


def _metric_sections(block: dict, names: dict[int, str]) -> list[dict]:
    sections = []
    for metric_block in block["metrics"]:
        metric = metric_block["metric"]
        title = comparison.METRIC_TITLES[metric]
        rows, gain_rows = [], []
        for row in metric_block["rows"]:
            gain = gain_view(row.get("gain"), metric=metric)
            shaped = {"run_id": row["run_id"], "name": names[row["run_id"]], **_value_texts(row), "gain": gain,
                      "reference_name": names.get(gain["reference_id"]) if gain else None}
            rows.append(shaped)
            if gain is not None:
                gain_rows.append({"label": f"{shaped['name']} vs {shaped['reference_name']}", "figure": gain["figure"],
                                  "testid": f"gain-bar-{metric}-{row['run_id']}"})
        sections.append({
            "metric": metric, "title": title, "rows": rows,
            "value_chart": charts.interval_chart(
                title=f"{title} per run", axis_label=f"{title} with 95% interval",
                rows=[{"label": names[row["run_id"]], "figure": _row_figure(row),
                       "testid": f"value-bar-{metric}-{row['run_id']}"} for row in metric_block["rows"]]),
            "gain_chart": charts.gain_chart(title=f"Relative gain in {title}",
                                            axis_label="Gain with paired bootstrap 95% interval", rows=gain_rows),
        })
    return sections


def _category_rows(block: dict, names: dict[int, str]) -> list[dict]:
    rows = []
    for entry in block["per_category"]["categories"]:
        by_metric = {metric_block["metric"]: metric_block["rows"] for metric_block in entry["metrics"]}
        run_ids = [row["run_id"] for row in entry["metrics"][0]["rows"]]
        for index, run_id in enumerate(run_ids):
            cells = []
            for metric in by_metric:
                row = by_metric[metric][index]
                cells.append({**_value_texts(row), "gain": gain_view(row.get("gain"), metric=metric)})
            rows.append({"category": entry["category"], "first": index == 0, "span": len(run_ids), "run_id": run_id,
                         "name": names[run_id], "n_judged": by_metric["similar_p_at_5"][index]["n_judged"],
                         "cells": cells})
    return rows


def _category_charts(block: dict, names: dict[int, str]) -> list[dict]:
    series = [entry["name"] for entry in block["runs"]]
    chart_list = []
    for metric, title in comparison.METRIC_TITLES.items():
        groups = []
        for entry in block["per_category"]["categories"]:
            metric_rows = next(b["rows"] for b in entry["metrics"] if b["metric"] == metric)
            groups.append({"label": entry["category"],
                           "figures": [_row_figure(row) for row in metric_rows]})
        chart_list.append(charts.grouped_bar_chart(
            chart_id=f"category-{metric}", title=f"{title} per category, on the scenes every run judged",
            y_label=title, x_label="category", series=series, groups=groups))
    return chart_list


def _baseline_parse(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= comparison.MAX_RUN_ID:
        raise comparison.EvalRunCompareError(BASELINE_NOT_A_RUN_ID.format(value=value), field="baseline")
    return int(text)


@role_required(Role.ENGINEER)
def eval_run_compare(request):
    mode = request.GET.get("mode") or "baseline"
    try:
        run_ids = comparison.compare_run_ids_parse(request.GET.getlist("runs"))
        block = evaluation_selectors.eval_run_compare(
            run_ids=run_ids, baseline_id=_baseline_parse(request.GET.get("baseline")), mode=mode)
    except comparison.EvalRunCompareError as refusal:
        status = 404 if isinstance(refusal, comparison.EvalRunCompareMissing) else 400
        return render(request, COMPARE_TEMPLATE, {"nav_section": "runs", "error": str(refusal),
                                                  "error_field": refusal.field}, status=status)
    runs = {run.pk: run for run in evaluation_selectors.eval_run_list().filter(pk__in=[r["id"] for r in block["runs"]])}
    names = {entry["id"]: entry["name"] for entry in block["runs"]}
    return render(request, COMPARE_TEMPLATE, {
        "nav_section": "runs",
        "block": block,
        "runs": [{**entry, "run": runs[entry["id"]]} for entry in block["runs"]],
        "mode": block["mode"],
        "mode_labels": MODE_LABELS,
        "mode_label": MODE_LABELS[block["mode"]],
        "baseline_id": block["baseline_id"],
        "baseline_name": names.get(block["baseline_id"]),
        "runs_value": ",".join(str(entry["id"]) for entry in block["runs"]),
        "metric_sections": _metric_sections(block, names),
        "metric_titles": list(comparison.METRIC_TITLES.values()),
        "category_rows": _category_rows(block, names),
        "category_charts": _category_charts(block, names),
        "n_shared_scenes": block["per_category"]["n_shared_scenes"],
        "max_exact_scenes": MAX_EXACT_SCENES,
    })


# -- the run page's significance block --------------------------------------------------------------

def run_significance_context(*, run, gains: dict | None) -> dict:
    """What the run page's "Significance and planning" section shows: the link to compare with the
    baseline, the gains over it as a plot, and the sample-size plan of this run."""
    plan = evaluation_selectors.eval_run_sample_size_plan(run=run)
    plan_rows = []
    for metric, title in comparison.METRIC_TITLES.items():
        entry = plan["metrics"][metric]
        plan_rows.append({
            "metric": metric, "title": title, "value_text": charts.percent_text(entry["value"]),
            "scene_sd_text": charts.decimal_text(entry["scene_sd"]),
            "detectable_text": charts.percent_text(entry["detectable_gain"]) if entry["detectable_gain"] is not None
            else charts.NO_DATA,
            "cells": [{"gain": row["gain"], "n_scenes": row["n_scenes"],
                       "enough": row["n_scenes"] is not None and row["n_scenes"] <= plan["n_scenes"]}
                      for row in entry["rows"]],
        })
    context = {
        "plan_rows": plan_rows,
        "plan_gain_texts": [charts.percent_text(gain, 0) for gain in plan["gains"]],
        "plan_n_scenes": plan["n_scenes"],
        "plan_power_text": charts.percent_text(plan["power"], 0),
        "plan_alpha": plan["alpha"],
        "compare_baseline_url": None,
        "run_gain_chart": None,
    }
    if run.baseline_id is not None:
        context["compare_baseline_url"] = compare_url(run_ids=[run.baseline_id, run.pk], baseline_id=run.baseline_id)
    if gains:
        rows = []
        for metric, title in comparison.METRIC_TITLES.items():
            gain = gain_view(gains.get(metric), metric=metric)
            # An undefined gain keeps its row ("no data"), so the plot always lists every metric.
            if gain is not None:
                rows.append({"label": title, "figure": gain["figure"], "testid": f"run-gain-{metric}"})
        if any(row["figure"]["value"] is not None for row in rows):
            context["run_gain_chart"] = charts.gain_chart(title="Relative gains over the baseline",
                                                          axis_label="Gain with paired bootstrap 95% interval",
                                                          rows=rows)
    return context
