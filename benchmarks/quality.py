#!/usr/bin/env python
"""Benchmark of the label-quality report at scale.

Builds the quality frames of 1,000,000 relevance labels directly (100,000 items of one judged slot,
10 labels each, 200 labelers in 3 pools, 10% of the items golden), seeded, then times
``quality_report_from_frames``: every pool and labeler figure with its bootstrap interval,
consistency, accuracy (exact and coarse), Krippendorff's alpha with its interval, the breakdowns,
and both aggregations (majority vote and Dawid-Skene). Building frames from label records (the
kind's ``quality_rows`` per item, Python) is timed separately on a smaller sample and reported per
label: that is the snapshot task's cost, not the page's.

    .venv/bin/python benchmarks/quality.py [--items 100000] [--labels-per-item 10] [--labelers 200]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

import django  # noqa: E402

django.setup()

from labeling.quality.frames import (CATEGORICAL_LABEL_COLUMNS, CATEGORICAL_UNIT_COLUMNS, QualityFrames,  # noqa: E402
                                     quality_frames)
from labeling.quality.report import quality_report_from_frames  # noqa: E402
from labeling.task_kinds.relevance import COARSE_GRADE, GRADES  # noqa: E402

POOLS = (("In-house", "in_house", 0.92), ("Fixed outside", "fixed_outside", 0.7), ("Crowd", "crowd", 0.35))


def synthetic_frames(*, items: int, per_item: int, labelers: int, golden_share: float, seed: int) -> QualityFrames:
    rng = np.random.default_rng(seed)
    grades = np.array(GRADES, dtype=object)
    truth = rng.choice(4, size=items, p=[0.2, 0.3, 0.3, 0.2])
    pool_of = np.arange(labelers) % len(POOLS)
    skill = np.array([POOLS[p][2] for p in pool_of]) + rng.normal(0, 0.05, labelers)
    # Each item gets per_item distinct labelers.
    chosen = np.argsort(rng.random((items, labelers)), axis=1)[:, :per_item] if labelers <= 400 else None
    labeler = chosen.reshape(-1)
    item = np.repeat(np.arange(items), per_item)
    right = rng.random(labeler.size) < np.clip(skill[labeler], 0, 1)
    given = np.where(right, truth[item], rng.integers(0, 5, size=labeler.size))
    n = labeler.size
    names = np.array([f"labeler-{i:03d}" for i in range(labelers)], dtype=object)
    pool_names = np.array([POOLS[p][0] for p in pool_of], dtype=object)
    pool_kinds = np.array([POOLS[p][1] for p in pool_of], dtype=object)
    golden_items = rng.random(items) < golden_share
    item_keys = np.where(golden_items, "golden-", "task-").astype(object) + np.arange(items).astype(str).astype(object)
    created = pd.Timestamp("2026-12-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 14 * 86400, n), unit="s")
    labels = pd.DataFrame({"item": item_keys[item], "task": item, "labeler": names[labeler],
                           "pool": pool_names[labeler], "pool_kind": pool_kinds[labeler],
                           "pool_cost_per_label": np.array([0.3, 0.12, 0.03])[pool_of[labeler]],
                           "simulated": True, "is_golden": golden_items[item], "guide_version": "Relevance v1",
                           "category": np.array(["dresses", "shoes", "bags", "tops"], dtype=object)[item % 4],
                           "created_at": created, "time_spent_ms": rng.gamma(2.0, 2500.0, n)})
    carried = labels[["item", "labeler", "pool", "guide_version", "category", "created_at"]]
    units = pd.concat([pd.DataFrame({"label": np.arange(n), "unit": "slot:1", "value": grades[given],
                                     "field": "slot"}), carried], axis=1)
    golden_rows = np.flatnonzero(golden_items[item])
    accuracy = {}
    for scale in ("exact", "coarse"):
        to_scale = (lambda g: g) if scale == "exact" else np.vectorize(COARSE_GRADE.get, otypes=[object])
        value, expected = to_scale(grades[given[golden_rows]]), to_scale(grades[truth[item[golden_rows]]])
        accuracy[scale] = pd.concat([pd.DataFrame({"label": golden_rows, "unit": "slot:1", "correct": value == expected,
                                                   "value": value, "golden_value": expected, "field": "slot"}),
                                     carried.iloc[golden_rows].reset_index(drop=True)], axis=1)
    # The frames as quality_frames makes them: categorical text columns.
    labels = labels.astype({column: "category" for column in CATEGORICAL_LABEL_COLUMNS})
    units = units.astype({column: "category" for column in (*CATEGORICAL_UNIT_COLUMNS, *CATEGORICAL_LABEL_COLUMNS)
                          if column in units})
    accuracy = {scale: frame.astype({column: "category" for column in ("unit", "field", *CATEGORICAL_LABEL_COLUMNS)
                                     if column in frame}) for scale, frame in accuracy.items()}
    return QualityFrames(kind="relevance", labels=labels, units=units, accuracy=accuracy)


def records_sample(n_items: int, per_item: int, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    records, golden = [], {}
    for index in range(n_items):
        item = f"golden-{index}" if index % 10 == 0 else f"task-{index}"
        if item.startswith("golden"):
            golden[item] = {"grades": list(rng.choice(GRADES[:4], 5))}
        for labeler in range(per_item):
            records.append({"item": item, "task": index, "labeler": f"l{labeler}", "pool": "p", "pool_kind": "crowd",
                            "pool_cost_per_label": None, "simulated": True, "is_golden": item.startswith("golden"),
                            "answer": {"grades": list(rng.choice(GRADES, 5))},
                            "payload": {"query_object": {"category": "dresses"}}, "guide_version": None,
                            "category": None, "created_at": None, "time_spent_ms": 3000})
    return records, golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labels-per-item", type=int, default=10)
    parser.add_argument("--labelers", type=int, default=200)
    parser.add_argument("--golden-share", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frames = synthetic_frames(items=args.items, per_item=args.labels_per_item, labelers=args.labelers,
                              golden_share=args.golden_share, seed=args.seed)
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = quality_report_from_frames(frames)
        timings.append(time.perf_counter() - started)
    print(f"labels: {len(frames.labels):,}  items: {frames.labels['item'].nunique():,}  "
          f"labelers: {frames.labels['labeler'].nunique()}  golden rows: {len(frames.accuracy['exact']):,}")
    print(f"quality_report_from_frames: best {min(timings):.2f} s, median {sorted(timings)[len(timings) // 2]:.2f} s "
          f"over {args.repeat} runs")
    for row in report["per_pool"]:
        print(f"  {row['pool']:<14} consistency {row['consistency']['value']:.3f}  accuracy {row['accuracy']['value']:.3f}"
              f"  alpha {row['alpha']['value']:.3f}  labels {row['n_labels']:,}")
    aggregation = report["aggregation"]
    print(f"  aggregated accuracy: majority {aggregation['majority']['accuracy']['value']:.4f}, "
          f"Dawid-Skene {aggregation['dawid_skene']['accuracy']['value']:.4f}")

    records, golden = records_sample(2_000, 10, args.seed)
    started = time.perf_counter()
    quality_frames(kind="relevance", records=records, golden=golden)
    elapsed = time.perf_counter() - started
    print(f"quality_frames from records (relevance, 5 slots per label): {elapsed / len(records) * 1e6:.1f} us per label "
          f"({len(records):,} labels in {elapsed:.2f} s)")


if __name__ == "__main__":
    main()
