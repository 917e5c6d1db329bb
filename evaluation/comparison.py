"""Comparison of two or more evaluation runs, and the sample-size plan of one run, as pure functions
on the frames of ``evaluation.metrics`` (docs/METRICS.md, "Run comparison and significance").

A comparison has one row per run and metric: the run's value over all its judged query objects with
its 95% bootstrap interval (what the run's own page shows), and its relative gain over a reference
run with a paired bootstrap interval and a paired randomization p-value over the scenes the two
runs share. The reference is one baseline for every row (``baseline`` mode, the seed's Table 3) or
the row before (``chain`` mode, the seed's Table 7: each change measured against the step before
it). Per category, values and gains are taken on the scenes every compared run judged, so that
every row of a category table counts the same scenes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation import metrics, significance

COMPARE_MODES = ("baseline", "chain")
COMPARE_MAX_RUNS = 8
METRIC_TITLES = {"similar_p_at_5": "Similar P@5", "extremely_similar_p_at_5": "Extremely Similar P@5",
                 "bad_rate": "Bad rate"}
# A falling Bad rate is the improvement.
LOWER_IS_BETTER = frozenset({"bad_rate"})

COMPARE_TOO_FEW_RUNS = "Compare at least 2 runs; {n} given."
COMPARE_TOO_MANY_RUNS = "Compare at most " + str(COMPARE_MAX_RUNS) + " runs at once; {n} given."
COMPARE_RUN_REPEATED = "Run {id} is listed more than once."
COMPARE_UNKNOWN_MODE = "Unknown mode {mode!r}; expected one of: " + ", ".join(COMPARE_MODES) + "."
COMPARE_BASELINE_NOT_AMONG_RUNS = "The baseline, run {id}, is not among the compared runs ({ids})."
COMPARE_RUNS_MISSING = "No evaluation run has the id {ids}."
COMPARE_RUN_ID_INVALID = "{value!r} is not a run id: runs are positive whole numbers, separated by commas."
# Ids are PostgreSQL integers; a larger number cannot name a run.
MAX_RUN_ID = 2_147_483_647


class EvalRunCompareError(ValueError):
    """A comparison request that cannot be answered; ``field`` names the parameter at fault."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


class EvalRunCompareMissing(EvalRunCompareError):
    """Some of the requested runs do not exist (``ids``)."""

    def __init__(self, ids: Sequence[int]):
        super().__init__(COMPARE_RUNS_MISSING.format(ids=", ".join(str(i) for i in ids)), field="runs")
        self.ids = list(ids)


def compare_run_ids_parse(values: Sequence[str]) -> list[int]:
    """Run ids from query values: ``runs=1,2,3``, or ``runs=1&runs=2`` as a form of checkboxes
    sends them, or both; in the order given."""
    run_ids = []
    for value in values:
        for part in str(value).split(","):
            text = part.strip()
            if not text:
                continue
            if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_RUN_ID:
                raise EvalRunCompareError(COMPARE_RUN_ID_INVALID.format(value=part), field="runs")
            run_ids.append(int(text))
    return run_ids


def compare_request_check(*, run_ids: Sequence[int], baseline_id: int | None, mode: str) -> None:
    """Refuse a request that names too few or too many runs, a run twice, an unknown mode, or a
    baseline that is not one of the runs; the runs' existence is the selector's to check."""
    if mode not in COMPARE_MODES:
        raise EvalRunCompareError(COMPARE_UNKNOWN_MODE.format(mode=mode), field="mode")
    seen: set[int] = set()
    for run_id in run_ids:
        if run_id in seen:
            raise EvalRunCompareError(COMPARE_RUN_REPEATED.format(id=run_id), field="runs")
        seen.add(run_id)
    if len(run_ids) < 2:
        raise EvalRunCompareError(COMPARE_TOO_FEW_RUNS.format(n=len(run_ids)), field="runs")
    if len(run_ids) > COMPARE_MAX_RUNS:
        raise EvalRunCompareError(COMPARE_TOO_MANY_RUNS.format(n=len(run_ids)), field="runs")
    if baseline_id is not None and baseline_id not in seen:
        raise EvalRunCompareError(COMPARE_BASELINE_NOT_AMONG_RUNS.format(
            id=baseline_id, ids=", ".join(str(i) for i in run_ids)), field="baseline")


