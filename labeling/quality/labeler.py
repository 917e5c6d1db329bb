"""One labeler's quality, for the labeler themself (``/me/quality/``, ``GET /api/v1/me/quality``) and
for staff (a labeler's page on the quality dashboard).

A labeler's own figures are computed live from their own labels only: accuracy on golden items
(with its 95% interval, and per time window so they see it move), time per label, labels per hour.
What they never get: a golden answer, another labeler's figures, another pool's. Consistency is
left out on purpose: it would be computed from the other labelers' answers on the same items.

``labeler_figures`` is pure (records in, figures out); the selectors below it read the database
in a fixed number of queries, whatever the number of labels.
"""
from __future__ import annotations

from labeling.models import LabelerFeedback, QualitySnapshot, User
from labeling.quality.coded import accuracy_key, figure_rng
from labeling.quality.frames import quality_frames
from labeling.quality.metrics import DEFAULT_BOOTSTRAP_SAMPLES, empty_figure, mean_figure, time_windows, window_start
from labeling.quality.selectors import label_records
from labeling.task_kinds import task_kind_spec, task_kind_specs

# The newest feedback shown; older notes stay in the database (and in the admin).
FEEDBACK_SHOWN = 100
# A labeler's own golden figures leave out their newest labels: otherwise the count of golden labels
# (or the accuracy) moving right after a submit would tell them the task they just did was golden.
OWN_FIGURES_LAG = 10


def labeler_figures(*, kind: str, records: list[dict], golden: dict[str, dict],
                    n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES, seed: int = 0, lag: int = 0) -> dict:
    """One labeler's figures on one kind from their own label records (oldest first) and the golden
    answers of the items they labeled: ``n_labels``, ``n_golden_labels``, ``accuracy`` (and one key
    per other accuracy scale of the kind), ``over_time`` ({window, rows: [{start, accuracy}]}),
    ``time_per_label_s``, ``labels_per_hour``, ``last_label_at`` and ``held_back``: the golden
    figures leave out the ``lag`` newest labels (``OWN_FIGURES_LAG`` on the labeler's own page)."""
    spec = task_kind_spec(kind)
    frames = quality_frames(kind=kind, records=records, golden=golden)
    labels = frames.labels
    scored_until = max(0, len(labels) - lag)
    accuracy_frames = {scale: frame[frame["label"] < scored_until] for scale, frame in frames.accuracy.items()}
    figures = {"n_labels": int(len(labels)),
               "n_golden_labels": int(labels["is_golden"].astype(bool).iloc[:scored_until].sum()),
               "held_back": int(len(labels) - scored_until), "accuracy_scales": list(spec.accuracy_scales)}
    for scale in spec.accuracy_scales:
        correct = accuracy_frames[scale]["correct"].to_numpy(dtype="float64")
        figures[accuracy_key(scale)] = (mean_figure(correct, rng=figure_rng(seed, f"accuracy:{scale}"),
                                                     n_bootstrap=n_bootstrap) if correct.size else empty_figure())
    time_per_label = float(labels["time_spent_ms"].mean() / 1000) if len(labels) else None
    figures["time_per_label_s"] = time_per_label
    figures["labels_per_hour"] = 3600 / time_per_label if time_per_label else None
    created = labels["created_at"].dropna()
    figures["last_label_at"] = created.max().isoformat() if len(created) else None
    figures["over_time"] = _over_time(accuracy_frames["exact"], created, seed=seed, n_bootstrap=n_bootstrap)
    return figures


def _over_time(accuracy, created, *, seed: int, n_bootstrap: int) -> dict:
    window_name, seconds = time_windows(created)
    accuracy = accuracy[accuracy["created_at"].notna()] if len(accuracy) else accuracy
    if accuracy.empty:
        return {"window": window_name, "rows": []}
    starts = window_start(accuracy["created_at"], seconds)
    correct = accuracy["correct"].to_numpy(dtype="float64")
    rows = [{"start": start.isoformat(),
             "accuracy": mean_figure(correct[positions], rng=figure_rng(seed, f"time:{start.isoformat()}"),
                                     n_bootstrap=n_bootstrap)}
            for start, positions in accuracy.groupby(starts, sort=True).indices.items()]
    return {"window": window_name, "rows": rows}


# -- selectors ----------------------------------------------------------------------------------

def labeler_feedback_rows(*, labeler: User, limit: int = FEEDBACK_SHOWN) -> list[dict]:
    """The feedback staff gave the labeler, newest first (one query)."""
    return [{"id": pk, "body": body, "author": author, "created_at": created_at, "label": label_id}
            for pk, body, author, created_at, label_id in
            LabelerFeedback.objects.filter(labeler=labeler).order_by("-created_at", "-pk")
            .values_list("pk", "body", "author__username", "created_at", "label_id")[:limit]]


def labeler_quality(*, labeler: User) -> dict:
    """The labeler's own figures per kind they have labels in, and the feedback they were given:
    one query per task kind and one for the feedback. Staff labels are the reference, never
    scored, so a staff member's own page shows only the labels they gave as a labeler would."""
    kinds = []
    for kind, spec in task_kind_specs().items():
        records, golden, _ = label_records(task_kind=kind, labeler_id=labeler.pk)
        if records:
            kinds.append({"kind": kind, "label": spec.label,
                          **labeler_figures(kind=kind, records=records, golden=golden, lag=OWN_FIGURES_LAG)})
    return {"labeler": labeler.get_username(), "simulated": bool(labeler.is_simulated), "kinds": kinds,
            "feedback": labeler_feedback_rows(labeler=labeler)}


def labeler_snapshot_rows(*, labeler: User) -> list[dict]:
    """The labeler's row of each kind's stored quality report (``per_labeler``), with the kind and
    when the report was computed: what staff see on the labeler's page (one query)."""
    rows = []
    specs = task_kind_specs()
    for kind, report, computed_at in (QualitySnapshot.objects.filter(computed_at__isnull=False)
                                      .order_by("task_kind").values_list("task_kind", "report", "computed_at")):
        own = next((row for row in (report or {}).get("per_labeler", []) if row["labeler"] == labeler.get_username()),
                   None)
        if own is not None and kind in specs:
            rows.append({"kind": kind, "label": specs[kind].label, "computed_at": computed_at,
                         "accuracy_scales": report.get("accuracy_scales", ["exact"]), "row": own,
                         "overall": report.get("overall", {})})
    return rows


def labeler_ids_by_username(*, usernames) -> dict[str, int]:
    """username -> user id, for linking a report's labeler rows to their pages (one query)."""
    return dict(User.objects.filter(username__in=list(usernames)).values_list("username", "pk"))
