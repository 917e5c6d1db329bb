"""Re-calibration on the demo, with a simulated labeler standing in for a person
(``manage.py calibration_demo``; labeling/calibration/CALIBRATION_qualification.md).

A demo queue of the kind serves golden items only and requires qualification on a separate
qualification set, with a rolling golden-accuracy threshold. One simulated labeler qualifies with
its calibrated profile, then labels with its everyday (uncalibrated) profile until the rolling
accuracy falls below the threshold and it is flagged; claim then refuses it; it re-qualifies and
claims again. Every step goes through the real services (claim, submit, qualification), and the
answers come from the labeler's simulated error model, never from a person.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from django.utils import timezone

from labeling.calibration.qualification import qualification_answer, qualification_progress, qualification_start
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import GoldenItem, LabelerFlag, Queue, QualificationStatus, User
from labeling.quality.simulation import LabelerProfile, labeler_profile_calibrated
from labeling.selectors import guide_version_latest
from labeling.services.queue_engine import LabelerFlagged, QualificationRequired, assignment_claim, label_submit
from labeling.services.queues import queue_calibration_update, queue_create
from labeling.task_kinds import task_kind_spec

RECALIBRATION_WINDOW = 3
RECALIBRATION_THRESHOLD = 0.6
PASS_MARK = 0.6
MAX_ATTEMPTS = 8
MAX_GOLDEN_LABELS = 40
TOO_FEW_ITEMS = "The {kind} kind has {n} golden items; the re-calibration demo needs at least {needed}."
NOT_SIMULATED = "Only a simulated labeler takes part in the demo, not {username}."


class RecalibrationDemoError(ValueError):
    pass


@dataclass
class RecalibrationDemo:
    queue: Queue | None = None
    events: list[str] = field(default_factory=list)
    flagged: bool = False
    refused_while_flagged: bool = False
    claimed_after_requalifying: bool = False


def _copies(items: list[GoldenItem], prefix: str) -> list[GoldenItemInput]:
    return [GoldenItemInput(key=f"{prefix}-{item.pk}", payload=item.payload, answer=item.answer, reason=item.reason,
                            source=item.source) for item in items]


def _qualify(*, queue: Queue, user: User, profile: LabelerProfile, rng: random.Random, demo: RecalibrationDemo,
             what: str = "qualification") -> bool:
    spec = task_kind_spec(queue.task_kind)
    for attempt_number in range(1, MAX_ATTEMPTS + 1):
        attempt = qualification_start(queue=queue, labeler=user)
        while (item := qualification_progress(qualification=attempt).next_item) is not None:
            answer = spec.simulated_answer(payload=item.payload, truth=item.answer, profile=profile, rng=rng)
            attempt = qualification_answer(qualification_id=attempt.pk, labeler=user, golden_item_id=item.pk,
                                           answer=answer).qualification
        demo.events.append(f"{what} attempt {attempt_number}: score {attempt.score:.0%}, {attempt.status}")
        if attempt.status == QualificationStatus.PASSED:
            return True
    return False


def recalibration_demo_run(*, task_kind: str, labeler: tuple[User, LabelerProfile], expert: User | None,
                           seed: int) -> RecalibrationDemo:
    """Run the re-calibration story once (a new demo queue and sets each time) and say what happened."""
    user, profile = labeler
    if not user.is_simulated:
        raise RecalibrationDemoError(NOT_SIMULATED.format(username=user.username))
    items = list(GoldenItem.objects.filter(golden_set__task_kind=task_kind).order_by("pk"))
    needed = 2 * RECALIBRATION_WINDOW
    if len(items) < needed:
        raise RecalibrationDemoError(TOO_FEW_ITEMS.format(kind=task_kind, n=len(items), needed=needed))
    half = len(items) // 2
    stamp = f"{timezone.now():%Y-%m-%d %H:%M:%S}"
    # Two sets of different items: qualifying must not reveal the answers the queue scores labelers on.
    qualification_set = golden_set_create(name=f"Demo qualification ({task_kind}), {stamp}", task_kind=task_kind,
                                          created_by=expert)
    golden_items_put(golden_set=qualification_set, items=_copies(items[:half], "qualification"))
    served_set = golden_set_create(name=f"Demo re-calibration golden items ({task_kind}), {stamp}",
                                   task_kind=task_kind, created_by=expert)
    golden_items_put(golden_set=served_set, items=_copies(items[half:], "served"))
    queue = queue_create(name=f"Demo: re-calibration ({task_kind}), {stamp}", task_kind=task_kind, replication=1,
                         golden_rate=1.0, guide_version=guide_version_latest(task_kind=task_kind), created_by=expert)
    queue_golden_sets_add(queue=queue, golden_sets=[served_set])
    queue_calibration_update(queue=queue, requires_qualification=True, qualification_set=qualification_set,
                             qualification_pass_mark=PASS_MARK, qualification_items=min(5, half),
                             recalibration_window=RECALIBRATION_WINDOW, recalibration_threshold=RECALIBRATION_THRESHOLD,
                             immediate_feedback=False)
    queue.refresh_from_db()
    demo = RecalibrationDemo(queue=queue)
    rng = random.Random(f"{seed}:{queue.pk}:{user.username}")
    spec = task_kind_spec(task_kind)
    calibrated = labeler_profile_calibrated(profile)
    try:
        assignment_claim(queue=queue, labeler=user)
    except QualificationRequired as refusal:
        demo.events.append(f"claim before qualifying: refused ({refusal})")
    if not _qualify(queue=queue, user=user, profile=calibrated, rng=rng, demo=demo):
        return demo
    # Back at work with the everyday profile: golden items until the rolling accuracy trips the flag.
    for _ in range(MAX_GOLDEN_LABELS):
        try:
            assignment = assignment_claim(queue=queue, labeler=user)
        except LabelerFlagged as refusal:
            demo.flagged = demo.refused_while_flagged = True
            flag = LabelerFlag.objects.filter(labeler=user, task_kind=task_kind, cleared_at__isnull=True).first()
            demo.events.append(f"flagged at rolling accuracy {flag.rolling_accuracy:.0%} "
                               f"(last {flag.window} golden items, threshold {flag.threshold:.0%}); "
                               f"claim refused: {refusal}")
            break
        if assignment is None:
            demo.events.append("the queue ran out of golden items before the labeler was flagged")
            return demo
        truth = assignment.task.golden_item.answer
        answer = spec.simulated_answer(payload=assignment.task.payload, truth=truth, profile=profile, rng=rng)
        label_submit(assignment_id=assignment.pk, labeler=user, answer=answer)
    if not demo.flagged:
        return demo
    if _qualify(queue=queue, user=user, profile=calibrated, rng=rng, demo=demo, what="re-qualification"):
        demo.claimed_after_requalifying = assignment_claim(queue=queue, labeler=user) is not None
        demo.events.append("after re-qualifying: claim " + ("gives a task" if demo.claimed_after_requalifying
                                                            else "finds nothing left"))
    return demo
