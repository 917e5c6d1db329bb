"""The run comparison page, the run list's "Compare selected" form and the run page's significance
section: with Django's test client, and in real Chromium from the run list to the plots."""
from __future__ import annotations

import re

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils.html import escape
from playwright.sync_api import Page, expect

from evaluation import comparison
from evaluation.models import Candidate
from frontend.compare_views import BASELINE_NOT_A_RUN_ID

from conftest import JUDGED_RUN_GRADES, PASSWORD
from frontend_pages import RECORD_VIOLATIONS, LoginPage, csp_violations

SCREENSHOT = "/tmp/compare.png"
RUN_PAGE_SCREENSHOT = "/tmp/compare_run_page.png"
N = "not_similar"
# Similar P@5 of the three runs (4 query objects x 5 slots each): V1 4/20, V1.1 9/20 (JUDGED_RUN_GRADES), V2 16/20.
V1_GRADES = [(category, ["similar", N, N, N, N]) for category, _ in JUDGED_RUN_GRADES]
V2_GRADES = [(category, ["extremely_similar", "similar", "similar", "similar", N]) for category, _ in JUDGED_RUN_GRADES]


@pytest.fixture
def three_runs(judged_run_create):
    """Three judged runs on the same two scenes, oldest first: V1 (20%), V1.1 (45%), V2 (80%)."""
    runs = [judged_run_create("embedder V1", embedder_tag="V1", grades=V1_GRADES)]
    runs.append(judged_run_create("embedder V1.1", embedder_tag="V1.1", baseline=runs[0]))
    runs.append(judged_run_create("embedder V2", embedder_tag="V2", grades=V2_GRADES, baseline=runs[1]))
    # Every candidate was asked in its own query object's task, at its rank (the judgement join
    # reads a label's grade at the candidate's task slot).
    Candidate.objects.filter(query_object__run__in=runs, task_slot__isnull=True).update(task_slot=F("rank"))
    return runs


def compare_address(runs, **query) -> str:
    params = [f"runs={','.join(str(run.pk) for run in runs)}"] + [f"{key}={value}" for key, value in query.items()]
    return f"{reverse('frontend:eval-run-compare')}?{'&'.join(params)}"


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


def row_text(html: str, testid: str) -> str:
    match = re.search(rf'<tr data-testid="{re.escape(testid)}">(.*?)</tr>', html, re.S)
    assert match, f"no row {testid}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


def test_compare_page_shows_values_gains_and_p_values_against_the_oldest_run(engineer_client, three_runs):
    v1, v11, v2 = three_runs
    response = engineer_client.get(compare_address([v2, v1, v11]))
    assert response.status_code == 200
    html = response.content.decode()
    first, second, third = (row_text(html, f"compare-row-similar_p_at_5-{run.pk}") for run in three_runs)
    assert "20.0%" in first and "reference" in first
    # (0.45 - 0.2) / 0.2 = +125%; (0.8 - 0.2) / 0.2 = +300%; two shared scenes, so p is exact.
    assert "45.0%" in second and "+125.0%" in second and re.search(r"p=\d\.\d{3}", second)
    assert "80.0%" in third and "+300.0%" in third
    # Per category on the two scenes every run judged: V1.1's dresses 6/10, shoes 3/10.
    assert "60.0%" in row_text(html, f"compare-category-dresses-{v11.pk}")
    assert "30.0%" in row_text(html, f"compare-category-shoes-{v11.pk}")
    assert html.count('<svg class="plot"') == 3, "one grouped bar chart per metric"
    assert 'data-testid="gain-chart-similar_p_at_5"' in html and 'data-testid="value-chart-bad_rate"' in html


def test_chain_mode_measures_each_run_against_the_one_before(engineer_client, three_runs):
    v1, v11, v2 = three_runs
    html = engineer_client.get(compare_address(three_runs, mode="chain")).content.decode()
    # V2 over V1.1: (0.8 - 0.45) / 0.45 = +77.8%.
    assert "+77.8%" in row_text(html, f"compare-row-similar_p_at_5-{v2.pk}")
    assert "+125.0%" in row_text(html, f"compare-row-similar_p_at_5-{v11.pk}")


@pytest.mark.parametrize("query,status,message", [
    ("", 400, comparison.COMPARE_TOO_FEW_RUNS.format(n=0)),
    ("runs=1", 400, comparison.COMPARE_TOO_FEW_RUNS.format(n=1)),
    ("runs=1,one", 400, comparison.COMPARE_RUN_ID_INVALID.format(value="one")),
    ("runs={a},{b}&baseline=x", 400, BASELINE_NOT_A_RUN_ID.format(value="x")),
    ("runs={a},{b}&baseline={c}", 400, comparison.COMPARE_BASELINE_NOT_AMONG_RUNS.format(id="{c}", ids="{a}, {b}")),
    ("runs={a},{b}&mode=sideways", 400, comparison.COMPARE_UNKNOWN_MODE.format(mode="sideways")),
    ("runs={a},987654", 404, comparison.COMPARE_RUNS_MISSING.format(ids="987654")),
])
def test_compare_page_says_what_is_wrong_with_a_bad_request(engineer_client, three_runs, query, status, message):
    ids = {"a": three_runs[0].pk, "b": three_runs[1].pk, "c": three_runs[2].pk}
    response = engineer_client.get(f"{reverse('frontend:eval-run-compare')}?{query.format(**ids)}")
    assert response.status_code == status
    assert escape(message.format(**ids)) in response.content.decode()


