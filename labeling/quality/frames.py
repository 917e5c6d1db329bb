"""Quality frames: label records -> the three DataFrames every quality metric reads.

- ``labels``: one row per label (who, pool, guide version, category, time, cost).
- ``units``: one row per (label, judged unit), from the kind's ``quality_rows``: the unit's
  ``value`` as nominal text, its ``field`` (``quality_field``) and the label's columns.
- ``accuracy[scale]``: one row per (label on a golden item, unit), from the kind's ``accuracy_rows``:
  ``correct`` and, for nominal units, ``value`` and ``golden_value``.

The kind's module is the only place that knows how an answer splits into units; everything after
this is the same for every kind. Pure: records in, frames out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labeling.task_kinds import task_kind_spec

LABEL_COLUMNS = ("item", "task", "labeler", "pool", "pool_kind", "pool_cost_per_label", "simulated", "is_golden",
                 "guide_version", "category", "created_at", "time_spent_ms")
# Columns of a label copied onto its unit and accuracy rows (breakdowns group on them).
CARRIED_COLUMNS = ("item", "labeler", "pool", "guide_version", "category", "created_at")
# Stored as pandas categoricals: the report works on their integer codes (labeling/quality/report.py).
CATEGORICAL_LABEL_COLUMNS = ("item", "labeler", "pool", "pool_kind", "guide_version", "category")
CATEGORICAL_UNIT_COLUMNS = ("unit", "value", "field")
NO_POOL = "(no pool)"
NO_GUIDE = "(no guide version)"
NO_CATEGORY = "(no category)"


@dataclass(frozen=True)
class QualityFrames:
    kind: str
    labels: pd.DataFrame
    units: pd.DataFrame
    accuracy: dict[str, pd.DataFrame]


def nominal(value) -> str:
    """A unit's value as text, so that every kind's values compare, group and sort alike."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _label_frame(records: list[dict], spec) -> pd.DataFrame:
    frame = pd.DataFrame({column: [record.get(column) for record in records] for column in LABEL_COLUMNS})
    # A record without a category (a hand-written file) gets the one its payload implies.
    frame["category"] = [record.get("category") or spec.item_category(record.get("payload") or {})
                         for record in records]
    frame["pool"] = frame["pool"].fillna(NO_POOL)
    frame["guide_version"] = frame["guide_version"].fillna(NO_GUIDE)
    frame["category"] = frame["category"].fillna(NO_CATEGORY)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["time_spent_ms"] = pd.to_numeric(frame["time_spent_ms"], errors="coerce").fillna(0).astype("float64")
    frame["simulated"] = frame["simulated"].astype(bool)
    return frame.astype({column: "category" for column in CATEGORICAL_LABEL_COLUMNS})


def _carry(rows: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    carried = labels.iloc[rows["label"].to_numpy()][list(CARRIED_COLUMNS)].reset_index(drop=True)
    return pd.concat([rows.reset_index(drop=True), carried], axis=1)


def quality_frames(*, kind: str, records: list[dict], golden: dict[str, dict], **options) -> QualityFrames:
    """The frames of one kind's label records; ``golden`` maps item -> golden answer; ``options``
    go to the kind's golden comparison (the IoU threshold)."""
    spec = task_kind_spec(kind)
    labels = _label_frame(records, spec)
    by_item: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_item.setdefault(record["item"], []).append(index)

    unit_label, unit_name, unit_value = [], [], []
    for item, indexes in by_item.items():
        payload = records[indexes[0]]["payload"]
        # The label's position stands in for the labeler: the kind keys rows by it, so every row
        # maps back to its label (and one labeler's two labels of an item, never made, would not merge).
        for row in spec.quality_rows(payload=payload, labels=[(index, records[index]["answer"]) for index in indexes]):
            unit_label.append(row.labeler_id)
            unit_name.append(row.unit)
            unit_value.append(nominal(row.value))
    units = pd.DataFrame({"label": np.asarray(unit_label, dtype="int64"), "unit": unit_name, "value": unit_value})
    fields = {name: spec.quality_field(name) for name in set(unit_name)}
    units["field"] = units["unit"].map(fields) if len(units) else pd.Series(dtype="object")
    units = _carry(units, labels).astype({column: "category" for column in CATEGORICAL_UNIT_COLUMNS})

    accuracy = {}
    golden_indexes = [index for index, record in enumerate(records) if record["item"] in golden]
    for scale in spec.accuracy_scales:
        columns = {"label": [], "unit": [], "correct": [], "value": [], "golden_value": [], "row_category": []}
        for index in golden_indexes:
            record = records[index]
            for row in spec.accuracy_rows(payload=record["payload"], answer=record["answer"],
                                          golden=golden[record["item"]], scale=scale, **options):
                columns["label"].append(index)
                columns["unit"].append(row.unit)
                columns["correct"].append(bool(row.correct))
                columns["value"].append(None if row.value is None else nominal(row.value))
                columns["golden_value"].append(None if row.golden_value is None else nominal(row.golden_value))
                columns["row_category"].append(row.category)
        frame = pd.DataFrame(columns)
        frame["label"] = frame["label"].astype("int64")
        frame["correct"] = frame["correct"].astype(bool)
        frame["field"] = frame["unit"].map(lambda name: spec.quality_field(name)) if len(frame) else pd.Series(
            dtype="object")
        frame = _carry(frame, labels)
        frame["category"] = frame["row_category"].where(frame["row_category"].notna(), frame["category"])
        accuracy[scale] = frame.drop(columns="row_category")
    return QualityFrames(kind=kind, labels=labels, units=units, accuracy=accuracy)
