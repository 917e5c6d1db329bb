"""Calibration sessions: blind answers, the reveal, and the before and after figures against a
hand computation (labeling/calibration/CALIBRATION_sessions.md)."""
from __future__ import annotations

import pytest

from labeling.calibration.session_selectors import (FrameRow, calibration_next_item, calibration_own_answers,
                                                    calibration_session_figures, calibration_sessions_of,
                                                    followup_rows_first)
from labeling.calibration.sessions import (SESSION_ALREADY_ANSWERED, SESSION_FOLLOWUP_BEFORE_REVEAL,
                                           SESSION_NO_PARTICIPANTS, SESSION_NOT_OPEN, SESSION_NOT_OPEN_TO_REVEAL,
                                           SESSION_NOT_PARTICIPANT, CalibrationError, calibration_answer_submit,
                                           calibration_reveal, calibration_session_open)
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create
from labeling.models import AuditEvent, CalibrationItem, CalibrationStatus, FeedbackKind, LabelerFeedback, Role
from labeling.calibration.audit import AuditAction
from tests.labeling.conftest import relevance_payload

S, N = "similar", "not_similar"


def grades(text: str) -> dict:
    return {"grades": [S if letter == "s" else N for letter in text]}


@pytest.fixture
def golden_items(db):
    golden_set = golden_set_create(name="calibration items", task_kind="relevance")
    answers = ["sssss", "sssss", "sssss", "sssnn"]
    items, _, _ = golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"c-{i}", payload=relevance_payload(i), answer=grades(text), reason=f"reason {i}")
        for i, text in enumerate(answers)])
    return items


@pytest.fixture
def session_world(golden_items, make_user, crowd_pool):
    expert = make_user(Role.EXPERT)
    a = make_user(Role.LABELER, pool=crowd_pool, username="a-labeler")
    b = make_user(Role.LABELER, pool=crowd_pool, username="b-labeler")
    outsider = make_user(Role.LABELER, username="outsider")
    session = calibration_session_open(name="crowd calibration", task_kind="relevance", created_by=expert,
                                       golden_items=golden_items[:2], followup_golden_items=golden_items[2:],
                                       pools=[crowd_pool], followup_golden_n=0)
    return session, expert, a, b, outsider


def _items(session, followup):
    return list(CalibrationItem.objects.filter(session=session, is_followup=followup).order_by("position"))


def test_a_session_on_a_pool_takes_every_labeler_of_the_pool_and_shows_in_their_list(session_world):
    session, _, a, b, outsider = session_world
    assert calibration_sessions_of(labeler=a) == [session]
    assert calibration_sessions_of(labeler=b) == [session]
    assert calibration_sessions_of(labeler=outsider) == []


def test_before_and_after_figures_match_a_hand_computation(session_world):
    session, expert, a, b, _ = session_world
    first, second = _items(session, False)
    for item, a_answer, b_answer in ((first, "sssss", "sssnn"), (second, "nnsss", "sssss")):
        calibration_answer_submit(session=session, item_id=item.pk, labeler=a, answer=grades(a_answer))
        calibration_answer_submit(session=session, item_id=item.pk, labeler=b, answer=grades(b_answer))
    session = calibration_reveal(session=session, expert=expert)
    third, fourth = _items(session, True)
    for item, a_answer, b_answer in ((third, "sssss", "sssss"), (fourth, "sssnn", "ssnnn")):
        calibration_answer_submit(session=session, item_id=item.pk, labeler=a, answer=grades(a_answer))
        calibration_answer_submit(session=session, item_id=item.pk, labeler=b, answer=grades(b_answer))

    figures = calibration_session_figures(session=session)
    # Before: 10 slots with two values each; 6 agree (similar), 4 disagree. Coincidences o_ss = 12,
    # o_sn = o_ns = 4; n_s = 16, n_n = 4, n = 20. Two values only, so ordinal alpha = nominal alpha
    # = 1 - (n - 1) (o_sn + o_ns) / (2 n_s n_n) = 1 - 19 * 8 / 128 = -0.1875.
    assert figures.before.alpha == pytest.approx(-0.1875)
    # Accuracy: the share of slots matching the expert: A 5/5 and 3/5, B 3/5 and 5/5.
    assert figures.before.accuracy == pytest.approx(0.8)
    assert figures.before.per_labeler[a.pk].accuracy == pytest.approx(0.8)
    # A against the expert: 10 pairs, 2 disagree; n_s = 18, n_n = 2: 1 - 19 * 4 / 72 = -1/18.
    assert figures.before.per_labeler[a.pk].alpha_with_expert == pytest.approx(-1 / 18)
    # After: 10 slots, 9 agree (7 similar, 2 not similar), 1 disagrees: o_ss = 14, o_nn = 4,
    # o_sn = o_ns = 1; n_s = 15, n_n = 5: 1 - 19 * 2 / 150 = 56/75.
    assert figures.after.alpha == pytest.approx(56 / 75)
    assert figures.after.accuracy == pytest.approx((1 + 1 + 1 + 0.8) / 4)
    assert figures.after.per_labeler[a.pk].accuracy == pytest.approx(1.0)
    assert figures.after.per_labeler[a.pk].alpha_with_expert == pytest.approx(1.0)
    assert figures.after.per_labeler[b.pk].accuracy == pytest.approx(0.9)
    assert figures.after.n_items == 2 and figures.before.n_answers == 4


