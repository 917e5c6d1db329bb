"""``manage.py calibration_demo``: the expert's calibration loop on the demo world, with the
simulated crowd pool (labeling/calibration/CALIBRATION_sessions.md).

It prints the kind's triage top items (what drove the disagreement), then opens a calibration
session for the crowd's simulated labelers on golden items of the kind, lets them answer blind from
their error models, reveals, lets them answer fresh follow-up golden items with their calibrated
profiles (``labeling.quality.simulation.labeler_profile_calibrated``), and prints agreement and
accuracy before and after. Run after ``demo_setup`` (and ideally ``simulate_labelers``, so triage
has labels to rank). Each run opens a new session; the accounts stay marked simulated.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from evaluation.simulation import simulated_labelers_ensure
from labeling.calibration.demo import RecalibrationDemoError, recalibration_demo_run
from labeling.calibration.session_selectors import calibration_session_figures
from labeling.calibration.sessions import calibration_reveal, calibration_session_open, calibration_simulated_answers
from labeling.calibration.triage_selectors import golden_miss_items, low_agreement_items
from labeling.models import GoldenItem, Role, User
from labeling.quality.simulation import (CALIBRATION_ERROR_FACTOR, DEMO_LABELERS_PER_POOL, DEMO_POOL_PROFILES,
                                         DEMO_SEED)
from labeling.task_kinds import task_kind_specs

TOO_FEW_GOLDEN = ("The {kind} kind has {n} golden items; a session needs at least 2 (blind and follow-up). "
                  "Run `manage.py demo_setup` first.")
NO_EXPERT = "No expert account: run `manage.py demo_setup` first."
TRIAGE_TOP = 5
DEMO_CALIBRATION_LABELERS = max(8, DEMO_LABELERS_PER_POOL)


def _figure(value, percent: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if percent else f"{value:.3f}"


class Command(BaseCommand):
    help = ("Run a calibration session on the simulated crowd pool (blind answers, reveal, follow-up) and print the "
            "triage top items and the before/after agreement and accuracy.")

    def add_arguments(self, parser):
        parser.add_argument("--kind", default="relevance", choices=sorted(task_kind_specs()))
        parser.add_argument("--items", type=int, default=10, help="blind items (as many follow-up items)")
        parser.add_argument("--pool", default="crowd", choices=[pool.slug for pool in DEMO_POOL_PROFILES])
        parser.add_argument("--seed", type=int, default=DEMO_SEED)
        # demo_setup makes DEMO_LABELERS_PER_POOL per pool; with the demo seed two of the crowd's
        # first three are spammers, whom no session calibrates, so the session takes a few more
        # (sim-crowd-04 ..., drawn from the same preset and seed, marked simulated like the rest).
        parser.add_argument("--labelers", type=int, default=DEMO_CALIBRATION_LABELERS,
                            help="simulated labelers of the pool taking part")

    def handle(self, *args, **options):
        say, kind = self.stdout.write, options["kind"]
        say(f"Triage ({kind}): the lowest agreement")
        for row in low_agreement_items(task_kind=kind)[:TRIAGE_TOP]:
            say(f"    task #{row.task_id}  {row.item}  agreement {row.agreement:.1%}  ({row.n_labels} labels)")
        say(f"Triage ({kind}): golden items missed most often")
        for row in golden_miss_items(task_kind=kind)[:TRIAGE_TOP]:
            say(f"    golden item #{row.golden_item_id} (task #{row.task_id})  {row.n_wrong} of {row.n_labels} wrong")

        items = list(GoldenItem.objects.filter(golden_set__task_kind=kind).select_related("golden_set").order_by("pk")
                     [:2 * max(1, options["items"])])
        if len(items) < 2:
            raise CommandError(TOO_FEW_GOLDEN.format(kind=kind, n=len(items)))
        expert = User.objects.filter(role=Role.EXPERT, is_active=True).order_by("pk").first()
        if expert is None:
            raise CommandError(NO_EXPERT)
        pool_profile = next(pool for pool in DEMO_POOL_PROFILES if pool.slug == options["pool"])
        labelers = simulated_labelers_ensure(pools=[pool_profile], per_pool=max(1, options["labelers"]),
                                             seed=DEMO_SEED)
        half = len(items) // 2
        session = calibration_session_open(
            name=f"Demo calibration: {pool_profile.pool_name}, {timezone.now():%Y-%m-%d %H:%M:%S}", task_kind=kind,
            created_by=expert, golden_items=items[:half], followup_golden_items=items[half:2 * half],
            labelers=[user for user, _ in labelers])
        say(f"Session #{session.pk} \"{session.name}\": {len(labelers)} simulated labelers of "
            f"{pool_profile.pool_name}, {half} blind and {half} follow-up golden items")
        calibration_simulated_answers(session=session, labelers=labelers, followup=False, seed=options["seed"])
        session = calibration_reveal(session=session, expert=expert)
        say(f"    revealed; after it each simulated labeler's errors are x{CALIBRATION_ERROR_FACTOR} "
            f"(spammers unchanged)")
        calibration_simulated_answers(session=session, labelers=labelers, followup=True, seed=options["seed"])
        figures = calibration_session_figures(session=session)
        say(f"Agreement (alpha) before {_figure(figures.before.alpha)}  after {_figure(figures.after.alpha)}")
        say(f"Accuracy before {_figure(figures.before.accuracy, True)}  after {_figure(figures.after.accuracy, True)}")
        for user, profile in labelers:
            before, after = figures.before.per_labeler.get(user.pk), figures.after.per_labeler.get(user.pk)
            marks = "simulated, a spammer" if profile.spammer else "simulated"
            say(f"    {user.username} ({marks}): accuracy {_figure(before and before.accuracy, True)} -> "
                f"{_figure(after and after.accuracy, True)}")
        say(f"See /overview/calibration/{session.pk}/ and /overview/triage/?kind={kind}")
        # Re-calibration: a sloppy (not spamming) simulated labeler qualifies, drifts, is flagged and
        # refused by claim, and re-qualifies.
        sloppy = next(((user, profile) for user, profile in labelers if not profile.spammer), None)
        if sloppy is None:
            return
        try:
            demo = recalibration_demo_run(task_kind=kind, labeler=sloppy, expert=expert, seed=options["seed"])
        except RecalibrationDemoError as error:
            say(f"Re-calibration: skipped ({error})")
            return
        say(f"Re-calibration on queue #{demo.queue.pk} '{demo.queue.name}' with {sloppy[0].username} (simulated):")
        for event in demo.events:
            say(f"    {event}")
