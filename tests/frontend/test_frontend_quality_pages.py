"""The label-quality pages: the staff dashboard (Table 9, sortable labelers, simulated marks, links
to low-agreement items, live reload), a labeler's own page and the feedback an expert gives them,
the simulated badge on the review page, the charts' geometry, and query counts that do not grow
with the number of labels.

The labels are made with the real services (queue, golden set, claim, submit) by the demo's
simulated labelers in its three pools, plus one person, lena, in the in-house pool."""
from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from conftest import PASSWORD
from evaluation.simulation import simulated_labelers_ensure
from frontend import charts
from frontend.quality_views import FEEDBACK_SENT
from labeling.golden.services import GoldenItemInput, golden_items_put, golden_set_create, queue_golden_sets_add
from labeling.models import Label, Task
from labeling.quality.labeler import OWN_FIGURES_LAG
from labeling.quality.services import quality_snapshot_refresh
from labeling.quality.simulation import DEMO_POOL_PROFILES, labeler_profiles_draw, simulated_time_spent_ms
from labeling.services.queue_engine import assignment_claim, label_submit
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from labeling.task_kinds import task_kind_spec
from labeling.task_kinds.relevance import GRADES
from frontend_pages import LoginPage, RECORD_VIOLATIONS, csp_violations

KIND = "relevance"
CATEGORIES = ("dresses", "shoes", "bags")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The simulated labelers are real accounts; PBKDF2 for each would dominate these tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def refresh_worker(monkeypatch):
    """A Celery worker stand-in: an asked-for snapshot refresh runs at once, in the asking process."""
    from labeling import tasks

    refreshed = []

    def run(task_kind):
        refreshed.append(task_kind)
        quality_snapshot_refresh(task_kind=task_kind)

    monkeypatch.setattr(tasks.quality_snapshot_refresh_run, "delay", run)
    return refreshed


def _payload(images: dict, number: int) -> dict:
    category = CATEGORIES[number % len(CATEGORIES)]
    return {"query_object": {"id": number, "crop_url": images["crop"], "scene_url": images["scene"],
                             "box": [20.0, 20.0, 120.0, 200.0], "category": category},
            "candidates": [{"product_id": 5000 + number * 10 + slot, "category": category,
                            "image_url": images[f"product-{slot}"]} for slot in range(5)]}