@dataclass(frozen=True)
class RunCounts:
    """One compared run: its id, its name and its per-query-object counts
    (``metrics.per_query_object_counts``: query_object_id, scene_id, category, similar,
    extremely_similar, bad, judged)."""

    run_id: int
    name: str
    counts: pd.DataFrame
    k: int = metrics.DEFAULT_K


def run_counts(slot_labels: pd.DataFrame, query_objects: pd.DataFrame, *,
               aggregation: str = "majority") -> pd.DataFrame:
    """The counts frame of one run, its slots aggregated by ``aggregation`` (as its page does)."""
    return metrics.per_query_object_counts(metrics.aggregate_slot_grades(slot_labels, method=aggregation),
                                           query_objects)


# The per-scene sums of every comparison are the relative gain's (metrics.per_scene_sums).
scene_sums = metrics.per_scene_sums


def scene_gain(*, metric: str, base_num: np.ndarray, base_den: np.ndarray, cand_num: np.ndarray,
               cand_den: np.ndarray, n_bootstrap: int = metrics.DEFAULT_BOOTSTRAP_SAMPLES,
               confidence: float = metrics.DEFAULT_CONFIDENCE, seed: int = metrics.DEFAULT_SEED) -> dict:
    """The relative gain of per-scene sums B over A with its paired bootstrap interval and paired
    randomization p-value, in the shape of ``metrics.RelativeGain.as_dict``. Scenes where neither
    run has anything to count are left out: swapping two empty results changes nothing."""
    informative = (base_den > 0) | (cand_den > 0)
    base_num, base_den = base_num[informative], base_den[informative]
    cand_num, cand_den = cand_num[informative], cand_den[informative]
    n = int(informative.sum())
    baseline = float(base_num.sum() / base_den.sum()) if base_den.sum() else None
    candidate = float(cand_num.sum() / cand_den.sum()) if cand_den.sum() else None
    if not baseline or candidate is None:
        return metrics.RelativeGain(metric, baseline, candidate, None, None, None, n).as_dict()
    sums = {"baseline_numerators": base_num, "baseline_denominators": base_den,
            "candidate_numerators": cand_num, "candidate_denominators": cand_den}
    interval = significance.paired_bootstrap_gain_interval(**sums, n_bootstrap=n_bootstrap, confidence=confidence,
                                                           seed=seed)
    test = significance.paired_randomization_test(**sums, statistic="difference", seed=seed)
    return metrics.RelativeGain(metric, baseline, candidate, (candidate - baseline) / baseline, interval,
                                test.p_value, n, test.exact, test.n_permutations).as_dict()


def _reference_indices(n_runs: int, *, mode: str, baseline_index: int) -> list[int | None]:
    """For each row, the row its gain is measured against (None: the reference row itself)."""
    if mode == "chain":
        return [None] + list(range(n_runs - 1))
    return [None if index == baseline_index else baseline_index for index in range(n_runs)]


def _value_row(run: RunCounts, counts: pd.DataFrame, metric: str, *, n_bootstrap: int, seed: int) -> dict:
    summary = metrics.summarise(counts, k=run.k, n_bootstrap=n_bootstrap, seed=seed)
    ci = summary.ci.get(metric)
    return {"run_id": run.run_id, "value": getattr(summary, metric), "ci": list(ci) if ci is not None else None,
            "n_judged": summary.n_judged, "gain": None}


