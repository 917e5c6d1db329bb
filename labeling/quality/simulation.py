"""Simulated labelers: the profile of each one's error model, and the three demo pools' presets.

A simulated labeler is a program, never a person. Its account is marked ``User.is_simulated`` and
so is every label it gives (``Label.is_simulated``); every page that shows people or labels says
so. It works through the real HTTP API (``evaluation/simulation.py``), knowing each task's true
answer from the synthetic world, and gives an answer drawn from its kind's error model: the
appended "Simulated labelers" section of each ``labeling/task_kinds/<kind>.py``. docs/METRICS.md
("Simulated labelers") describes the models.

Pure: no Django, no database. Everything random takes a seeded ``random.Random``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields, replace

PROBABILITY_OUT_OF_RANGE = "LabelerProfile.{name} is {value}; it must be a probability from 0 to 1."
LENIENCY_OUT_OF_RANGE = "LabelerProfile.leniency is {value}; it must lie from -1 (strict) to 1 (lenient)."
GRADE_MOVES_OVER_ONE = ("LabelerProfile: confusion + |leniency| is {value}; a grade cannot move one step with a "
                        "probability above 1.")
NOT_POSITIVE = "LabelerProfile.{name} is {value}; it must be a positive number."
NEGATIVE = "{name} is {value}; it must not be negative."
LABELER_COUNT_NEGATIVE = "count is {count}; a pool cannot have fewer than 0 simulated labelers."

# The fields that are probabilities; validation and the per-labeler variation treat them alike.
PROBABILITY_FIELDS = ("skip_rate", "shared_shift", "slip", "confusion", "miss_small", "small_area", "extra_box",
                      "wrong_category", "attribute_error", "cant_tell_share", "verdict_error", "spam_error",
                      "category_error")
# Noise scales: no upper bound, but never negative.
SCALE_FIELDS = ("jitter", "box_jitter", "time_sigma")
# A varied probability stays below this: a labeler who always errs is a spammer, which is a flag of its own.
VARIED_PROBABILITY_CAP = 0.95
MAX_TIME_SPENT_MS = 2_000_000_000  # the API's bound on time_spent_ms
# A spammer clicks through: this share of the time a careful labeler of its pool takes.
SPAMMER_PACE = 0.3


@dataclass(frozen=True)
class LabelerProfile:
    """One simulated labeler's error model, per kind. The defaults are a labeler who never errs,
    never skips and takes about ``seconds_per_unit`` per judged unit.

    ``spammer``: answers uniformly at random, whatever the kind and the truth.
    ``skip_rate``: the probability of skipping a task it was given.

    Relevance (two 5x5 matrices, ``labeling.task_kinds.relevance``): ``shared_shift`` is the
    pool's, not the labeler's: the probability that the pool reads a slot as a neighbouring grade
    instead of the true one, the same reading for every labeler of the pool (as a team shares its
    reading of the guide, right or wrong); ``labeler_profiles_draw`` never varies it. Around the
    grade so perceived, ``confusion`` is the probability of moving a grade one step on the
    similarity scale, half up and half down; ``leniency`` adds that probability of moving one step
    better (> 0) or worse (< 0, strictness); ``slip`` is the probability of a grade drawn uniformly
    from all five.

    Bounding boxes: ``jitter`` is the noise of each coordinate (normal, its standard deviation a
    share of the box's width or height); an object smaller than ``small_area`` (a share of the
    image's area) is missed with probability ``miss_small``; ``extra_box`` is the probability of
    one spurious box; ``wrong_category`` the probability of another category for a box.

    Attributes: ``attribute_error`` is the probability, per attribute, of a wrong answer; a wrong
    answer is "can't tell" with probability ``cant_tell_share``, else another allowed value.

    Matching-pair cleanup: ``verdict_error`` (another verdict), ``spam_error`` (the spam flag
    flipped), ``category_error`` (another category), ``box_jitter`` (as ``jitter``, on the fixed box).

    Pace: ``seconds_per_unit`` per judged unit (a candidate, an object, an attribute, a field),
    times a log-normal factor of spread ``time_sigma``.
    """

    spammer: bool = False
    skip_rate: float = 0.0
    shared_shift: float = 0.0
    leniency: float = 0.0
    slip: float = 0.0
    confusion: float = 0.0
    jitter: float = 0.0
    miss_small: float = 0.0
    small_area: float = 0.02
    extra_box: float = 0.0
    wrong_category: float = 0.0
    attribute_error: float = 0.0
    cant_tell_share: float = 0.25
    verdict_error: float = 0.0
    spam_error: float = 0.0
    category_error: float = 0.0
    box_jitter: float = 0.0
    seconds_per_unit: float = 4.0
    time_sigma: float = 0.4

    def __post_init__(self):
        for name in PROBABILITY_FIELDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(PROBABILITY_OUT_OF_RANGE.format(name=name, value=value))
        for name in SCALE_FIELDS:
            if getattr(self, name) < 0:
                raise ValueError(NEGATIVE.format(name=f"LabelerProfile.{name}", value=getattr(self, name)))
        if not -1.0 <= self.leniency <= 1.0:
            raise ValueError(LENIENCY_OUT_OF_RANGE.format(value=self.leniency))
        if self.confusion + abs(self.leniency) > 1.0:
            raise ValueError(GRADE_MOVES_OVER_ONE.format(value=self.confusion + abs(self.leniency)))
        if self.seconds_per_unit <= 0:
            raise ValueError(NOT_POSITIVE.format(name="seconds_per_unit", value=self.seconds_per_unit))


PERFECT_LABELER = LabelerProfile()
SPAMMER = LabelerProfile(spammer=True)


@dataclass(frozen=True)
class PoolProfile:
    """A pool of simulated labelers: the pool's row (name, kind, cost of one label), its typical
    labeler, how far its labelers vary around that one (``variation``: the log-normal spread of
    each error probability), and the share of its labelers who are spammers."""

    slug: str            # in the usernames: sim-<slug>-01, ...
    pool_name: str
    pool_kind: str       # a labeling.models.PoolKind value
    cost_per_label: str  # a decimal, in any currency
    labeler: LabelerProfile
    variation: float = 0.0
    spammer_share: float = 0.0


# Three pools that differ the way a published comparison of labeling platforms found: an in-house
# team with an expert on site agreed with itself on about 95% of items and with the golden answers on
# about 89.5%; a fixed outside pool on 49% and 26%; a crowd on 47% and 32.5%, some of its workers
# spammers. Consistency above accuracy is a shared error: the in-house team shares a reading of the
# guide that now and then differs from the expert's, and the outside pool one that mostly does
# (``shared_shift``); the crowd's workers err each on their own. Measured on relevance with five labels
# per item from one pool (docs/METRICS.md, "Simulated labelers"), the presets land within about a
# point of each figure; the crowd's consistency no lower than about 48%, what labels this noisy agree
# by chance alone.
DEMO_POOL_PROFILES: tuple[PoolProfile, ...] = (
    PoolProfile(
        slug="inhouse", pool_name="In-house team", pool_kind="in_house", cost_per_label="0.30",
        labeler=LabelerProfile(
            skip_rate=0.02, shared_shift=0.06, leniency=-0.04, slip=0.01, confusion=0.01,
            jitter=0.02, miss_small=0.1, extra_box=0.02, wrong_category=0.03,
            attribute_error=0.05, cant_tell_share=0.5,
            verdict_error=0.04, spam_error=0.02, category_error=0.03, box_jitter=0.02,
            seconds_per_unit=5.0, time_sigma=0.3),
        variation=0.2),
    PoolProfile(
        slug="outside", pool_name="Fixed outside pool", pool_kind="fixed_outside", cost_per_label="0.12",
        labeler=LabelerProfile(
            skip_rate=0.04, shared_shift=0.9, leniency=0.08, slip=0.5, confusion=0.55,
            jitter=0.05, miss_small=0.3, extra_box=0.08, wrong_category=0.1,
            attribute_error=0.2, cant_tell_share=0.3,
            verdict_error=0.15, spam_error=0.08, category_error=0.1, box_jitter=0.05,
            seconds_per_unit=3.0, time_sigma=0.4),
        variation=0.3),
    PoolProfile(
        slug="crowd", pool_name="Crowd", pool_kind="crowd", cost_per_label="0.03",
        labeler=LabelerProfile(
            skip_rate=0.08, leniency=0.15, slip=0.65, confusion=0.25,
            jitter=0.12, miss_small=0.6, extra_box=0.25, wrong_category=0.3,
            attribute_error=0.5, cant_tell_share=0.2,
            verdict_error=0.45, spam_error=0.25, category_error=0.3, box_jitter=0.12,
            seconds_per_unit=1.5, time_sigma=0.6),
        variation=0.35, spammer_share=0.2),
)


# The demo's simulated labelers: this many per pool, their profiles drawn with this seed (demo_setup
# makes the accounts, simulate_labelers defaults to the same).
DEMO_LABELERS_PER_POOL = 3
DEMO_SEED = 0


def _varied(value: float, factor: float, *, cap: float) -> float:
    return min(cap, max(0.0, value * factor))


def labeler_profiles_draw(*, pool: PoolProfile, count: int, seed: int) -> list[LabelerProfile]:
    """``count`` labelers of ``pool``, each its typical labeler with every error probability and
    noise scale times its own log-normal factor (spread ``pool.variation``), its leniency moved
    by a normal step, and a spammer with probability ``pool.spammer_share``. Labeler i is the same
    whatever ``count`` (each draws after the ones before it), and the same for the same seed."""
    if count < 0:
        raise ValueError(LABELER_COUNT_NEGATIVE.format(count=count))
    rng = random.Random(f"{seed}:{pool.slug}")
    base = pool.labeler
    profiles = []
    for _ in range(count):
        changes = {}
        for spec in fields(LabelerProfile):
            name = spec.name
            # shared_shift is the pool's reading: a labeler who varied it would no longer share it.
            if name in ("spammer", "shared_shift", "leniency", "small_area", "cant_tell_share", "seconds_per_unit",
                        "time_sigma"):
                continue
            factor = math.exp(rng.gauss(0.0, pool.variation))
            cap = VARIED_PROBABILITY_CAP if name in PROBABILITY_FIELDS else math.inf
            changes[name] = _varied(getattr(base, name), factor, cap=cap)
        leniency = base.leniency + rng.gauss(0.0, pool.variation / 10)
        # Keep confusion + |leniency| <= 1: the varied labeler must still be a valid profile.
        room = 1.0 - changes["confusion"]
        changes["leniency"] = max(-room, min(room, leniency, 1.0), -1.0)
        changes["seconds_per_unit"] = base.seconds_per_unit * math.exp(rng.gauss(0.0, pool.variation))
        changes["spammer"] = base.spammer or rng.random() < pool.spammer_share
        profiles.append(replace(base, **changes))
    return profiles


def simulated_time_spent_ms(*, profile: LabelerProfile, units: int, rng: random.Random) -> int:
    """A plausible time for one task of ``units`` judged units: ``seconds_per_unit`` each, times a
    log-normal factor; a spammer takes a fraction of that."""
    seconds = profile.seconds_per_unit * max(1, units) * math.exp(rng.gauss(0.0, profile.time_sigma))
    if profile.spammer:
        seconds *= SPAMMER_PACE
    return min(MAX_TIME_SPENT_MS, max(1, int(seconds * 1000)))


def simulated_skip(*, profile: LabelerProfile, rng: random.Random) -> bool:
    """Whether the labeler skips the task it was just given."""
    return rng.random() < profile.skip_rate


# -- calibration (labeling/calibration/CALIBRATION_sessions.md) --------------------------------

# After a calibration session's reveal, a simulated participant's error probabilities, noise scales
# and leniency are this share of what they were: the session taught it the expert's reading. A
# stated, kind-independent effect (every kind's error model reads the same profile fields), so the
# demo's "after" figures move for a reason anyone can check, not because a kind was special-cased.
CALIBRATION_ERROR_FACTOR = 0.25
# Fields a session does not change: how often it skips, the share of wrong attribute answers that
# are "can't tell" (a share of errors, not an error), what counts as small, and its pace.
CALIBRATION_UNCHANGED_FIELDS = ("skip_rate", "cant_tell_share", "small_area", "seconds_per_unit", "time_sigma")
CALIBRATION_FACTOR_OUT_OF_RANGE = "The calibration factor is {value}; it must lie from 0 (no errors left) to 1 (no effect)."


def labeler_profile_calibrated(profile: LabelerProfile, *, factor: float = CALIBRATION_ERROR_FACTOR) -> LabelerProfile:
    """The profile after a calibration reveal: every error probability (the pool's shared reading
    included: the session corrects it) and noise scale, and the leniency, times ``factor``. A
    spammer stays a spammer: it does not read the reveal."""
    if not 0.0 <= factor <= 1.0:
        raise ValueError(CALIBRATION_FACTOR_OUT_OF_RANGE.format(value=factor))
    if profile.spammer:
        return profile
    changes = {name: getattr(profile, name) * factor for name in (*PROBABILITY_FIELDS, *SCALE_FIELDS)
               if name not in CALIBRATION_UNCHANGED_FIELDS}
    changes["leniency"] = profile.leniency * factor
    return replace(profile, **changes)
