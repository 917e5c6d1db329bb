"""Significance maths of run comparisons: the paired randomization test against scipy's, the
sample-size planner against a hand computation, and chained against baseline gains on hand-made
frames (docs/METRICS.md, "Run comparison and significance")."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation import comparison, metrics, significance


def per_scene_data(n: int, *, seed: int, baseline_rate: float, candidate_rate: float):
    """Per-scene sums of two runs as the metrics have them: whole numbers of relevant slots out of
    5 slots per judged query object, 1 to 3 query objects per scene and run."""
    rng = np.random.default_rng(seed)
    a_den = rng.integers(1, 4, n) * 5
    b_den = rng.integers(1, 4, n) * 5
    a_num = rng.binomial(a_den, baseline_rate)
    b_num = rng.binomial(b_den, candidate_rate)
    return a_num, a_den, b_num, b_den


def scipy_paired_test(a_num, a_den, b_num, b_den, *, statistic: str, n_resamples, seed: int = 11):
    """scipy.stats.permutation_test with permutation_type="samples" on the same data: each sample
    holds scene indices into one table of (numerator, denominator), so that swapping a pair swaps
    the scene's two runs and the statistic recomputes the ratio of sums."""
    n = len(a_num)
    numerators = np.concatenate([a_num, b_num]).astype(float)
    denominators = np.concatenate([a_den, b_den]).astype(float)

    def ratio_statistic(x, y, axis=-1):
        x, y = x.astype(int), y.astype(int)
        baseline = numerators[x].sum(axis=axis) / denominators[x].sum(axis=axis)
        candidate = numerators[y].sum(axis=axis) / denominators[y].sum(axis=axis)
        return candidate - baseline if statistic == "difference" else (candidate - baseline) / baseline

    return stats.permutation_test((np.arange(n), np.arange(n, 2 * n)), ratio_statistic, permutation_type="samples",
                                  vectorized=True, n_resamples=n_resamples, alternative="two-sided",
                                  rng=np.random.default_rng(seed))


def ours(a_num, a_den, b_num, b_den, **options):
    return significance.paired_randomization_test(baseline_numerators=a_num, baseline_denominators=a_den,
                                                  candidate_numerators=b_num, candidate_denominators=b_den, **options)


@pytest.mark.parametrize("statistic", ["difference", "relative_gain"])
@pytest.mark.parametrize("n,seed", [(6, 1), (12, 2), (16, 3)])
def test_exact_randomization_test_gives_scipys_exact_p_value(statistic, n, seed):
    data = per_scene_data(n, seed=seed, baseline_rate=0.3, candidate_rate=0.4)
    expected = scipy_paired_test(*data, statistic=statistic, n_resamples=np.inf)
    result = ours(*data, statistic=statistic)
    assert result.exact
    assert result.n_permutations == 2 ** n
    assert result.observed == pytest.approx(float(expected.statistic), rel=1e-12)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("statistic", ["difference", "relative_gain"])
def test_sampled_randomization_test_agrees_with_scipy_within_monte_carlo_error(statistic):
    # 40 scenes: 2^40 swap patterns, so both tests sample. A modest effect keeps p in the middle,
    # where the Monte Carlo error is largest and a wrong tail count would show.
    data = per_scene_data(40, seed=7, baseline_rate=0.30, candidate_rate=0.33)
    result = ours(*data, statistic=statistic)
    reference_draws = 200_000
    expected = float(scipy_paired_test(*data, statistic=statistic, n_resamples=reference_draws).pvalue)
    assert not result.exact
    assert result.n_permutations == significance.DEFAULT_RANDOMIZATION_DRAWS
    assert 0.05 < expected < 0.95, "the data should give a p-value away from the ends"
    # A two-sided p is twice a tail share t: its standard error is 2 sqrt(t (1 - t) / draws).
    tail = expected / 2
    error = 2 * math.sqrt(tail * (1 - tail) * (1 / result.n_permutations + 1 / reference_draws))
    assert abs(result.p_value - expected) < 4 * error


def test_the_boundary_between_exact_and_sampled_is_sixteen_scenes():
    exact = ours(*per_scene_data(16, seed=4, baseline_rate=0.3, candidate_rate=0.35))
    sampled = ours(*per_scene_data(17, seed=4, baseline_rate=0.3, candidate_rate=0.35))
    assert (exact.exact, exact.n_permutations) == (True, 65_536)
    assert (sampled.exact, sampled.n_permutations) == (False, 10_000)


