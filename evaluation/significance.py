"""Significance of a difference between two evaluation runs, and how many scenes a run needs to show
one (docs/METRICS.md, "Run comparison and significance"). Pure numpy: per-scene numerators and
denominators in, numbers out.

Every relevance metric is a ratio of sums over scenes: Similar P@5 is the similar slots of a scene's
judged query objects over 5 x its judged query objects, summed over scenes; the Bad rate is the bad
slots over the judged slots. Runs are paired by scene (two detectors find different objects in the
same scene, so query objects cannot be paired), and each test or interval here recomputes the ratio
of sums for every draw rather than averaging per-scene ratios, so that a scene weighs as much as it
has query objects or slots.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

STATISTICS = ("difference", "relative_gain")
DEFAULT_STATISTIC = "difference"
# 2^16 = 65,536 swap patterns: enumerating them all is as cheap as drawing 10,000 and has no Monte
# Carlo error; above it, a seeded sample.
MAX_EXACT_SCENES = 16
DEFAULT_RANDOMIZATION_DRAWS = 10_000
DEFAULT_RANDOMIZATION_SEED = 0
DEFAULT_BOOTSTRAP_DRAWS = 1000
DEFAULT_CONFIDENCE = 0.95
# Keep one block of draws x scenes at about 2M numbers, whatever the number of scenes.
_BLOCK_CELLS = 2_000_000
# Values equal in exact arithmetic may differ by a few ulps once divided; scipy's tolerance.
_RELATIVE_TOLERANCE = 100 * np.finfo(np.float64).eps

PLAN_ALPHA = 0.05
PLAN_POWER = 0.80
PLAN_GAINS = (0.02, 0.05, 0.10, 0.20)

UNKNOWN_STATISTIC_ERROR = "unknown statistic {statistic!r}; expected one of " + ", ".join(STATISTICS)
UNEQUAL_LENGTHS_ERROR = "per-scene arrays differ in length: {lengths}"
DRAWS_TOO_FEW_ERROR = "n_draws must be at least 1, not {n_draws}"
PLAN_GAIN_ERROR = "a planned gain must be a non-zero number, not {gain!r}"
PLAN_CORRELATION_ERROR = "the correlation between runs must lie in [0, 1), not {correlation!r}"
PLAN_LEVEL_ERROR = "alpha and power must lie strictly between 0 and 1 (alpha {alpha!r}, power {power!r})"


def _arrays(*columns) -> list[np.ndarray]:
    arrays = [np.asarray(column, dtype=np.float64).ravel() for column in columns]
    lengths = {array.size for array in arrays}
    if len(lengths) > 1:
        raise ValueError(UNEQUAL_LENGTHS_ERROR.format(lengths=", ".join(str(a.size) for a in arrays)))
    return arrays


def _statistic(candidate: np.ndarray, baseline: np.ndarray, statistic: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if statistic == "difference":
            return candidate - baseline
        return (candidate - baseline) / baseline


@dataclass(frozen=True)
class RandomizationTest:
    """A paired randomization test's outcome: the observed statistic, the two-sided p-value, how
    many swap patterns it counted and whether those were all of them (``exact``)."""

    statistic: str
    observed: float | None
    p_value: float | None
    n_scenes: int
    n_permutations: int
    exact: bool

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "observed": self.observed, "p_value": self.p_value,
                "n_scenes": self.n_scenes, "n_permutations": self.n_permutations, "exact": self.exact}


def _swap_patterns(n: int, *, exact: bool, n_draws: int, seed: int):
    """Blocks of swap patterns (rows of 0/1, 1 = this scene's two results trade places)."""
    rows_per_block = max(1, _BLOCK_CELLS // max(n, 1))
    if exact:
        total = 1 << n
        bits = np.arange(n, dtype=np.int64)
        for start in range(0, total, rows_per_block):
            codes = np.arange(start, min(total, start + rows_per_block), dtype=np.int64)
            yield ((codes[:, None] >> bits) & 1).astype(np.float64)
        return
    rng = np.random.default_rng(seed)
    for start in range(0, n_draws, rows_per_block):
        rows = min(rows_per_block, n_draws - start)
        yield rng.integers(0, 2, size=(rows, n)).astype(np.float64)


def paired_randomization_test(*, baseline_numerators, baseline_denominators, candidate_numerators,
                              candidate_denominators, statistic: str = DEFAULT_STATISTIC,
                              max_exact_scenes: int = MAX_EXACT_SCENES, n_draws: int = DEFAULT_RANDOMIZATION_DRAWS,
                              seed: int = DEFAULT_RANDOMIZATION_SEED) -> RandomizationTest:
    """Paired randomization (sign-flip) test of "run B is no different from run A" on shared scenes.

    Each argument holds one number per shared scene, in the same scene order: a run's metric is
    ``sum(numerators) / sum(denominators)``. Under the null hypothesis the two runs' results of a
    scene are exchangeable, so each scene's (A, B) pair is swapped with probability 1/2 and the
    statistic (``difference``: B - A; ``relative_gain``: (B - A) / A) is recomputed from the swapped
    sums. With at most ``max_exact_scenes`` scenes every one of the 2^n swap patterns is counted
    (exact p-value); with more, ``n_draws`` patterns are drawn with ``seed`` (the same p on every
    reload) and the observed pattern is counted once more, (count + 1) / (draws + 1), so the p-value
    is never 0.

    Two-sided p-value: twice the smaller tail share (patterns whose statistic is <= the observed,
    and >= the observed), capped at 1, as ``scipy.stats.permutation_test`` computes it; doubling
    the smaller tail stays right when the null distribution is not symmetric, as a relative gain's
    is not. Statistics within 100 ulps of the observed count as equal to it. A pattern whose
    statistic is undefined (a swapped denominator or baseline of 0) falls in neither tail.
    """
    if statistic not in STATISTICS:
        raise ValueError(UNKNOWN_STATISTIC_ERROR.format(statistic=statistic))
    if n_draws < 1:
        raise ValueError(DRAWS_TOO_FEW_ERROR.format(n_draws=n_draws))
    a_num, a_den, b_num, b_den = _arrays(baseline_numerators, baseline_denominators, candidate_numerators,
                                         candidate_denominators)
    n = a_num.size
    if n == 0:
        return RandomizationTest(statistic, None, None, 0, 0, True)
    totals = (a_num.sum(), a_den.sum(), b_num.sum(), b_den.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = float(_statistic(np.array(totals[2] / totals[3]), np.array(totals[0] / totals[1]), statistic))
    if not math.isfinite(observed):
        return RandomizationTest(statistic, None, None, n, 0, True)
    # Swapping scene i moves (b_i - a_i) from B's sums to A's: the swapped sums are the observed
    # ones plus one matrix product per block, exact for the integer counts the metrics sum.
    delta_num, delta_den = a_num - b_num, a_den - b_den
    exact = n <= max_exact_scenes
    gamma = _RELATIVE_TOLERANCE * abs(observed)
    at_most = at_least = counted = 0
    for swaps in _swap_patterns(n, exact=exact, n_draws=n_draws, seed=seed):
        moved_num, moved_den = swaps @ delta_num, swaps @ delta_den
        with np.errstate(invalid="ignore", divide="ignore"):
            candidate = (totals[2] + moved_num) / (totals[3] + moved_den)
            baseline = (totals[0] - moved_num) / (totals[1] - moved_den)
        null = _statistic(candidate, baseline, statistic)
        at_most += int(np.count_nonzero(null <= observed + gamma))
        at_least += int(np.count_nonzero(null >= observed - gamma))
        counted += swaps.shape[0]
    adjustment = 0 if exact else 1
    tail = min(at_most, at_least)
    p_value = min(1.0, 2.0 * (tail + adjustment) / (counted + adjustment))
    return RandomizationTest(statistic, observed, float(p_value), n, counted, exact)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float] | None:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_bootstrap_gain_interval(*, baseline_numerators, baseline_denominators, candidate_numerators,
                                   candidate_denominators, n_bootstrap: int = DEFAULT_BOOTSTRAP_DRAWS,
                                   confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> tuple[float, float] | None:
    """Percentile interval of the relative gain (B - A) / A from a paired bootstrap over scenes:
    every resample draws scenes with replacement and takes the same scenes for both runs, so the
    interval keeps what the two runs share in a scene. Resamples whose baseline is 0 are dropped."""
    a_num, a_den, b_num, b_den = _arrays(baseline_numerators, baseline_denominators, candidate_numerators,
                                         candidate_denominators)
    n = a_num.size
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_base = a_num[draws].sum(axis=1) / a_den[draws].sum(axis=1)
        boot_cand = b_num[draws].sum(axis=1) / b_den[draws].sum(axis=1)
        boot_gain = (boot_cand - boot_base) / boot_base
    return percentile_interval(boot_gain, confidence)


# -- sample-size planning -------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleSizePlan:
    """Scenes needed per planned relative gain for one metric of a finished run."""

    value: float | None
    n_scenes: int
    scene_sd: float | None  # standard deviation of one scene's linearised residual
    difference_sd: float | None  # sigma_d: of one scene's paired difference between two runs
    detectable_gain: float | None  # the smallest relative gain this run's own scene count detects
    alpha: float
    power: float
    correlation: float
    rows: tuple[dict, ...]  # {"gain", "n_scenes"}; n_scenes None when not estimable

    def as_dict(self) -> dict:
        return {"value": self.value, "n_scenes": self.n_scenes, "scene_sd": self.scene_sd,
                "difference_sd": self.difference_sd, "detectable_gain": self.detectable_gain, "alpha": self.alpha,
                "power": self.power, "correlation": self.correlation, "rows": [dict(row) for row in self.rows]}


def plan_z_total(*, alpha: float = PLAN_ALPHA, power: float = PLAN_POWER) -> float:
    """z_{1 - alpha/2} + z_{power}: 1.959964 + 0.841621 = 2.801585 at the defaults."""
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(PLAN_LEVEL_ERROR.format(alpha=alpha, power=power))
    normal = NormalDist()
    return normal.inv_cdf(1.0 - alpha / 2.0) + normal.inv_cdf(power)


def sample_size_plan(*, numerators, denominators, gains=PLAN_GAINS, alpha: float = PLAN_ALPHA,
                     power: float = PLAN_POWER, correlation: float = 0.0) -> SampleSizePlan:
    """How many scenes a paired comparison needs to detect each relative gain in ``gains`` at
    ``power`` with a two-sided test at level ``alpha``, from one finished run's per-scene
    ``numerators`` and ``denominators`` (the metric is their ratio of sums, m = sum y / sum x).

    The ratio is linearised (delta method): scene i's residual is r_i = (y_i - m x_i) / mean(x),
    so that Var(m_hat) ~ sigma^2 / n with sigma^2 the sample variance of r (ddof 1). A paired
    comparison's per-scene difference between two runs then has variance
    sigma_d^2 = 2 sigma^2 (1 - rho), assuming the other run's scenes vary as this run's do and
    correlate with them by ``correlation`` (rho). The default rho = 0, no correlation between runs,
    is the conservative case: two runs on the same scenes usually agree on which scenes are hard
    (rho > 0), which pairing turns into fewer scenes needed.

    A relative gain g is an absolute difference delta = |g| m, and the scenes needed are
    n = ceil((z_{1-alpha/2} + z_{power})^2 sigma_d^2 / delta^2); at alpha 0.05 and power 0.8 the
    factor is 2.801585^2 = 7.848879. ``detectable_gain`` inverts it at this run's own n:
    (z_{1-alpha/2} + z_{power}) sigma_d / (m sqrt(n)). Figures are None when they cannot be
    estimated: fewer than two scenes, a metric of 0, or no spread between scenes at all.
    """
    if not 0.0 <= correlation < 1.0:
        raise ValueError(PLAN_CORRELATION_ERROR.format(correlation=correlation))
    for gain in gains:
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain == 0:
            raise ValueError(PLAN_GAIN_ERROR.format(gain=gain))
    z_total = plan_z_total(alpha=alpha, power=power)
    y, x = _arrays(numerators, denominators)
    n = int(y.size)
    value = float(y.sum() / x.sum()) if n and x.sum() > 0 else None
    scene_sd = difference_sd = detectable = None
    if value is not None and n >= 2:
        residuals = (y - value * x) / x.mean()
        scene_sd = float(np.std(residuals, ddof=1))
        difference_sd = math.sqrt(2.0 * (1.0 - correlation)) * scene_sd
    estimable = value is not None and value > 0 and difference_sd is not None and difference_sd > 0
    if estimable:
        detectable = z_total * difference_sd / (value * math.sqrt(n))
    rows = []
    for gain in gains:
        needed = None
        if estimable:
            # The tolerance keeps a product that is a whole number in exact arithmetic from rounding up.
            needed = math.ceil(z_total ** 2 * difference_sd ** 2 / (abs(gain) * value) ** 2 - 1e-9)
        rows.append({"gain": float(gain), "n_scenes": needed})
    return SampleSizePlan(value, n, scene_sd, difference_sd, detectable, alpha, power, correlation, tuple(rows))
