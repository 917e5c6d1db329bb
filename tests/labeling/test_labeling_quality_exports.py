"""Label and golden exports over the API, the stored snapshot, and ``manage.py quality_report``:
the command gives, from the exports, exactly the report the dashboard's snapshot holds."""
from __future__ import annotations

import io
import json
import random

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from labeling.models import Label, Role
from labeling.quality.api import QUEUE_NOT_OF_KIND
from labeling.quality.services import (FEEDBACK_EMPTY, FEEDBACK_NOT_LABELER, FeedbackError, labeler_feedback_give,
                                       quality_snapshot_is_stale, quality_snapshot_refresh)
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.task_kinds.relevance import GRADES

pytestmark = pytest.mark.django_db


class GoldenEveryOther:
    """Draws golden first on every other claim, so each labeler gets golden and normal work."""

    def __init__(self):
        self.calls = 0

    def random(self):
        self.calls += 1
        return 0.0 if self.calls % 2 else 1.0


def labelled_queue(make_queue, make_user, crowd_pool, *, tasks: int = 6, golden: int = 4, labelers: int = 4,
                   seed: int = 0):
    """A relevance queue whose labelers (two pools) answered everything, with seeded noise."""
    queue = make_queue(tasks=tasks, golden_tasks=golden, replication=3, golden_rate=0.5)
    rng = random.Random(seed)
    people = [make_user(Role.LABELER, pool=crowd_pool if i % 2 else None) for i in range(labelers)]
    for person in people:
        draw = GoldenEveryOther()
        while (lease := assignment_claim(queue=queue, labeler=person, rng=draw)) is not None:
            grades = [grade if rng.random() < 0.7 else rng.choice(GRADES) for grade in ["similar"] * 5]
            label_submit(assignment_id=lease.pk, labeler=person, answer={"grades": grades},
                         time_spent_ms=rng.randint(1000, 9000))
    return queue, people


def staff_client(make_user, role=Role.EXPERT) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user(role))
    return client


def export(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/x-ndjson")
    return b"".join(response.streaming_content).decode()


def test_the_label_export_has_one_line_per_label_in_the_documented_format(make_queue, make_user, crowd_pool):
    queue, _ = labelled_queue(make_queue, make_user, crowd_pool)
    lines = export(staff_client(make_user), f"/api/v1/quality/labels?kind=relevance&queue={queue.pk}").splitlines()
    assert len(lines) == Label.objects.filter(task__queue=queue).count()
    first = json.loads(lines[0])
    assert {"item", "labeler", "pool", "answer", "guide_version", "payload", "simulated", "created_at"} <= set(first)
    assert first["simulated"] is False
    golden_items = {json.loads(line)["item"] for line in lines if json.loads(line)["is_golden"]}
    assert golden_items and all(item.startswith("golden-") for item in golden_items)


def test_quality_report_on_the_exports_reproduces_the_dashboard_snapshot(make_queue, make_user, crowd_pool, tmp_path):
    labelled_queue(make_queue, make_user, crowd_pool)
    snapshot = quality_snapshot_refresh(task_kind="relevance")
    client = staff_client(make_user)
    labels, golden = tmp_path / "labels.jsonl", tmp_path / "golden.jsonl"
    labels.write_text(export(client, "/api/v1/quality/labels?kind=relevance"))
    golden.write_text(export(client, "/api/v1/quality/golden?kind=relevance"))
    out = io.StringIO()
    call_command("quality_report", "--kind", "relevance", "--labels", str(labels), "--golden", str(golden), stdout=out)
    from_file = json.loads(out.getvalue())
    assert from_file == json.loads(json.dumps(snapshot.report, default=str))
    assert from_file["overall"]["accuracy"]["n"] > 0 and len(from_file["per_pool"]) == 2
    # The API's report is the same snapshot.
    assert client.get("/api/v1/quality/report?kind=relevance").json()["report"] == from_file


def test_quality_report_writes_aggregated_answers_when_asked(make_queue, make_user, crowd_pool, tmp_path):
    labelled_queue(make_queue, make_user, crowd_pool)
    labels, out_file = tmp_path / "labels.jsonl", tmp_path / "aggregated.jsonl"
    labels.write_text(export(staff_client(make_user), "/api/v1/quality/labels?kind=relevance"))
    call_command("quality_report", "--kind", "relevance", "--labels", str(labels), "--aggregate", "dawid_skene",
                 "--out", str(out_file), stdout=io.StringIO())
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert rows and {row["method"] for row in rows} == {"dawid_skene"}
    assert all(row["value"] in GRADES and 0 <= row["confidence"] <= 1 for row in rows)
    assert len({(row["item"], row["unit"]) for row in rows}) == len(rows)


def test_quality_report_refuses_a_missing_file_and_aggregate_without_out(tmp_path):
    with pytest.raises(CommandError, match="Labels file not found"):
        call_command("quality_report", "--kind", "relevance", "--labels", str(tmp_path / "nope.jsonl"))
    (tmp_path / "labels.jsonl").write_text("")
    with pytest.raises(CommandError, match="--aggregate needs --out"):
        call_command("quality_report", "--kind", "relevance", "--labels", str(tmp_path / "labels.jsonl"),
                     "--aggregate", "majority")
    (tmp_path / "bad.jsonl").write_text('{"item": 1}\n')
    with pytest.raises(CommandError, match="line 1: the key 'labeler' is missing"):
        call_command("quality_report", "--kind", "relevance", "--labels", str(tmp_path / "bad.jsonl"))


@pytest.mark.parametrize("query", ["", "?kind=nope", "?kind=relevance&queue=abc"])
def test_an_export_without_a_valid_kind_or_queue_is_a_400_naming_the_parameter(make_user, query):
    response = staff_client(make_user).get(f"/api/v1/quality/labels{query}")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) & {"kind", "queue"}