def test_the_next_golden_labels_after_the_reveal_are_cut_at_n_per_labeler():
    def row(labeler_id, number):
        return FrameRow(f"golden-{number}", {}, {}, labeler_id, f"u{labeler_id}", False, {})

    rows = [row(1, 1), row(1, 2), row(1, 3), row(2, 1)]
    assert [(r.labeler_id, r.item) for r in followup_rows_first(rows, n=2)] == [(1, "golden-1"), (1, "golden-2"),
                                                                                (2, "golden-1")]


def test_participants_answer_blind_until_the_reveal_and_see_only_their_own_answers_after(session_world):
    session, expert, a, b, outsider = session_world
    first, second = _items(session, False)
    item = calibration_next_item(session=session, labeler=a)
    assert item.pk == first.pk
    # The participant's row never carries the expert's answer or reason before the reveal.
    assert {"answer", "reason"} <= item.get_deferred_fields()
    assert calibration_own_answers(session=session, labeler=a) == []
    calibration_answer_submit(session=session, item_id=first.pk, labeler=a, answer=grades("sssnn"))
    calibration_answer_submit(session=session, item_id=first.pk, labeler=b, answer=grades("nnnnn"))
    assert calibration_next_item(session=session, labeler=a).pk == second.pk
    with pytest.raises(CalibrationError, match=SESSION_ALREADY_ANSWERED):
        calibration_answer_submit(session=session, item_id=first.pk, labeler=a, answer=grades("sssss"))
    with pytest.raises(CalibrationError, match=SESSION_NOT_PARTICIPANT):
        calibration_answer_submit(session=session, item_id=first.pk, labeler=outsider, answer=grades("sssss"))
    followup = _items(session, True)[0]
    with pytest.raises(CalibrationError, match=SESSION_FOLLOWUP_BEFORE_REVEAL):
        calibration_answer_submit(session=session, item_id=followup.pk, labeler=a, answer=grades("sssss"))

    session = calibration_reveal(session=session, expert=expert)
    assert session.status == CalibrationStatus.REVEALED
    with pytest.raises(CalibrationError, match=SESSION_NOT_OPEN):
        calibration_answer_submit(session=session, item_id=second.pk, labeler=a, answer=grades("sssss"))
    with pytest.raises(CalibrationError, match=SESSION_NOT_OPEN_TO_REVEAL.split("{")[0]):
        calibration_reveal(session=session, expert=expert)
    own = calibration_own_answers(session=session, labeler=a)
    assert [row["answer"] for row in own] == [grades("sssnn"), None]
    assert [row["expert_answer"] for row in own] == [grades("sssss"), grades("sssss")]
    assert own[0]["reason"] == "reason 0" and own[0]["score"] == pytest.approx(0.6)
    # B's answer appears nowhere in A's view.
    assert grades("nnnnn") not in [row["answer"] for row in own]
    assert calibration_next_item(session=session, labeler=a).pk == followup.pk
    feedback = LabelerFeedback.objects.filter(kind=FeedbackKind.CALIBRATION)
    assert sorted(feedback.values_list("labeler_id", flat=True)) == sorted([a.pk, b.pk])
    assert AuditEvent.objects.filter(action=AuditAction.CALIBRATION_REVEALED, target_id=str(session.pk)).count() == 1


def test_a_session_without_participants_is_refused(golden_items, make_user):
    with pytest.raises(CalibrationError, match=SESSION_NO_PARTICIPANTS):
        calibration_session_open(name="empty", task_kind="relevance", created_by=make_user(Role.EXPERT),
                                 golden_items=golden_items[:1], labelers=[make_user(Role.EXPERT)])