@pytest.fixture
def quality_world(db, pool, labeler, media_images):
    """Build a relevance queue (3 labels per task, a quarter of claims golden) that lena and two
    simulated labelers per demo pool label; call ``label(rounds)`` to have each labeler submit up
    to ``rounds`` more tasks, a minute apart. Returns the builder's state."""
    images = {"crop": media_images("crop", (30, 30, 30), (120, 160)),
              "scene": media_images("scene", (120, 140, 160), (256, 256)),
              **{f"product-{slot}": media_images(f"product-{slot}", colour)
                 for slot, colour in enumerate([(200, 40, 40), (40, 160, 60), (40, 80, 200), (220, 170, 30),
                                                (130, 60, 160)])}}
    rng = random.Random(7)
    simulated = simulated_labelers_ensure(per_pool=2, seed=0)
    lena_profile = labeler_profiles_draw(pool=DEMO_POOL_PROFILES[0], count=1, seed=1)[0]
    labelers = [(labeler, lena_profile)] + simulated
    queue = queue_create(name="Relevance quality", task_kind=KIND, replication=3, golden_rate=0.25)
    golden_set = golden_set_create(name="relevance golden", task_kind=KIND)
    queue_golden_sets_add(queue=queue, golden_sets=[golden_set])
    truths = {}

    def true_grades():
        return [rng.choice(GRADES[:4]) for _ in range(5)]

    golden_items_put(golden_set=golden_set, items=[
        GoldenItemInput(key=f"g-{number}", payload=_payload(images, 900 + number), answer={"grades": true_grades()})
        for number in range(8)])
    state = {"queue": queue, "labelers": labelers, "clock": timezone.now() - timedelta(hours=6), "next_task": 0,
             "images": images}

    def tasks_add(count: int) -> None:
        specs = []
        for _ in range(count):
            number = state["next_task"]
            state["next_task"] += 1
            truths[f"t-{number}"] = {"grades": true_grades()}
            specs.append(TaskSpec(source_key=f"t-{number}", payload=_payload(images, number)))
        tasks_create(queue=queue, specs=specs)

    def label(rounds: int) -> int:
        spec = task_kind_spec(KIND)
        made = 0
        for _ in range(rounds):
            for user, profile in labelers:
                state["clock"] += timedelta(minutes=1)
                assignment = assignment_claim(queue=queue, labeler=user, now=state["clock"], rng=rng)
                if assignment is None:
                    continue
                task = Task.objects.select_related("golden_item").get(pk=assignment.task_id)
                truth = task.golden_item.answer if task.is_golden else truths[task.source_key]
                answer = spec.simulated_answer(payload=task.payload, truth=truth, profile=profile, rng=rng)
                label, _ = label_submit(assignment_id=assignment.pk, labeler=user, answer=answer, now=state["clock"],
                                        time_spent_ms=simulated_time_spent_ms(profile=profile, units=5, rng=rng))
                # A label's time is the database's clock at insert: spread them over the hours they stand for.
                Label.objects.filter(pk=label.pk).update(created_at=state["clock"])
                made += 1
        return made

    state["tasks_add"] = tasks_add
    state["label"] = label
    return state


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _lena_accuracy(lena) -> tuple[str, int]:
    """lena's share of golden slots graded as the golden answer, counted by hand from her labels but
    her newest OWN_FIGURES_LAG (her own page holds those back)."""
    right = total = 0
    labels = list(Label.objects.filter(labeler=lena).select_related("task__golden_item").order_by("pk"))
    for label in labels[:len(labels) - OWN_FIGURES_LAG]:
        if not label.task.is_golden:
            continue
        for given, expected in zip(label.answer["grades"], label.task.golden_item.answer["grades"]):
            right += given == expected
            total += 1
    return _percent(right / total), total