def test_run_page_links_to_the_comparison_and_plans_the_scenes_needed(engineer_client, three_runs):
    v1, v11, _ = three_runs
    html = engineer_client.get(reverse("frontend:eval-run-detail", args=[v11.pk])).content.decode()
    link = re.search(r'href="([^"]+)" data-testid="compare-with-baseline"', html).group(1).replace("&amp;", "&")
    assert link == f"{reverse('frontend:eval-run-compare')}?runs={v1.pk}%2C{v11.pk}&mode=baseline&baseline={v1.pk}"
    assert engineer_client.get(link).status_code == 200
    assert 'data-testid="run-gain-chart"' in html
    assert 'data-testid="run-gain-similar_p_at_5"' in html
    # The planner: Similar P@5 per scene of V1.1 is 4/10 and 5/10 (m = 0.45, residuals -0.05 and
    # +0.05 over mean(x) = 10: sigma^2 = 0.005, sigma_d^2 = 0.01); at a 20% gain
    # n = 7.848880 x 0.01 / (0.2 x 0.45)^2 = 9.69 -> 10 scenes.
    cell = re.search(r'data-testid="plan-similar_p_at_5-4">(.*?)</td>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", cell) == "10"


def test_run_list_offers_a_checkbox_per_run_and_a_compare_button(engineer_client, three_runs):
    html = engineer_client.get(reverse("frontend:eval-run-list")).content.decode()
    assert f'action="{reverse("frontend:eval-run-compare")}"' in html
    for run in three_runs:
        assert f'name="runs" value="{run.pk}"' in html
    assert 'data-testid="compare-selected"' in html


class ComparePage:
    """The comparison page as an engineer reads it."""

    def __init__(self, page: Page):
        self.page = page

    def expect_row(self, metric: str, run_id: int, *texts: str) -> None:
        row = self.page.get_by_test_id(f"compare-row-{metric}-{run_id}")
        for text in texts:
            expect(row).to_contain_text(text)

    def choose_mode(self, mode: str) -> None:
        self.page.locator(f"#compare-mode-{mode}").check()
        self.page.get_by_role("button", name="Update").click()
        expect(self.page).to_have_url(re.compile(rf"mode={mode}"))

    def expect_plot(self, testid: str, marks: str, count: int) -> None:
        chart = self.page.get_by_test_id(testid)
        expect(chart).to_be_visible()
        expect(chart.locator(marks)).to_have_count(count)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_engineer_ticks_runs_on_the_list_compares_them_and_reads_tables_and_plots(live_server, browser_page,
                                                                                  engineer, three_runs):
    v1, v11, v2 = three_runs
    browser_page.add_init_script(RECORD_VIOLATIONS)
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    expect(browser_page).to_have_url(f"{live_server.url}/runs/")
    for run in three_runs:
        browser_page.get_by_test_id(f"compare-run-{run.pk}").check()
    browser_page.get_by_test_id("compare-selected").click()
    expect(browser_page).to_have_url(re.compile(r"/runs/compare/\?"))

    compare = ComparePage(browser_page)
    compare.expect_row("similar_p_at_5", v1.pk, "20.0%", "reference")
    compare.expect_row("similar_p_at_5", v11.pk, "45.0%", "+125.0%")
    compare.expect_row("similar_p_at_5", v2.pk, "80.0%", "+300.0%")
    expect(browser_page.get_by_test_id("compare-per-category")).to_contain_text("dresses")
    # Plots: a point with whiskers per run, a gain per compared run, bars per category and run.
    compare.expect_plot("value-chart-similar_p_at_5", "svg.interval-marks circle.point", 3)
    compare.expect_plot("gain-chart-similar_p_at_5", "svg.interval-marks circle.point", 2)
    compare.expect_plot("category-similar_p_at_5", "svg.plot g.grouped-bar rect", 6)

    compare.choose_mode("chain")
    compare.expect_row("similar_p_at_5", v2.pk, "+77.8%")
    # The plots are the page's own SVG: nothing the Content-Security-Policy blocks.
    assert csp_violations(browser_page) == []
    browser_page.screenshot(path=SCREENSHOT, full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_run_page_shows_gains_plot_and_planner_and_opens_the_comparison_with_its_baseline(
        live_server, browser_page, engineer, three_runs):
    v1, v11, _ = three_runs
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    browser_page.goto(f"{live_server.url}/runs/{v11.pk}/")
    section = browser_page.get_by_test_id("run-significance")
    chart = section.get_by_test_id("run-gain-chart")
    # Three metrics; V1 has no extremely similar slot, so that gain is undefined and has no point.
    expect(chart.locator("tbody tr")).to_have_count(3)
    expect(chart.locator("svg.interval-marks circle.point")).to_have_count(2)
    expect(chart.get_by_test_id("run-gain-similar_p_at_5")).to_contain_text("+125.0%")
    expect(section.get_by_test_id("plan-similar_p_at_5-4")).to_have_text("10")
    section.screenshot(path=RUN_PAGE_SCREENSHOT)
    section.get_by_test_id("compare-with-baseline").click()
    expect(browser_page).to_have_url(re.compile(r"/runs/compare/\?"))
    ComparePage(browser_page).expect_row("similar_p_at_5", v11.pk, "45.0%", "+125.0%")
    expect(browser_page.get_by_test_id("compare-runs").locator("tbody tr")).to_have_count(2)