def compare_runs(runs: Sequence[RunCounts], *, mode: str = "baseline", baseline_index: int = 0,
                 n_bootstrap: int = metrics.DEFAULT_BOOTSTRAP_SAMPLES, seed: int = metrics.DEFAULT_SEED) -> dict:
    """The comparison of ``runs`` in the given order (the rows of every table).

    ``metrics``: per metric, one row per run with its value, interval and judged query objects,
    and ``gain`` (None on the reference row) over the row's reference on the scenes those two runs
    both judged (``metrics.relative_gain``). ``per_category``: the same for each category, on the
    scenes that every run judged (``n_shared_scenes``), each gain over the scenes where either of
    its two runs has a query object of the category.
    """
    if mode not in COMPARE_MODES:
        raise ValueError(COMPARE_UNKNOWN_MODE.format(mode=mode))
    if not 0 <= baseline_index < len(runs):
        raise ValueError(f"baseline_index {baseline_index} is outside the {len(runs)} runs")
    references = _reference_indices(len(runs), mode=mode, baseline_index=baseline_index)
    options = {"n_bootstrap": n_bootstrap, "seed": seed}

    metric_blocks = []
    for metric in metrics.METRIC_NAMES:
        rows = []
        for run, reference in zip(runs, references):
            row = _value_row(run, run.counts, metric, **options)
            if reference is not None:
                base = runs[reference]
                row["gain"] = {**metrics.relative_gain(base.counts, run.counts, metric=metric, k=run.k,
                                                       **options).as_dict(), "reference_id": base.run_id}
            rows.append(row)
        metric_blocks.append({"metric": metric, "rows": rows})

    shared = None
    for run in runs:
        scenes = set(run.counts["scene_id"].unique().tolist())
        shared = scenes if shared is None else shared & scenes
    shared_scenes = np.array(sorted(shared or ()), dtype=np.int64)
    on_shared = [run.counts[run.counts["scene_id"].isin(shared_scenes)] for run in runs]
    categories = sorted(set().union(*(set(counts["category"].unique().tolist()) for counts in on_shared)))
    category_blocks = []
    for category in categories:
        own = [counts[counts["category"] == category] for counts in on_shared]
        blocks = []
        for metric in metrics.METRIC_NAMES:
            sums = [scene_sums(counts, metric=metric, k=run.k, scenes=shared_scenes) for run, counts in zip(runs, own)]
            rows = []
            for index, (run, counts, reference) in enumerate(zip(runs, own, references)):
                row = _value_row(run, counts, metric, **options)
                if reference is not None:
                    (base_num, base_den), (cand_num, cand_den) = sums[reference], sums[index]
                    row["gain"] = {**scene_gain(metric=metric, base_num=base_num, base_den=base_den, cand_num=cand_num,
                                                cand_den=cand_den, **options), "reference_id": runs[reference].run_id}
                rows.append(row)
            blocks.append({"metric": metric, "rows": rows})
        category_blocks.append({"category": category, "metrics": blocks})

    return {
        "mode": mode,
        "baseline_id": runs[baseline_index].run_id if mode == "baseline" else None,
        "runs": [{"id": run.run_id, "name": run.name, "n_judged": int(len(run.counts)),
                  "n_scenes": int(run.counts["scene_id"].nunique())} for run in runs],
        "metrics": metric_blocks,
        "per_category": {"n_shared_scenes": int(shared_scenes.size), "categories": category_blocks},
    }


def run_sample_size_plan(counts: pd.DataFrame, *, k: int = metrics.DEFAULT_K,
                         gains: Sequence[float] = significance.PLAN_GAINS) -> dict:
    """The sample-size plan of every metric of one run, from its per-scene sums over the scenes
    it judged (``significance.sample_size_plan``; no correlation between runs assumed)."""
    scenes = np.sort(counts["scene_id"].unique()) if len(counts) else np.array([], dtype=np.int64)
    plans = {}
    for metric in metrics.METRIC_NAMES:
        num, den = scene_sums(counts, metric=metric, k=k, scenes=scenes)
        plans[metric] = significance.sample_size_plan(numerators=num, denominators=den, gains=tuple(gains)).as_dict()
    return {"n_scenes": int(scenes.size), "gains": [float(gain) for gain in gains],
            "alpha": significance.PLAN_ALPHA, "power": significance.PLAN_POWER, "metrics": plans}