# -- browser ------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_shows_pools_side_by_side_sorts_labelers_and_links_low_agreement_items_to_their_review(
        live_server, browser_page, expert, quality_world, refresh_worker):
    quality_world["tasks_add"](18)
    quality_world["label"](14)
    snapshot = quality_snapshot_refresh(task_kind=KIND)
    browser_page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(browser_page, live_server.url).sign_in("esther", PASSWORD)
    browser_page.get_by_role("link", name="Quality", exact=True).click()

    pools = browser_page.get_by_test_id("table9-pool")
    expect(pools).to_have_count(3)
    expect(pools.nth(0)).to_contain_text("In-house team")
    expect(pools.nth(1)).to_contain_text("Fixed outside pool")
    expect(pools.nth(2)).to_contain_text("Crowd")
    expect(browser_page.get_by_test_id("table9-accuracy").locator("td")).to_have_count(3)
    expect(browser_page.get_by_test_id("snapshot-labels")).to_have_text(str(snapshot.n_labels))

    rows = browser_page.get_by_test_id("labeler-row")
    expect(rows).to_have_count(7)
    expect(rows.filter(has_text="sim-crowd-01").get_by_test_id("simulated-badge")).to_be_visible()
    expect(rows.filter(has_text="lena").get_by_test_id("simulated-badge")).to_have_count(0)

    def accuracies() -> list[float]:
        values = browser_page.get_by_test_id("labeler-accuracy").evaluate_all(
            "cells => cells.map(cell => cell.getAttribute('data-sort-value'))")
        return [float(value) for value in values if value]

    browser_page.get_by_test_id("sort-accuracy").click()
    expect(browser_page.locator("th[aria-sort=ascending]")).to_contain_text("Accuracy")
    ascending = accuracies()
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    browser_page.get_by_test_id("sort-accuracy").click()
    expect(browser_page.locator("th[aria-sort=descending]")).to_contain_text("Accuracy")
    assert accuracies() == sorted(ascending, reverse=True)

    link = browser_page.get_by_test_id("lowest-item-link").first
    task_id = int(re.search(r"/overview/tasks/(\d+)/", link.get_attribute("href")).group(1))
    link.click()
    expect(browser_page.locator("h1")).to_have_text(f"Task #{task_id}")
    expect(browser_page.get_by_test_id("relevance-review")).to_be_visible()
    assert csp_violations(browser_page) == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_reloads_itself_with_the_new_figures_once_a_refresh_of_new_labels_is_stored(
        live_server, browser_page, expert, quality_world, refresh_worker):
    quality_world["tasks_add"](6)
    quality_world["label"](2)
    first = quality_snapshot_refresh(task_kind=KIND)
    quality_world["label"](2)
    total = Label.objects.count()
    assert total > first.n_labels
    browser_page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(browser_page, live_server.url).sign_in("esther", PASSWORD)

    # The page finds the snapshot stale: it shows the stored figures, says so, and asks for a refresh.
    browser_page.goto(f"{live_server.url}{reverse('frontend:quality-dashboard')}?kind={KIND}")
    expect(browser_page.get_by_test_id("quality-refreshing")).to_be_visible()
    expect(browser_page.get_by_test_id("snapshot-labels")).to_have_text(str(first.n_labels))

    expect(browser_page.get_by_test_id("snapshot-labels")).to_have_text(str(total))
    expect(browser_page.get_by_test_id("quality-refreshing")).to_have_count(0)
    assert refresh_worker == [KIND]
    assert csp_violations(browser_page) == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_labeler_sees_only_their_own_accuracy_and_the_feedback_an_expert_gives_on_their_page(
        live_server, browser_page, labeler, expert, quality_world, refresh_worker):
    quality_world["tasks_add"](12)
    quality_world["label"](12)
    quality_snapshot_refresh(task_kind=KIND)
    expected_accuracy, golden_slots = _lena_accuracy(labeler)
    browser_page.add_init_script(RECORD_VIOLATIONS)
    login = LoginPage(browser_page, live_server.url)

    login.sign_in("lena", PASSWORD)
    browser_page.get_by_role("link", name="My quality").click()
    expect(browser_page.get_by_test_id("my-accuracy")).to_have_text(expected_accuracy)
    expect(browser_page.get_by_test_id(f"my-kind-{KIND}")).to_contain_text(f"n = {golden_slots} golden units")
    expect(browser_page.get_by_test_id("my-labels")).to_have_text(str(Label.objects.filter(labeler=labeler).count()))
    content = browser_page.content()
    for other in ("sim-inhouse-01", "sim-crowd-01", "Crowd", "Fixed outside pool"):
        assert other not in content
    expect(browser_page.get_by_test_id("feedback-list")).to_contain_text("No feedback yet")
    violations = csp_violations(browser_page)
    browser_page.get_by_role("button", name="Sign out").click()

    login.sign_in("esther", PASSWORD)
    browser_page.goto(f"{live_server.url}{reverse('frontend:quality-dashboard')}")
    browser_page.get_by_test_id("labeler-row").filter(has_text="lena").get_by_role("link", name="lena").click()
    expect(browser_page.get_by_test_id(f"labeler-kind-{KIND}")).to_be_visible()
    browser_page.get_by_label("Feedback to lena").fill("Slot 3 in dresses: compare the neckline before the colour.")
    browser_page.get_by_role("button", name="Send feedback").click()
    expect(browser_page.locator(".alert.ok")).to_have_text(FEEDBACK_SENT.format(username="lena"))
    expect(browser_page.get_by_test_id("feedback-item")).to_contain_text("compare the neckline")
    violations += csp_violations(browser_page)
    browser_page.get_by_role("button", name="Sign out").click()

    login.sign_in("lena", PASSWORD)
    browser_page.goto(f"{live_server.url}{reverse('frontend:my-quality')}")
    note = browser_page.get_by_test_id("feedback-item")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("compare the neckline before the colour")
    expect(note).to_contain_text("from esther")
    assert violations + csp_violations(browser_page) == []