def test_sampled_p_value_is_the_same_on_every_call_and_never_zero():
    data = per_scene_data(60, seed=5, baseline_rate=0.1, candidate_rate=0.6)
    first, second = ours(*data), ours(*data)
    assert first.p_value == second.p_value
    # No draw is as extreme as the observed one: p is the observed pattern alone, 2 x 1/10,001.
    assert first.p_value == pytest.approx(2 / 10_001)


def test_two_identical_runs_have_p_value_one():
    a_num, a_den, _, _ = per_scene_data(10, seed=6, baseline_rate=0.3, candidate_rate=0.3)
    result = ours(a_num, a_den, a_num, a_den)
    assert result.observed == 0.0
    assert result.p_value == 1.0


def test_exact_p_value_of_a_two_scene_case_by_hand():
    # Scene 1: A 1/5, B 3/5; scene 2: A 2/5, B 4/5. Observed B - A = 7/10 - 3/10 = 0.4.
    # The four swap patterns give B - A = 0.4 (none), 0.0 (scene 1: B 5/10, A 5/10),
    # 0.0 (scene 2: B 5/10, A 5/10) and -0.4 (both). Tails: <= 0.4: 4 of 4; >= 0.4: 1 of 4.
    result = ours([1, 2], [5, 5], [3, 4], [5, 5])
    assert result.observed == pytest.approx(0.4)
    assert result.p_value == pytest.approx(2 * 1 / 4)


def test_unknown_statistic_is_refused_with_its_name():
    with pytest.raises(ValueError) as error:
        ours([1], [5], [2], [5], statistic="ratio")
    assert str(error.value) == significance.UNKNOWN_STATISTIC_ERROR.format(statistic="ratio")


def test_relative_gain_p_value_is_the_randomization_test_on_the_shared_scenes():
    rng = np.random.default_rng(8)
    scenes = np.arange(20)
    base_rows, cand_rows, base_objects, cand_objects = [], [], [], []
    for scene in scenes:
        for ordinal in range(2):
            base_id, cand_id = 1000 + scene * 2 + ordinal, 5000 + scene * 2 + ordinal
            base_objects.append((base_id, int(scene), "tops", 5))
            cand_objects.append((cand_id, int(scene), "tops", 5))
            for slot in range(1, 6):
                base_rows.append((base_id, slot, "similar" if rng.random() < 0.3 else "not_similar"))
                cand_rows.append((cand_id, slot, "similar" if rng.random() < 0.4 else "not_similar"))
    columns = list(metrics.QUERY_OBJECT_COLUMNS)
    base = comparison.run_counts(pd.DataFrame(base_rows, columns=["query_object_id", "slot", "grade"]),
                                 pd.DataFrame(base_objects, columns=columns))
    cand = comparison.run_counts(pd.DataFrame(cand_rows, columns=["query_object_id", "slot", "grade"]),
                                 pd.DataFrame(cand_objects, columns=columns))
    gain = metrics.relative_gain(base, cand, metric="similar_p_at_5")
    base_num, base_den = comparison.scene_sums(base, metric="similar_p_at_5", k=5, scenes=scenes)
    cand_num, cand_den = comparison.scene_sums(cand, metric="similar_p_at_5", k=5, scenes=scenes)
    expected = ours(base_num, base_den, cand_num, cand_den, statistic="difference")
    assert gain.p_value == expected.p_value
    assert (gain.exact, gain.n_permutations) == (False, 10_000)
    # The interval is still the paired bootstrap's, around the gain.
    low, high = gain.ci
    assert low < gain.gain < high


# -- the sample-size planner ----------------------------------------------------------------------

def test_planner_matches_a_hand_computation_with_equal_scenes():
    # Four scenes of one query object: similar slots 2, 4, 1, 3 of 5. m = 10/20 = 0.5.
    # Linearised residuals r_i = (y_i - m x_i) / mean(x) = (-0.5, 1.5, -1.5, 0.5) / 5
    # = -0.1, 0.3, -0.3, 0.1; sigma^2 = (0.01 + 0.09 + 0.09 + 0.01) / 3 = 0.2 / 3.
    # No correlation between runs: sigma_d^2 = 2 sigma^2 = 0.4 / 3.
    # (z_0.975 + z_0.8)^2 = (1.959964 + 0.841621)^2 = 7.848880.
    # n(g) = 7.848880 x (0.4 / 3) / (0.5 g)^2 = 4.186069 / g^2:
    #   2%: 10465.2 -> 10466;  5%: 1674.4 -> 1675;  10%: 418.6 -> 419;  20%: 104.65 -> 105.
    # Detectable at n = 4: 2.801585 x sqrt(0.4 / 3) / (0.5 x sqrt(4)) = 1.022994.
    plan = significance.sample_size_plan(numerators=[2, 4, 1, 3], denominators=[5, 5, 5, 5])
    assert plan.value == 0.5
    assert plan.scene_sd == pytest.approx(math.sqrt(0.2 / 3))
    assert plan.difference_sd == pytest.approx(math.sqrt(0.4 / 3))
    assert significance.plan_z_total() ** 2 == pytest.approx(7.848880, abs=1e-6)
    assert [row["n_scenes"] for row in plan.rows] == [10466, 1675, 419, 105]
    assert [row["gain"] for row in plan.rows] == [0.02, 0.05, 0.10, 0.20]
    assert plan.detectable_gain == pytest.approx(1.022994, abs=1e-6)