def test_an_export_of_a_queue_of_another_kind_is_a_404(make_queue, make_user):
    queue = make_queue(tasks=1)
    response = staff_client(make_user).get(f"/api/v1/quality/labels?kind=attributes&queue={queue.pk}")
    assert response.status_code == 404
    assert QUEUE_NOT_OF_KIND.format(queue=queue.pk, kind="attributes") in json.dumps(response.json())


@pytest.mark.parametrize("path", ["/api/v1/quality/labels?kind=relevance", "/api/v1/quality/golden?kind=relevance",
                                  "/api/v1/quality/report?kind=relevance"])
def test_labelers_cannot_read_exports_or_reports(make_user, path):
    client = APIClient()
    client.force_authenticate(make_user(Role.LABELER))
    assert client.get(path).status_code == 403


def test_the_export_runs_a_constant_number_of_queries(make_queue, make_user, crowd_pool, django_assert_max_num_queries):
    labelled_queue(make_queue, make_user, crowd_pool, tasks=2, labelers=2)
    client = staff_client(make_user)
    with django_assert_max_num_queries(3) as few:
        export(client, "/api/v1/quality/labels?kind=relevance")
    labelled_queue(make_queue, make_user, crowd_pool, tasks=8, labelers=4, seed=1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        export(client, "/api/v1/quality/labels?kind=relevance")


def test_a_new_label_makes_the_snapshot_stale_until_it_is_recomputed(make_queue, make_user, crowd_pool):
    queue, people = labelled_queue(make_queue, make_user, crowd_pool, tasks=3, labelers=2)
    snapshot = quality_snapshot_refresh(task_kind="relevance")
    assert not quality_snapshot_is_stale(snapshot=snapshot, task_kind="relevance")
    newcomer = make_user(Role.LABELER)
    lease = assignment_claim(queue=queue, labeler=newcomer)
    label_submit(assignment_id=lease.pk, labeler=newcomer, answer={"grades": ["similar"] * 5})
    assert quality_snapshot_is_stale(snapshot=snapshot, task_kind="relevance")
    assert not quality_snapshot_is_stale(snapshot=quality_snapshot_refresh(task_kind="relevance"),
                                         task_kind="relevance")


def test_feedback_needs_a_body_and_goes_to_labelers_only(make_user):
    expert, labeler = make_user(Role.EXPERT), make_user(Role.LABELER)
    with pytest.raises(FeedbackError, match=FEEDBACK_EMPTY):
        labeler_feedback_give(labeler=labeler, author=expert, body="  ")
    with pytest.raises(FeedbackError) as refused:
        labeler_feedback_give(labeler=expert, author=expert, body="Look closer at the patterns.")
    assert str(refused.value) == FEEDBACK_NOT_LABELER.format(username=expert.username)
    assert labeler_feedback_give(labeler=labeler, author=expert, body="Check the trims.").body == "Check the trims."


def test_a_queues_aggregated_answers_follow_its_method_and_match_quality_report(make_queue, make_user, crowd_pool,
                                                                                 tmp_path):
    queue, _ = labelled_queue(make_queue, make_user, crowd_pool)
    client = staff_client(make_user)
    default = [json.loads(line) for line in export(client, f"/api/v1/quality/aggregated?queue={queue.pk}").splitlines()]
    assert default and {row["method"] for row in default} == {"majority"}
    queue.aggregation = "dawid_skene"
    queue.save(update_fields=["aggregation"])
    chosen = export(client, f"/api/v1/quality/aggregated?queue={queue.pk}")
    assert {json.loads(line)["method"] for line in chosen.splitlines()} == {"dawid_skene"}
    labels, out_file = tmp_path / "labels.jsonl", tmp_path / "aggregated.jsonl"
    labels.write_text(export(client, f"/api/v1/quality/labels?kind=relevance&queue={queue.pk}"))
    call_command("quality_report", "--kind", "relevance", "--labels", str(labels), "--aggregate", "dawid_skene",
                 "--out", str(out_file), stdout=io.StringIO())
    assert out_file.read_text() == chosen


@pytest.mark.parametrize(("query", "status"), [("", 400), ("?queue=999999", 404), ("?queue=1&method=mode", 400)])
def test_an_aggregated_export_without_a_known_queue_or_method_is_refused(make_user, query, status):
    assert staff_client(make_user).get(f"/api/v1/quality/aggregated{query}").status_code == status
