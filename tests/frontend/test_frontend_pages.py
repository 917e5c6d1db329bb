"""Page tests with Django's test client: who may open which page, and what each page shows."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from evaluation.models import EvalRun
from frontend.templatetags.frontend_tags import guide_markdown
from frontend.views import GAIN_BASELINE_ZERO
from labeling.models import Pool, PoolKind, Role, SceneSet
from labeling.permissions import ROLE_REQUIRED_MESSAGE
from labeling.services.users import user_create

from conftest import (JUDGED_RUN_BAD_RATE, JUDGED_RUN_EXTREMELY_SIMILAR_P_AT_5, JUDGED_RUN_GRADES,
                      JUDGED_RUN_SIMILAR_P_AT_5, PASSWORD)

ENGINEER_PAGES = ["frontend:eval-run-list", "frontend:eval-run-new", "frontend:model-version-list"]
STAFF_PAGES = ["frontend:expert-overview"]
LABELING_PAGES = ["frontend:my-queues"]


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["frontend:home", *ENGINEER_PAGES, *STAFF_PAGES, *LABELING_PAGES])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('frontend:login')}?next={url}"


@pytest.mark.django_db
def test_anonymous_visitor_of_a_grading_page_is_sent_to_login(client, relevance_queue):
    response = client.get(reverse("frontend:grading-page", args=[relevance_queue.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("frontend:login"))


@pytest.mark.parametrize("url_name", ENGINEER_PAGES + STAFF_PAGES)
def test_labelers_get_a_friendly_403_on_staff_pages(signed_in, labeler, url_name):
    response = signed_in(labeler).get(reverse(url_name))
    assert response.status_code == 403
    body = response.content.decode()
    assert "isn't open to your account" in body
    assert "you are signed in as labeler" in body
    assert "Evaluation runs" not in body, "a labeler's navigation must not offer engineer pages"


def test_labelers_get_403_on_a_run_page(signed_in, labeler, eval_run):
    response = signed_in(labeler).get(reverse("frontend:eval-run-detail", args=[eval_run.pk]))
    assert response.status_code == 403


def test_experts_get_403_on_engineer_pages(signed_in, expert):
    response = signed_in(expert).get(reverse("frontend:eval-run-list"))
    assert response.status_code == 403
    assert ROLE_REQUIRED_MESSAGE.format(roles="engineer", role="expert") in response.content.decode()


def test_engineers_get_403_on_the_labeling_pages(signed_in, engineer, relevance_queue):
    client = signed_in(engineer)
    assert client.get(reverse("frontend:my-queues")).status_code == 403
    assert client.get(reverse("frontend:grading-page", args=[relevance_queue.pk])).status_code == 403


def test_labelers_outside_the_queues_pools_get_403_on_its_grading_page(signed_in, relevance_queue, db):
    crowd = Pool.objects.create(name="Crowd", kind=PoolKind.CROWD)
    outsider = user_create(username="oscar", password=PASSWORD, role=Role.LABELER, pool=crowd)
    response = signed_in(outsider).get(reverse("frontend:grading-page", args=[relevance_queue.pk]))
    assert response.status_code == 403


@pytest.mark.parametrize(("user_fixture", "destination"), [
    ("labeler", "frontend:my-queues"),
    ("engineer", "frontend:eval-run-list"),
    ("expert", "frontend:expert-overview"),
])
def test_home_routes_each_role_to_its_start_page(request, signed_in, user_fixture, destination):
    response = signed_in(request.getfixturevalue(user_fixture)).get(reverse("frontend:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse(destination)


def test_admins_get_a_start_page_with_the_admin_link(signed_in, admin_user):
    response = signed_in(admin_user).get(reverse("frontend:home"))
    assert response.status_code == 200
    assert 'href="/admin/"' in response.content.decode()


def test_unknown_addresses_get_the_friendly_404_page(signed_in, labeler):
    response = signed_in(labeler).get("/no-such-page/")
    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()


def test_login_page_signs_a_user_in_and_goes_home(client, labeler):
    page = client.get(reverse("frontend:login"))
    assert page.status_code == 200
    response = client.post(reverse("frontend:login"), {"username": "lena", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:home")


def test_login_page_says_when_the_password_is_wrong(client, labeler):
    response = client.post(reverse("frontend:login"), {"username": "lena", "password": "wrong"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_grading_page_carries_the_api_addresses_and_the_escaped_guide(signed_in, labeler, relevance_queue):
    response = signed_in(labeler).get(reverse("frontend:grading-page", args=[relevance_queue.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-claim-url="/api/v1/queues/{relevance_queue.pk}/claim"' in body
    assert "<strong>query object</strong>" in body
    assert "<script>alert" not in body
    assert 'data-testid="queue-remaining">2<' in body, "both tasks are open to a labeler who has labeled none"


def test_my_queues_lists_the_queues_of_the_labelers_pool_with_counts(signed_in, labeler, relevance_queue):
    response = signed_in(labeler).get(reverse("frontend:my-queues"))
    assert response.status_code == 200
    body = response.content.decode()
    assert relevance_queue.name in body
    assert f'data-testid="available-{relevance_queue.pk}">2<' in body
    assert reverse("frontend:work-page", args=[relevance_queue.pk]) in body
    assert 'data-testid="labels-total">0<' in body


def test_my_queues_hides_queues_of_other_pools(signed_in, relevance_queue, db):
    crowd = Pool.objects.create(name="Crowd", kind=PoolKind.CROWD)
    outsider = user_create(username="oscar", password=PASSWORD, role=Role.LABELER, pool=crowd)
    body = signed_in(outsider).get(reverse("frontend:my-queues")).content.decode()
    assert relevance_queue.name not in body
    assert "No queues are open to you right now" in body


def test_engineers_see_runs_with_their_progress(signed_in, engineer, eval_run):
    response = signed_in(engineer).get(reverse("frontend:eval-run-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "embedder V1.1" in body
    assert "0 / 1 scenes" in body


def test_engineers_see_the_model_versions(signed_in, engineer, eval_run):
    response = signed_in(engineer).get(reverse("frontend:model-version-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "frcnn-small" in body and "multitask" in body


def test_guide_markdown_escapes_html_before_adding_markup():
    html = guide_markdown("# Title\n\n- **bold** item\n- <img src=x onerror=alert(1)>\n\nplain `code`")
    assert "<h1>Title</h1>" in html
    assert "<li><strong>bold</strong> item</li>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<p>plain <code>code</code></p>" in html


def test_run_page_shows_the_metrics_of_the_labels_stored(signed_in, engineer, judged_run_create):
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1")
    body = signed_in(engineer).get(reverse("frontend:eval-run-detail", args=[run.pk])).content.decode()
    assert JUDGED_RUN_SIMILAR_P_AT_5 in body
    assert JUDGED_RUN_EXTREMELY_SIMILAR_P_AT_5 in body
    assert JUDGED_RUN_BAD_RATE in body
    assert "4 of 4 query objects judged" in body
    assert "8 / 8 labels" in body, "4 tasks x replication 2, no golden tasks"


def test_run_page_shows_relative_gains_over_its_baseline(signed_in, engineer, judged_run_create):
    baseline_grades = [(category, ["similar", "not_similar", "not_similar", "not_similar", "not_similar"])
                       for category, _ in JUDGED_RUN_GRADES]
    baseline = judged_run_create("embedder V1", embedder_tag="V1", grades=baseline_grades)
    run = judged_run_create("embedder V1.1", embedder_tag="V1.1", baseline=baseline)
    body = signed_in(engineer).get(reverse("frontend:eval-run-detail", args=[run.pk])).content.decode()
    # Similar P@5: baseline 4/20, run 9/20, gain (0.45 - 0.2) / 0.2 = +125%.
    assert "+125.0% vs baseline" in body
    # The baseline has no extremely similar slot at all: no relative gain can be stated.
    assert GAIN_BASELINE_ZERO in body


def test_run_list_page_query_count_does_not_grow_with_label_count(signed_in, engineer, judged_run_create,
                                                                   django_assert_max_num_queries):
    judged_run_create("embedder V1.1", embedder_tag="V1.1")
    client = signed_in(engineer)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("frontend:eval-run-list"))
    assert response.status_code == 200
    assert JUDGED_RUN_SIMILAR_P_AT_5 in response.content.decode()


def test_new_run_form_starts_a_run_through_the_service(signed_in, engineer, eval_run):
    client = signed_in(engineer)
    response = client.post(reverse("frontend:eval-run-new"), {
        "name": "embedder V1.1, gender on", "scene_set": eval_run.scene_set_id, "detector": eval_run.detector_id,
        "embedder": eval_run.embedder_id, "restrict_category": "on", "restrict_gender": "on", "replication": 2,
        "golden_rate": 0.1, "baseline": eval_run.pk,
    })
    run = EvalRun.objects.get(name="embedder V1.1, gender on")
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:eval-run-detail", args=[run.pk])
    assert (run.restrict_category, run.restrict_gender, run.replication, run.golden_rate) == (True, True, 2, 0.1)
    assert run.baseline == eval_run and run.created_by == engineer
    assert run.queue is not None and run.queue.replication == 2


def test_new_run_form_shows_the_services_refusal_beside_the_field(signed_in, engineer, eval_run):
    from evaluation.services import RUN_SCENE_SET_EMPTY

    empty_set = SceneSet.objects.create(name="empty scenes")
    response = signed_in(engineer).post(reverse("frontend:eval-run-new"), {
        "name": "nothing to see", "scene_set": empty_set.pk, "detector": eval_run.detector_id,
        "embedder": eval_run.embedder_id, "replication": 3, "golden_rate": 0,
    })
    assert response.status_code == 200
    assert escape(RUN_SCENE_SET_EMPTY.format(name="empty scenes")) in response.content.decode()
    assert not EvalRun.objects.filter(name="nothing to see").exists()


def test_guide_markdown_joins_wrapped_list_items_and_numbers_ordered_lists():
    html = guide_markdown("- first item\n  wrapped on\n- second\n\n1. one\n   more\n2. two\n\nafter")
    assert html == ("<ul><li>first item wrapped on</li><li>second</li></ul>\n"
                    "<ol><li>one more</li><li>two</li></ol>\n<p>after</p>")