def test_planner_weighs_scenes_by_their_denominators():
    # Scenes of one or two query objects: y = 1, 3, 0, 4 of x = 5, 10, 5, 10. m = 8/30 = 4/15,
    # mean(x) = 7.5; residuals (y - m x) / 7.5 = -2/45, 2/45, -8/45, 8/45; sigma^2 = 136/6075,
    # sigma_d^2 = 272/6075. At 10%: delta = 0.1 x 4/15; n = 7.848880 x (272/6075) / delta^2 = 494.19 -> 495.
    plan = significance.sample_size_plan(numerators=[1, 3, 0, 4], denominators=[5, 10, 5, 10], gains=(0.1,))
    assert plan.value == pytest.approx(4 / 15)
    assert plan.scene_sd ** 2 == pytest.approx(136 / 6075)
    assert plan.rows[0]["n_scenes"] == 495


def test_planner_with_correlated_runs_needs_fewer_scenes():
    # rho = 0.5 halves sigma_d^2: 4.186069 / 2 / 0.1^2 = 209.3 -> 210 at 10%.
    plan = significance.sample_size_plan(numerators=[2, 4, 1, 3], denominators=[5, 5, 5, 5], gains=(0.1,),
                                         correlation=0.5)
    assert plan.rows[0]["n_scenes"] == 210


def test_planner_says_nothing_it_cannot_estimate():
    one_scene = significance.sample_size_plan(numerators=[2], denominators=[5])
    no_spread = significance.sample_size_plan(numerators=[2, 2, 2], denominators=[5, 5, 5])
    zero_metric = significance.sample_size_plan(numerators=[0, 0], denominators=[5, 5])
    for plan in (one_scene, no_spread, zero_metric):
        assert all(row["n_scenes"] is None for row in plan.rows)
        assert plan.detectable_gain is None
    with pytest.raises(ValueError) as error:
        significance.sample_size_plan(numerators=[1, 2], denominators=[5, 5], gains=(0.0,))
    assert str(error.value) == significance.PLAN_GAIN_ERROR.format(gain=0.0)


# -- chained against baseline gains ---------------------------------------------------------------

def hand_run(run_id: int, similar_per_scene: dict[int, int], *, first_object: int) -> comparison.RunCounts:
    """One query object per scene with ``similar`` of its 5 slots similar, the rest not similar."""
    labels, objects = [], []
    for offset, (scene, similar) in enumerate(sorted(similar_per_scene.items())):
        query_object = first_object + offset
        objects.append((query_object, scene, "tops", 5))
        labels += [(query_object, slot, "similar" if slot <= similar else "not_similar") for slot in range(1, 6)]
    counts = comparison.run_counts(pd.DataFrame(labels, columns=["query_object_id", "slot", "grade"]),
                                   pd.DataFrame(objects, columns=list(metrics.QUERY_OBJECT_COLUMNS)))
    return comparison.RunCounts(run_id=run_id, name=f"run {run_id}", counts=counts)


def hand_runs():
    # Similar P@5 on scenes 1 and 2: A 2/10 = 0.2, B 4/10 = 0.4, C 6/10 = 0.6.
    # Bad rate (not similar slots of 10): A 0.8, B 0.6, C 0.4. No slot is extremely similar.
    return [hand_run(1, {1: 1, 2: 1}, first_object=10), hand_run(2, {1: 2, 2: 2}, first_object=20),
            hand_run(3, {1: 3, 2: 3}, first_object=30)]


def gains_of(block: dict, metric: str) -> list:
    rows = next(entry["rows"] for entry in block["metrics"] if entry["metric"] == metric)
    return [None if row["gain"] is None else (row["gain"]["reference_id"], row["gain"]["gain"]) for row in rows]


