"""The re-calibration demo: a simulated labeler qualifies, drifts below the rolling threshold, is
flagged and refused by claim, re-qualifies and claims again, all through the real services."""
from __future__ import annotations

import pytest

from evaluation.simulation import simulated_labelers_ensure
from labeling.calibration.demo import NOT_SIMULATED, RecalibrationDemoError, recalibration_demo_run
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create
from labeling.models import AuditEvent, LabelerFlag, Label, Qualification, QualificationStatus
from labeling.quality.simulation import DEMO_POOL_PROFILES
from tests.labeling.conftest import relevance_payload

RIGHT = {"grades": ["similar", "not_similar", "extremely_similar", "not_similar", "similar"]}


@pytest.fixture
def golden_items(db):
    golden_set = golden_set_create(name="oracle answers", task_kind="relevance")
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"g-{i}", payload=relevance_payload(200 + i), answer=RIGHT, reason=f"reason {i}")
        for i in range(40)])
    return golden_set


def crowd_labeler(*, spammer: bool):
    crowd = next(pool for pool in DEMO_POOL_PROFILES if pool.slug == "crowd")
    labelers = simulated_labelers_ensure(pools=[crowd], per_pool=8, seed=0)
    return next((user, profile) for user, profile in labelers if profile.spammer == spammer)


def test_a_sloppy_simulated_labeler_is_flagged_refused_and_claims_again_after_requalifying(golden_items):
    user, profile = crowd_labeler(spammer=False)
    demo = recalibration_demo_run(task_kind="relevance", labeler=(user, profile), expert=None, seed=0)
    assert demo.flagged and demo.refused_while_flagged, demo.events
    assert demo.claimed_after_requalifying, demo.events
    flag = LabelerFlag.objects.get(labeler=user, task_kind="relevance")
    assert flag.cleared_at is not None and flag.rolling_accuracy < flag.threshold
    assert Qualification.objects.filter(labeler=user, status=QualificationStatus.PASSED).count() >= 2
    assert Label.objects.filter(labeler=user, task__queue=demo.queue, is_simulated=True).count() >= flag.window
    assert AuditEvent.objects.filter(target_type="labeling.labelerflag").exists()
    assert demo.events[0].startswith("claim before qualifying: refused")


def test_the_demo_refuses_a_person(golden_items, make_user):
    person = make_user(username="person")
    with pytest.raises(RecalibrationDemoError) as refusal:
        recalibration_demo_run(task_kind="relevance", labeler=(person, crowd_labeler(spammer=False)[1]), expert=None,
                               seed=0)
    assert str(refusal.value) == NOT_SIMULATED.format(username="person")