def test_the_participant_page_is_blind_before_the_reveal_and_shows_own_answers_after(session_world, client):
    session, expert, a, b, outsider = session_world
    first = _items(session, False)[0]
    calibration_answer_submit(session=session, item_id=first.pk, labeler=b, answer=grades("nnnnn"))
    client.force_login(outsider)
    assert client.get(f"/calibration/{session.pk}/").status_code == 403
    client.force_login(a)
    page = client.get(f"/calibration/{session.pk}/").content.decode()
    assert f'value="{first.pk}"' in page
    # Neither the expert's reason nor answer, nor B's answer, is on the page.
    b_answer = "Product 1: Not similar · Product 2: Not similar"  # B's answer as the pages write answers
    assert "reason 0" not in page and b_answer not in page and 'data-testid="expert-answer"' not in page
    assert f"/calibration/{session.pk}/" in client.get("/queues/").content.decode()
    bad = client.post(f"/calibration/{session.pk}/", {"item": first.pk, "answer": "{not json"})
    assert bad.status_code == 400
    done = client.post(f"/calibration/{session.pk}/", {"item": first.pk, "answer": '{"grades": ["similar", "similar", "similar", "similar", "not_similar"]}'})
    assert done.status_code == 302
    client.force_login(expert)
    assert client.post(f"/overview/calibration/{session.pk}/").status_code == 302
    client.force_login(a)
    page = client.get(f"/calibration/{session.pk}/").content.decode()
    assert "reason 0" in page and 'data-testid="revealed-1"' in page and 'data-testid="expert-answer"' in page
    assert "Product 4: Similar · Product 5: Not similar" in page  # A's own answer
    assert b_answer not in page


def test_the_session_page_shows_the_figures_in_constant_queries(session_world, client, django_assert_num_queries):
    session, expert, a, b, _ = session_world
    client.force_login(expert)
    page = client.get(f"/overview/calibration/{session.pk}/")
    assert page.status_code == 200 and b"a-labeler" in page.content
    first, second = _items(session, False)
    calibration_answer_submit(session=session, item_id=first.pk, labeler=a, answer=grades("sssss"))
    # The sign-in, the session row, blind and follow-up answers, queue labels, counts, participants, items:
    # the same number however many answers there are.
    with django_assert_num_queries(8):
        client.get(f"/overview/calibration/{session.pk}/")
    calibration_answer_submit(session=session, item_id=second.pk, labeler=b, answer=grades("sssss"))
    with django_assert_num_queries(8):
        client.get(f"/overview/calibration/{session.pk}/")


def test_the_demo_calibrates_the_simulated_crowd_and_its_agreement_rises(db, make_user):
    import io
    import random

    from django.core.management import call_command

    from labeling.models import CalibrationSession, User
    from labeling.quality.simulation import CALIBRATION_ERROR_FACTOR, DEMO_POOL_PROFILES, labeler_profile_calibrated

    make_user(Role.EXPERT)
    rng = random.Random(3)
    golden_set = golden_set_create(name="demo-like golden", task_kind="relevance")
    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"d-{i}", payload=relevance_payload(100 + i),
                        answer={"grades": [rng.choice(["extremely_similar", "similar", "marginally_similar",
                                                       "not_similar"]) for _ in range(5)]})
        for i in range(40)])
    out = io.StringIO()
    call_command("calibration_demo", "--items", "20", stdout=out)
    session = CalibrationSession.objects.get()
    figures = calibration_session_figures(session=session)
    assert figures.after.alpha > figures.before.alpha
    assert figures.after.accuracy > figures.before.accuracy
    print(out.getvalue())
    assert "Agreement (alpha) before" in out.getvalue() and "Triage (relevance)" in out.getvalue()
    participants = User.objects.filter(pk__in=session.participants.values("labeler_id"))
    assert participants.count() == 8 and all(user.is_simulated for user in participants)
    crowd = next(pool for pool in DEMO_POOL_PROFILES if pool.slug == "crowd").labeler
    assert labeler_profile_calibrated(crowd).slip == pytest.approx(crowd.slip * CALIBRATION_ERROR_FACTOR)
    assert labeler_profile_calibrated(crowd).skip_rate == crowd.skip_rate


def test_a_participant_may_see_the_images_of_the_sessions_items_and_nobody_else(session_world):
    from django.conf import settings

    from labeling.calibration.session_selectors import calibration_participant_sees_image

    session, _, a, _, outsider = session_world
    name = CalibrationItem.objects.filter(session=session).first().payload["candidates"][0]["image_url"].removeprefix(
        settings.MEDIA_URL)
    assert calibration_participant_sees_image(labeler=a, name=name)
    assert not calibration_participant_sees_image(labeler=outsider, name=name)
    assert not calibration_participant_sees_image(labeler=a, name="products/other.jpg")
    # The media view applies the rule: a participant is served the item's image, an outsider is not.
    from labeling.media import MediaAccess, media_access

    assert media_access(user=a, name=name) == MediaAccess.ALLOWED
    assert media_access(user=outsider, name=name) == MediaAccess.NOT_YOURS