# -- pages without a browser ---------------------------------------------------------------------

def _queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_the_dashboard_runs_the_same_number_of_queries_whatever_the_number_of_labels(client, expert, quality_world):
    client.force_login(expert)
    url = f"{reverse('frontend:quality-dashboard')}?kind={KIND}"
    quality_world["tasks_add"](3)
    quality_world["label"](2)
    small = quality_snapshot_refresh(task_kind=KIND).n_labels
    few = _queries_of(client, url)

    quality_world["tasks_add"](15)
    quality_world["label"](10)
    large = quality_snapshot_refresh(task_kind=KIND).n_labels
    many = _queries_of(client, url)

    assert large > 3 * small
    assert many == few


@pytest.mark.django_db
def test_my_quality_runs_the_same_number_of_queries_whatever_the_number_of_labels(client, labeler, expert,
                                                                                  quality_world):
    from labeling.quality.services import labeler_feedback_give

    client.force_login(labeler)
    url = reverse("frontend:my-quality")
    quality_world["tasks_add"](3)
    quality_world["label"](2)
    labeler_feedback_give(labeler=labeler, author=expert, body="Look at the whole product.")
    small = Label.objects.filter(labeler=labeler).count()
    few = _queries_of(client, url)

    quality_world["tasks_add"](15)
    quality_world["label"](12)
    labeler_feedback_give(labeler=labeler, author=expert, body="Better on shoes now.")
    large = Label.objects.filter(labeler=labeler).count()
    many = _queries_of(client, url)

    assert large > 3 * small
    assert many == few


@pytest.mark.django_db
def test_the_review_page_marks_the_labels_of_simulated_labelers(client, expert, labeler, quality_world):
    quality_world["tasks_add"](2)
    quality_world["label"](3)
    task = (Task.objects.filter(queue=quality_world["queue"], is_golden=False, labels__labeler=labeler)
            .filter(labels__is_simulated=True).distinct().first())
    simulated = Label.objects.filter(task=task, is_simulated=True).count()
    client.force_login(expert)

    page = client.get(reverse("frontend:task-review", args=[task.pk])).content.decode()

    header = page[page.index('data-testid="relevance-review"'):page.index("</thead>", page.index("relevance-review"))]
    assert header.count('data-testid="simulated-badge"') == simulated
    lena_header = re.search(r"<th>lena(.*?)</th>", header).group(1)
    assert "simulated" not in lena_header


@pytest.mark.django_db
def test_the_dashboard_says_there_are_no_labels_yet_and_my_quality_says_the_same(client, expert, labeler):
    client.force_login(expert)
    dashboard = client.get(reverse("frontend:quality-dashboard"), {"kind": "bounding_boxes"}).content.decode()
    assert "No Bounding boxes labels yet" in dashboard
    client.force_login(labeler)
    mine = client.get(reverse("frontend:my-quality")).content.decode()
    assert "No labels yet" in mine and "No feedback yet" in mine


@pytest.mark.django_db
def test_the_status_answers_when_the_snapshot_was_computed_and_whether_labels_arrived_since(
        client, expert, quality_world, refresh_worker, django_capture_on_commit_callbacks):
    quality_world["tasks_add"](2)
    quality_world["label"](1)
    snapshot = quality_snapshot_refresh(task_kind=KIND)
    client.force_login(expert)
    url = reverse("frontend:quality-status")

    assert client.get(url, {"kind": KIND}).json() == {"kind": KIND, "computed_at": snapshot.computed_at.isoformat(),
                                                      "n_labels": snapshot.n_labels, "stale": False}
    quality_world["label"](1)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(url, {"kind": KIND}).json()["stale"] is True
    assert refresh_worker == [KIND]
    assert client.get(url, {"kind": "no-such-kind"}).status_code == 404


