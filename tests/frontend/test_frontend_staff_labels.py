"""Experts' labels stay out of a run's crowd figures unless its queue counts them, and the run page
says how many there are."""
from __future__ import annotations

import pytest
from django.test import Client

from evaluation.selectors import eval_run_label_frame, eval_run_metrics
from labeling.models import Queue
from labeling.services.queue_engine import assignment_claim, label_submit

pytestmark = pytest.mark.django_db

ALL_BAD = {"grades": ["not_similar"] * 5}


def _expert_grades_everything(run, expert):
    while (assignment := assignment_claim(queue=run.queue, labeler=expert)) is not None:
        label_submit(assignment_id=assignment.pk, labeler=expert, answer=ALL_BAD)


def test_staff_labels_are_left_out_of_the_run_metrics_and_shown_on_the_page(judged_run_create, expert, engineer):
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1")
    before = eval_run_metrics(run=run)
    rows_before = len(eval_run_label_frame(run=run))

    _expert_grades_everything(run, expert)
    after = eval_run_metrics(run=run)
    client = Client()
    client.force_login(engineer)
    page = client.get(f"/runs/{run.pk}/").content.decode()

    assert after["similar_p_at_5"] == before["similar_p_at_5"] == pytest.approx(0.45)
    assert after["staff_labels"] == {"total": 4, "counted": 0}
    assert len(eval_run_label_frame(run=run)) == rows_before
    assert "Staff labels (experts, admins): 4" in page
    assert "left out of these figures" in page


def test_staff_labels_count_in_the_metrics_when_the_queue_counts_them(judged_run_create, expert):
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1")
    Queue.objects.filter(pk=run.queue_id).update(staff_labels_count=True, replication=3)
    run.queue.refresh_from_db()

    _expert_grades_everything(run, expert)
    after = eval_run_metrics(run=run)

    frame = eval_run_label_frame(run=run)

    assert after["staff_labels"] == {"total": 4, "counted": 4}
    # Two graders and the expert, five slots each, on four query objects.
    assert len(frame) == 3 * 5 * 4
    assert (frame["labeler_id"] == expert.pk).sum() == 5 * 4