def test_baseline_mode_measures_every_run_against_the_baseline():
    block = comparison.compare_runs(hand_runs(), mode="baseline", baseline_index=0, n_bootstrap=200)
    assert block["baseline_id"] == 1
    similar = gains_of(block, "similar_p_at_5")
    assert similar[0] is None
    assert similar[1] == (1, pytest.approx((0.4 - 0.2) / 0.2))  # +100%
    assert similar[2] == (1, pytest.approx((0.6 - 0.2) / 0.2))  # +200%
    bad = gains_of(block, "bad_rate")
    assert bad[1] == (1, pytest.approx((0.6 - 0.8) / 0.8))  # -25%
    assert bad[2] == (1, pytest.approx((0.4 - 0.8) / 0.8))  # -50%
    values = [row["value"] for row in block["metrics"][0]["rows"]]
    assert values == [pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6)]


def test_chain_mode_measures_each_run_against_the_one_before():
    block = comparison.compare_runs(hand_runs(), mode="chain", n_bootstrap=200)
    assert block["baseline_id"] is None
    similar = gains_of(block, "similar_p_at_5")
    assert similar[0] is None
    assert similar[1] == (1, pytest.approx((0.4 - 0.2) / 0.2))  # +100%
    assert similar[2] == (2, pytest.approx((0.6 - 0.4) / 0.4))  # +50%
    bad = gains_of(block, "bad_rate")
    assert bad[2] == (2, pytest.approx((0.4 - 0.6) / 0.6))  # -33.3%
    # Nothing is extremely similar anywhere: every gain is undefined (a reference of 0).
    assert all(gain == (reference, None) for gain, reference in zip(gains_of(block, "extremely_similar_p_at_5")[1:],
                                                                     (1, 2)))


def test_a_baseline_in_the_middle_gives_gains_on_both_sides():
    block = comparison.compare_runs(hand_runs(), mode="baseline", baseline_index=1, n_bootstrap=200)
    similar = gains_of(block, "similar_p_at_5")
    assert similar == [(2, pytest.approx(-0.5)), None, (2, pytest.approx(0.5))]


def test_per_category_figures_use_only_the_scenes_every_run_judged():
    runs = hand_runs()
    # Run 3 also judged scene 9 (5 of 5 similar); runs 1 and 2 did not, so scene 9 is left out per
    # category, while its overall value counts it: (3 + 3 + 5) / 15.
    runs[2] = hand_run(3, {1: 3, 2: 3, 9: 5}, first_object=30)
    block = comparison.compare_runs(runs, mode="baseline", n_bootstrap=200)
    assert block["per_category"]["n_shared_scenes"] == 2
    assert block["metrics"][0]["rows"][2]["value"] == pytest.approx(11 / 15)
    [tops] = block["per_category"]["categories"]
    similar = next(entry["rows"] for entry in tops["metrics"] if entry["metric"] == "similar_p_at_5")
    assert [row["value"] for row in similar] == [pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6)]
    assert similar[2]["gain"]["gain"] == pytest.approx(2.0)
    assert similar[2]["gain"]["n_shared_scenes"] == 2
    # Overall, the gain pairs the scenes runs 1 and 3 share, which leaves scene 9 out too.
    overall = block["metrics"][0]["rows"][2]["gain"]
    assert (overall["n_shared_scenes"], overall["gain"]) == (2, pytest.approx(2.0))
    assert overall["exact"] is True and overall["n_permutations"] == 4


@pytest.mark.parametrize("run_ids,baseline,mode,field,message", [
    ([1], None, "baseline", "runs", comparison.COMPARE_TOO_FEW_RUNS.format(n=1)),
    ([1, 2, 1], None, "baseline", "runs", comparison.COMPARE_RUN_REPEATED.format(id=1)),
    (list(range(1, 10)), None, "baseline", "runs", comparison.COMPARE_TOO_MANY_RUNS.format(n=9)),
    ([1, 2], 3, "baseline", "baseline", comparison.COMPARE_BASELINE_NOT_AMONG_RUNS.format(id=3, ids="1, 2")),
    ([1, 2], None, "sideways", "mode", comparison.COMPARE_UNKNOWN_MODE.format(mode="sideways")),
])
def test_bad_comparison_requests_are_refused_naming_the_parameter(run_ids, baseline, mode, field, message):
    with pytest.raises(comparison.EvalRunCompareError) as error:
        comparison.compare_request_check(run_ids=run_ids, baseline_id=baseline, mode=mode)
    assert (error.value.field, str(error.value)) == (field, message)


def test_run_ids_come_comma_separated_or_repeated():
    assert comparison.compare_run_ids_parse(["3,1", "2"]) == [3, 1, 2]
    with pytest.raises(comparison.EvalRunCompareError) as error:
        comparison.compare_run_ids_parse(["1,x"])
    assert str(error.value) == comparison.COMPARE_RUN_ID_INVALID.format(value="x")