@pytest.mark.django_db
def test_an_engineer_reads_a_labelers_page_but_only_experts_give_feedback(client, engineer, expert, labeler):
    url = reverse("frontend:labeler-quality", args=[labeler.pk])
    client.force_login(engineer)
    assert client.get(url).status_code == 200
    assert client.post(url, {"body": "Slow down."}).status_code == 403
    client.force_login(expert)
    empty = client.post(url, {"body": "  "})
    assert "Write the feedback" in empty.content.decode()
    assert client.get(reverse("frontend:labeler-quality", args=[expert.pk])).status_code == 404


@pytest.mark.django_db
def test_a_labelers_own_figures_hold_only_their_labels_and_never_a_golden_answer(labeler, expert, quality_world):
    import json

    from labeling.quality.labeler import labeler_quality
    from labeling.quality.services import labeler_feedback_give

    quality_world["tasks_add"](9 + OWN_FIGURES_LAG)
    quality_world["label"](8 + OWN_FIGURES_LAG)
    labeler_feedback_give(labeler=labeler, author=expert, body="Mind the did-not-load grade.")

    quality = labeler_quality(labeler=labeler)

    [relevance] = quality["kinds"]
    expected_accuracy, golden_slots = _lena_accuracy(labeler)
    assert _percent(relevance["accuracy"]["value"]) == expected_accuracy
    assert relevance["accuracy"]["n"] == golden_slots
    assert sum(row["accuracy"]["n"] for row in relevance["over_time"]["rows"]) == golden_slots
    assert relevance["n_labels"] == Label.objects.filter(labeler=labeler).count()
    assert relevance["held_back"] == OWN_FIGURES_LAG
    assert [note["body"] for note in quality["feedback"]] == ["Mind the did-not-load grade."]
    text = json.dumps(quality, default=str)
    others = [user.username for user, _ in quality_world["labelers"] if user != labeler]
    assert not [name for name in others if name in text]
    assert "grades" not in text and "answer" not in text


# -- charts ----------------------------------------------------------------------------------------

def test_interval_marks_place_the_point_and_whiskers_in_percent_of_the_domain():
    marks = charts.interval_marks({"value": 0.5, "low": 0.25, "high": 0.8, "n": 40})
    assert (marks["x_low"], marks["x_value"], marks["x_high"]) == ("25.00", "50.00", "80.00")
    clipped = charts.interval_marks({"value": -0.2, "low": -0.5, "high": 0.1, "n": 9}, domain=(0.0, 1.0))
    assert (clipped["x_low"], clipped["x_value"], clipped["x_high"]) == ("0.00", "0.00", "10.00")
    assert charts.interval_marks({"value": None, "low": None, "high": None, "n": 0}) == {"has_value": False,
                                                                                        "has_interval": False}


def test_the_line_chart_breaks_a_line_where_a_window_has_no_value_and_keeps_every_number_in_its_table():
    start = timezone.now().replace(microsecond=0)
    figure = {"value": 0.5, "low": 0.4, "high": 0.6, "n": 10}
    chart = charts.line_chart(chart_id="t", title="t", y_label="y", x_label="x", series=[{"name": "A", "points": [
        (start, figure), (start + timedelta(hours=1), figure), (start + timedelta(hours=2), {"value": None, "n": 0}),
        (start + timedelta(hours=3), figure), (start + timedelta(hours=4), figure)]}])
    assert len(chart["series"][0]["lines"]) == 2
    assert [row["cells"][0]["value"] if row["cells"][0] else None for row in chart["table"]["rows"]] == [
        "50.0%", "50.0%", None, "50.0%", "50.0%"]


def test_the_heatmap_shades_each_cell_by_its_share_of_the_golden_row():
    matrix = charts.heatmap(values=["similar", "not_similar"], matrix=[[3, 1], [0, 0]])
    first, empty = matrix["rows"]
    assert [cell["share_text"] for cell in first["cells"]] == ["75%", "25%"]
    assert first["cells"][0]["strong"] and first["cells"][0]["diagonal"] and not first["cells"][1]["strong"]
    assert first["correct_text"] == "75%" and empty["correct_text"] == charts.NO_DATA
