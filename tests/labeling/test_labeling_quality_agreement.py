"""Krippendorff's alpha on answer frames, our coincidence-matrix alpha, and its bootstrap interval
(pure, no database)."""
from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

from labeling.quality.agreement import (
    LEVELS,
    ORDINAL_NEEDS_ORDER,
    UNKNOWN_LEVEL,
    VALUE_NOT_IN_ORDER,
    alpha_from_value_counts,
    alpha_interval,
    krippendorff_alpha,
)

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 3 coders x 15 units.
THREE_CODERS = [
    [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
    [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
    [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
]
THREE_CODERS_ALPHA = {"nominal": 0.691358, "interval": 0.810845}

# Same paper: 4 coders x 12 units.
FOUR_CODERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]
FOUR_CODERS_ALPHA = {"nominal": 0.743421, "ordinal": 0.815388, "interval": 0.849107, "ratio": 0.797403}

PUBLISHED = [
    (THREE_CODERS, [1, 2, 3, 4], level, expected) for level, expected in THREE_CODERS_ALPHA.items()
] + [(FOUR_CODERS, [1, 2, 3, 4, 5], level, expected) for level, expected in FOUR_CODERS_ALPHA.items()]


def long_frame(reliability_data: list[list[float]]) -> pd.DataFrame:
    """One row per (unit, labeler) answer; NaN cells are answers nobody gave."""
    rows = [
        (f"u{unit}", f"coder{coder}", int(value))
        for coder, row in enumerate(reliability_data)
        for unit, value in enumerate(row)
        if not np.isnan(value)
    ]
    return pd.DataFrame(rows, columns=["unit", "labeler_id", "value"])


def value_counts(reliability_data: list[list[float]], domain: list[int]) -> np.ndarray:
    data = np.asarray(reliability_data, dtype=float)
    return (data.T[:, :, None] == np.asarray(domain, dtype=float)[None, None, :]).sum(axis=1)


@pytest.mark.parametrize(("data", "domain", "level", "expected"), PUBLISHED)
def test_krippendorff_alpha_on_a_frame_matches_the_published_examples(data, domain, level, expected):
    assert krippendorff_alpha(long_frame(data), level=level, value_order=domain) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("data", "domain", "level", "expected"), PUBLISHED)
def test_alpha_from_value_counts_matches_the_published_examples(data, domain, level, expected):
    alpha = alpha_from_value_counts(value_counts(data, domain), level=level, value_domain=np.asarray(domain))
    assert alpha == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_from_value_counts_equals_the_krippendorff_package_on_random_data(level):
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(20):
        n_values = int(rng.integers(2, 7))
        domain = np.sort(rng.choice(np.arange(1, 20), size=n_values, replace=False)).astype(float)
        n_units = int(rng.integers(5, 60))
        # Units agree to varying degrees: a few labelers each, drawn around a unit-specific value.
        counts = np.zeros((n_units, n_values), dtype=np.int64)
        for unit in range(n_units):
            centre = rng.integers(n_values)
            answers = np.clip(centre + rng.integers(-1, 2, size=rng.integers(0, 6)), 0, n_values - 1)
            counts[unit] = np.bincount(answers, minlength=n_values)
        if (counts.sum(axis=1) < 2).all() or np.count_nonzero(counts[counts.sum(axis=1) >= 2].sum(axis=0)) < 2:
            continue
        expected = krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        assert alpha_from_value_counts(counts, level=level, value_domain=domain) == pytest.approx(expected, abs=1e-9)
        compared += 1
    assert compared >= 15


def test_krippendorff_alpha_on_string_grades_uses_value_order_for_the_ordinal_scale():
    grades = ["extremely_similar", "similar", "marginally_similar", "not_similar", "did_not_load"]
    frame = long_frame(FOUR_CODERS)
    frame["value"] = [grades[value - 1] for value in frame["value"]]
    assert krippendorff_alpha(frame, level="ordinal", value_order=grades) == pytest.approx(0.815388, abs=1e-6)
    assert krippendorff_alpha(frame, level="nominal") == pytest.approx(0.743421, abs=1e-6)


def test_krippendorff_alpha_drops_missing_values_before_pairing():
    frame = long_frame(FOUR_CODERS)
    with_skips = pd.concat([
        frame,
        pd.DataFrame({"unit": ["u0", "u5", "u9", "u10"], "labeler_id": ["extra"] * 4, "value": [-1] * 4}),
    ])
    assert krippendorff_alpha(with_skips, level="nominal") != pytest.approx(0.743421, abs=1e-6)
    assert krippendorff_alpha(with_skips, level="nominal", missing=frozenset({-1})) == pytest.approx(0.743421, abs=1e-6)


def test_krippendorff_alpha_is_none_without_pairable_values_or_with_one_distinct_value():
    lonely = pd.DataFrame({"unit": ["a", "b", "c"], "labeler_id": ["x", "y", "z"], "value": [1, 2, 3]})
    assert krippendorff_alpha(lonely, level="nominal") is None
    unanimous = pd.DataFrame({"unit": ["a", "a", "b", "b"], "labeler_id": ["x", "y", "x", "y"], "value": [2, 2, 2, 2]})
    assert krippendorff_alpha(unanimous, level="interval") is None
    assert alpha_interval(unanimous, level="interval") is None
    assert alpha_from_value_counts(np.array([[2, 0], [3, 0]]), level="nominal") is None


def test_krippendorff_alpha_refuses_unknown_levels_ordinal_without_order_and_values_outside_it():
    frame = long_frame(FOUR_CODERS)
    with pytest.raises(ValueError) as refused:
        krippendorff_alpha(frame, level="cardinal")
    assert str(refused.value) == UNKNOWN_LEVEL
    with pytest.raises(ValueError) as refused:
        krippendorff_alpha(frame, level="ordinal")
    assert str(refused.value) == ORDINAL_NEEDS_ORDER
    with pytest.raises(ValueError) as refused:
        krippendorff_alpha(frame, level="ordinal", value_order=[1, 2, 3, 4])
    assert str(refused.value) == VALUE_NOT_IN_ORDER


def crowd_frame(seed: int) -> pd.DataFrame:
    """400 units, 3-5 labelers each, answering a unit's grade or a neighbouring one."""
    rng = np.random.default_rng(seed)
    rows = []
    for unit in range(400):
        centre = int(rng.integers(5))
        for labeler in range(int(rng.integers(3, 6))):
            rows.append((unit, labeler, int(np.clip(centre + rng.choice([-1, 0, 0, 0, 1]), 0, 4))))
    return pd.DataFrame(rows, columns=["unit", "labeler_id", "value"])


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_interval_contains_the_point_estimate_and_repeats_for_a_seed(level):
    frame = crowd_frame(seed=3)
    order = [0, 1, 2, 3, 4]
    alpha = krippendorff_alpha(frame, level=level, value_order=order)
    low, high = alpha_interval(frame, level=level, value_order=order, seed=11)
    assert low < alpha < high
    assert high - low < 0.2
    assert alpha_interval(frame, level=level, value_order=order, seed=11) == (low, high)
    assert alpha_interval(frame, level=level, value_order=order, seed=12) != (low, high)


def test_alpha_interval_widens_with_the_confidence_level():
    frame = crowd_frame(seed=4)
    low_90, high_90 = alpha_interval(frame, level="nominal", confidence=0.9, n_bootstrap=400)
    low_99, high_99 = alpha_interval(frame, level="nominal", confidence=0.99, n_bootstrap=400)
    assert low_99 < low_90 and high_90 < high_99


def test_alpha_interval_ignores_missing_values():
    frame = crowd_frame(seed=5)
    skips = pd.DataFrame({"unit": range(0, 400, 3), "labeler_id": 99, "value": "skip"})
    clean = alpha_interval(frame, level="nominal", seed=1)
    assert alpha_interval(pd.concat([frame, skips]), level="nominal", missing=frozenset({"skip"}), seed=1) == clean
    assert alpha_interval(pd.concat([frame, skips]), level="nominal", seed=1) != clean
