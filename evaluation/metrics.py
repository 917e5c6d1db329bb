"""Relevance metrics of an end-to-end evaluation run (docs/METRICS.md, section 1), as pure functions.

Nothing here touches the ORM: ``evaluation.selectors`` builds the frames with one query and these
functions turn them into numbers, so they are vectorised, fast and checkable by hand.

Frames:

- *slot labels*: one row per (labeler, query object, slot) with columns ``query_object_id``,
  ``slot`` (1-based rank of the candidate) and ``grade``.
- *query objects*: one row per query object with ``query_object_id``, ``scene_id``, ``category``
  and ``n_candidates`` (how many of the k slots retrieval filled).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation import significance
from labeling.quality.dawid_skene import AGGREGATION_METHODS, aggregate_answers
from labeling.task_kinds import relevance

# The grade vocabulary and the majority vote belong to the relevance kind (labeling/task_kinds/relevance.py).
GRADES = relevance.GRADES
GRADE_ORDER = relevance.GRADE_ORDER
SIMILAR_GRADES = relevance.SIMILAR_GRADES
EXTREMELY_SIMILAR_GRADES = relevance.EXTREMELY_SIMILAR_GRADES
BAD_GRADES = relevance.BAD_GRADES

DEFAULT_K = 5
DEFAULT_BOOTSTRAP_SAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0

UNKNOWN_GRADE_ERROR = relevance.UNKNOWN_GRADE_ERROR
SLOT_LABEL_COLUMNS = ("query_object_id", "slot", "grade")
QUERY_OBJECT_COLUMNS = ("query_object_id", "scene_id", "category", "n_candidates")
MISSING_COLUMNS_ERROR = "{frame} frame lacks columns {columns}"
UNKNOWN_AGGREGATION_ERROR = "unknown aggregation method {method!r}; expected one of " + ", ".join(AGGREGATION_METHODS)

METRIC_NAMES = ("similar_p_at_5", "extremely_similar_p_at_5", "bad_rate")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(MISSING_COLUMNS_ERROR.format(frame=name, columns=", ".join(missing)))


def aggregate_slot_grades(slot_labels: pd.DataFrame, *, method: str = "majority") -> pd.DataFrame:
    """One grade per (query object, slot): the relevance kind's majority vote (ties to the lower
    grade), or Dawid-Skene over the run's labelers (labeling/quality/dawid_skene.py).

    Returns one row per judged slot: ``query_object_id``, ``slot``, ``grade``, ``n_labels``.
    """
    if method == "majority":
        return relevance.slot_majority_vote(slot_labels)
    if method not in AGGREGATION_METHODS:
        raise ValueError(UNKNOWN_AGGREGATION_ERROR.format(method=method))
    _require_columns(slot_labels, SLOT_LABEL_COLUMNS + ("labeler_id",), "slot labels")
    if slot_labels.empty:
        return relevance.slot_majority_vote(slot_labels)
    unknown = sorted(set(slot_labels["grade"]) - set(GRADES))
    if unknown:
        raise ValueError(UNKNOWN_GRADE_ERROR.format(grades=", ".join(map(str, unknown))))
    items = list(zip(slot_labels["query_object_id"], slot_labels["slot"]))
    frame = pd.DataFrame({"item": items, "labeler_id": slot_labels["labeler_id"].to_numpy(),
                          "value": slot_labels["grade"].to_numpy()})
    aggregated = aggregate_answers(frame, method=method, value_order=list(GRADES))
    return pd.DataFrame({"query_object_id": [item[0] for item in aggregated["item"]],
                         "slot": [item[1] for item in aggregated["item"]], "grade": aggregated["value"].to_numpy(),
                         "n_labels": aggregated["n_labels"].to_numpy()})


def per_query_object_counts(slot_grades: pd.DataFrame, query_objects: pd.DataFrame) -> pd.DataFrame:
    """Per judged query object: counts of similar, extremely similar and bad slots, and judged slots.

    Only query objects with at least one aggregated slot, or with no candidate at all, are returned
    (the others have no labels yet). Slots the retrieval did not fill have no grade and so add nothing to any numerator, which
    is what "a missing candidate counts as not relevant" means with a fixed denominator k.
    """
    _require_columns(query_objects, QUERY_OBJECT_COLUMNS, "query objects")
    grades = slot_grades["grade"]
    flags = pd.DataFrame({
        "query_object_id": slot_grades["query_object_id"].to_numpy(),
        "similar": grades.isin(SIMILAR_GRADES).to_numpy(dtype=np.int64),
        "extremely_similar": grades.isin(EXTREMELY_SIMILAR_GRADES).to_numpy(dtype=np.int64),
        "bad": grades.isin(BAD_GRADES).to_numpy(dtype=np.int64),
        "judged": np.ones(len(slot_grades), dtype=np.int64),
    })
    counts = flags.groupby("query_object_id", sort=True).sum()
    objects = query_objects.set_index("query_object_id")
    joined = objects[["scene_id", "category"]].join(counts, how="left")
    # A query object the retrieval found no candidate for needs no labels: it is judged, with
    # every slot missing, so it counts as rel(q) = 0 and adds no slot to the Bad rate.
    judged = joined["judged"].notna() | (objects["n_candidates"] == 0)
    joined = joined[judged].fillna(0)
    for column in ("similar", "extremely_similar", "bad", "judged"):
        joined[column] = joined[column].astype(np.int64)
    return joined.sort_index().reset_index()


@dataclass(frozen=True)
class MetricSummary:
    similar_p_at_5: float | None
    extremely_similar_p_at_5: float | None
    bad_rate: float | None
    n_judged: int
    ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "similar_p_at_5": self.similar_p_at_5,
            "extremely_similar_p_at_5": self.extremely_similar_p_at_5,
            "bad_rate": self.bad_rate,
            "n_judged": self.n_judged,
            "ci": {name: (list(interval) if interval is not None else None) for name, interval in self.ci.items()},
        }


def _point_metrics(similar: np.ndarray, extremely: np.ndarray, bad: np.ndarray, judged: np.ndarray,
                   k: int) -> tuple[float, float, float | None]:
    n = similar.shape[-1]
    similar_p = float(similar.sum() / (n * k))
    extremely_p = float(extremely.sum() / (n * k))
    judged_total = judged.sum()
    bad_rate = float(bad.sum() / judged_total) if judged_total else None
    return similar_p, extremely_p, bad_rate


def summarise(counts: pd.DataFrame, *, k: int = DEFAULT_K, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
              confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> MetricSummary:
    """Similar P@k, Extremely Similar P@k and Bad rate of judged query objects, with bootstrap CIs.

    The bootstrap resamples query objects with replacement (seeded, so a page reload shows the
    same interval); the Bad rate is a ratio of sums, recomputed per resample.
    """
    n = len(counts)
    if n == 0:
        return MetricSummary(None, None, None, 0, {name: None for name in METRIC_NAMES})
    similar = counts["similar"].to_numpy(dtype=np.float64)
    extremely = counts["extremely_similar"].to_numpy(dtype=np.float64)
    bad = counts["bad"].to_numpy(dtype=np.float64)
    judged = counts["judged"].to_numpy(dtype=np.float64)
    similar_p, extremely_p, bad_rate = _point_metrics(similar, extremely, bad, judged, k)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    boot_similar = similar[draws].sum(axis=1) / (n * k)
    boot_extremely = extremely[draws].sum(axis=1) / (n * k)
    boot_judged = judged[draws].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_bad = np.where(boot_judged > 0, bad[draws].sum(axis=1) / boot_judged, np.nan)
    ci = {
        "similar_p_at_5": significance.percentile_interval(boot_similar, confidence),
        "extremely_similar_p_at_5": significance.percentile_interval(boot_extremely, confidence),
        "bad_rate": significance.percentile_interval(boot_bad, confidence),
    }
    return MetricSummary(similar_p, extremely_p, bad_rate, n, ci)


def relevance_metrics(slot_labels: pd.DataFrame, query_objects: pd.DataFrame, *, k: int = DEFAULT_K,
                      n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = DEFAULT_SEED, aggregation: str = "majority") -> dict:
    """The metrics block of a run: overall and per category, each with its intervals, with the slots'
    grades aggregated by ``aggregation``."""
    counts = per_query_object_counts(aggregate_slot_grades(slot_labels, method=aggregation), query_objects)
    overall = summarise(counts, k=k, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    per_category = {
        category: summarise(group, k=k, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed).as_dict()
        for category, group in counts.groupby("category", sort=True)
    }
    block = overall.as_dict()
    block["n_query_objects"] = int(len(query_objects))
    block["per_category"] = per_category
    block["aggregation"] = aggregation
    return block


def relevance_metrics_both(slot_labels: pd.DataFrame, query_objects: pd.DataFrame, *, aggregation: str,
                           k: int = DEFAULT_K, seed: int = DEFAULT_SEED) -> dict:
    """The run's block under its queue's aggregation, plus ``by_aggregation``: the overall figures
    under every method, so the page can show how much the choice matters."""
    block = relevance_metrics(slot_labels, query_objects, k=k, seed=seed, aggregation=aggregation)
    block["by_aggregation"] = {
        method: (block if method == aggregation else relevance_metrics(slot_labels, query_objects, k=k, seed=seed,
                                                                       aggregation=method))
        for method in AGGREGATION_METHODS}
    block["by_aggregation"] = {method: {name: other[name] for name in (*METRIC_NAMES, "ci", "n_judged")
                                        if name in other}
                               for method, other in block["by_aggregation"].items()}
    return block


METRIC_COLUMNS: dict[str, tuple[str, str]] = {
    # metric -> (numerator column, denominator: "k" for P@k over query objects, else a column)
    "similar_p_at_5": ("similar", "k"),
    "extremely_similar_p_at_5": ("extremely_similar", "k"),
    "bad_rate": ("bad", "judged"),
}
UNKNOWN_METRIC_ERROR = "unknown metric {metric!r}; expected one of " + ", ".join(METRIC_COLUMNS)


@dataclass(frozen=True)
class RelativeGain:
    metric: str
    baseline: float | None
    candidate: float | None
    gain: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    n_shared_scenes: int
    exact: bool | None = None  # the p-value counted every swap pattern of the shared scenes
    n_permutations: int = 0

    def as_dict(self) -> dict:
        return {"metric": self.metric, "baseline": self.baseline, "candidate": self.candidate, "gain": self.gain,
                "ci": list(self.ci) if self.ci is not None else None, "p_value": self.p_value,
                "n_shared_scenes": self.n_shared_scenes, "exact": self.exact, "n_permutations": self.n_permutations}


def per_scene_sums(counts: pd.DataFrame, *, metric: str, k: int, scenes) -> tuple[np.ndarray, np.ndarray]:
    """Per scene of ``scenes`` (in that order), the metric's numerator and denominator sums; a
    scene without a judged query object of this frame gives 0 and 0."""
    if metric not in METRIC_COLUMNS:
        raise ValueError(UNKNOWN_METRIC_ERROR.format(metric=metric))
    numerator, denominator = METRIC_COLUMNS[metric]
    grouped = counts.groupby("scene_id")
    num = grouped[numerator].sum().reindex(scenes, fill_value=0).to_numpy(dtype=np.float64)
    if denominator == "k":
        den = grouped.size().reindex(scenes, fill_value=0).to_numpy(dtype=np.float64) * k
    else:
        den = grouped[denominator].sum().reindex(scenes, fill_value=0).to_numpy(dtype=np.float64)
    return num, den


def relative_gain(baseline_counts: pd.DataFrame, candidate_counts: pd.DataFrame, *, metric: str,
                  k: int = DEFAULT_K, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
                  confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> RelativeGain:
    """(B - A) / A of ``metric`` for run B (candidate) over baseline run A, on the scenes both judged.

    Pairing is by scene because two runs with different detectors find different query objects in
    the same scene. The interval resamples shared scenes (the same draw for both runs); the
    two-sided p-value is the paired randomization test of ``evaluation.significance`` (each shared
    scene's two results swapped with probability 1/2; exact up to 16 scenes, else 10,000 seeded
    draws) on the difference B - A, which is zero exactly when the gain is and never divides by
    a swapped baseline of 0. ``exact`` and ``n_permutations`` say how the p-value was counted.
    """
    if metric not in METRIC_COLUMNS:
        raise ValueError(UNKNOWN_METRIC_ERROR.format(metric=metric))
    shared = np.intersect1d(baseline_counts["scene_id"].unique(), candidate_counts["scene_id"].unique())
    if shared.size == 0:
        return RelativeGain(metric, None, None, None, None, None, 0)
    base_num, base_den = per_scene_sums(baseline_counts, metric=metric, k=k, scenes=shared)
    cand_num, cand_den = per_scene_sums(candidate_counts, metric=metric, k=k, scenes=shared)
    baseline_value = float(base_num.sum() / base_den.sum()) if base_den.sum() else None
    candidate_value = float(cand_num.sum() / cand_den.sum()) if cand_den.sum() else None
    if not baseline_value or candidate_value is None:
        return RelativeGain(metric, baseline_value, candidate_value, None, None, None, int(shared.size))
    gain = (candidate_value - baseline_value) / baseline_value

    sums = {"baseline_numerators": base_num, "baseline_denominators": base_den,
            "candidate_numerators": cand_num, "candidate_denominators": cand_den}
    interval = significance.paired_bootstrap_gain_interval(**sums, n_bootstrap=n_bootstrap, confidence=confidence,
                                                           seed=seed)
    test = significance.paired_randomization_test(**sums, statistic="difference", seed=seed)
    return RelativeGain(metric, baseline_value, candidate_value, float(gain), interval, test.p_value,
                        int(shared.size), test.exact, test.n_permutations)


def relative_gains(baseline_slot_labels: pd.DataFrame, baseline_query_objects: pd.DataFrame,
                   candidate_slot_labels: pd.DataFrame, candidate_query_objects: pd.DataFrame, *,
                   k: int = DEFAULT_K, n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
                   confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> dict:
    """Relative gains of every metric of a run over its baseline, keyed by metric name."""
    base = per_query_object_counts(aggregate_slot_grades(baseline_slot_labels), baseline_query_objects)
    cand = per_query_object_counts(aggregate_slot_grades(candidate_slot_labels), candidate_query_objects)
    return {metric: relative_gain(base, cand, metric=metric, k=k, n_bootstrap=n_bootstrap,
                                  confidence=confidence, seed=seed).as_dict()
            for metric in METRIC_COLUMNS}
