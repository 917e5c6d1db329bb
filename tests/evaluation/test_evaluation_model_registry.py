"""The model registry in the product: a version's detail API, registering a version through the page
(a corrupt or mismatched checkpoint is refused with the service's message and stores nothing, a
version tag is unique per kind and name), the list, version and compare pages, and the read-only
admin."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from evaluation import services
from evaluation.models import ModelVersion, OfflineEvaluation, OfflineEvaluationStatus
from evaluation.offline import offline_evaluation_request
from frontend.forms_models import MODEL_CONFIG_NOT_OBJECT
from frontend.model_views import (COMPARE_MIXED_KINDS, COMPARE_NONE_CHOSEN, COMPARE_NOT_AN_ID, COMPARE_UNKNOWN,
                                  VERSION_REGISTERED)
from labeling.models import Role, SceneSet
from labeling.services.users import user_create

NEW_PAGE = "/models/new/"


def api_client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def page_client(engineer):
    client = Client()
    client.force_login(engineer)
    return client


@pytest.fixture
def no_worker(monkeypatch):
    from evaluation import tasks

    sent = []
    monkeypatch.setattr(tasks.offline_evaluation_run, "delay", sent.append)
    return sent


def upload(path_or_bytes, name: str = "model.pt") -> SimpleUploadedFile:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def stored_checkpoints(media) -> list[Path]:
    folder = Path(media) / "checkpoints"
    return sorted(folder.iterdir()) if folder.exists() else []


def done_evaluation(version, engineer, figures: dict) -> OfflineEvaluation:
    """A finished evaluation with given figures, for the pages that only read them."""
    from django.utils import timezone

    evaluation = OfflineEvaluation.objects.create(
        model_version=version, created_by=engineer, parameters={"seed": 0}, status=OfflineEvaluationStatus.DONE,
        steps_total=3, steps_done=3, step="Done", results={"figures": figures, "seconds": {"score": 1.0},
                                                            "device": "cpu"}, finished_at=timezone.now())
    return evaluation


EMBEDDER_FIGURES = {"input_size": 64, "split": "test", "n_queries": 12, "corpus_size": 65,
                    "retrieval_p1_binary": 0.25, "top_k_binary": [0.25, 0.5, 0.5, 0.75, 0.75],
                    "retrieval_p1_float": 0.5, "top_k_float": [0.5, 0.5, 0.75, 0.75, 1.0],
                    "retrieval_p1_binary_catalogue_only": 0.5, "attribute_p1": {"color": 0.125, "gender": 0.5},
                    "category_accuracy_queries": 0.25, "category_accuracy_corpus": 0.1, "bit_balance_mean": 0.5}


# -- the detail API -------------------------------------------------------------------------------

def test_the_detail_api_shows_config_notes_runs_and_offline_evaluations(engineer, tiny_world, model_versions,
                                                                        no_worker):
    detector, embedder = model_versions
    run = services.eval_run_create(created_by=engineer, name="untrained run", detector=detector, embedder=embedder,
                                   scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), start_generation=False)
    evaluation = offline_evaluation_request(model_version=embedder, created_by=engineer, parameters={"k_max": 5})
    body = api_client_for(engineer).get(f"/api/v1/model-versions/{embedder.pk}").json()
    assert (body["kind"], body["name"], body["version_tag"], body["notes"]) == ("embedder", "untrained", "V0",
                                                                               "random weights")
    assert body["config"]["embedding_dim"] == 64
    assert body["runs_total"] == 1 and body["runs"] == [
        {"id": run.pk, "name": "untrained run", "status": "pending", "role": "embedder",
         "created_at": body["runs"][0]["created_at"]}]
    assert body["offline_evaluations_total"] == 1
    assert body["offline_evaluations"][0]["id"] == evaluation.pk
    assert body["offline_evaluations"][0]["parameters"]["k_max"] == 5
    detector_body = api_client_for(engineer).get(f"/api/v1/model-versions/{detector.pk}").json()
    assert [entry["role"] for entry in detector_body["runs"]] == ["detector"]
    assert detector_body["offline_evaluations"] == []


def test_the_detail_api_is_404_for_an_unknown_version_and_staff_only(engineer, labeler, model_versions):
    detector, _ = model_versions
    expert = user_create(username="expert", password="a long expert password", role=Role.EXPERT)
    assert api_client_for(engineer).get("/api/v1/model-versions/999999").status_code == 404
    assert api_client_for(expert).get(f"/api/v1/model-versions/{detector.pk}").status_code == 200
    assert api_client_for(labeler).get(f"/api/v1/model-versions/{detector.pk}").status_code == 403
    assert APIClient().get(f"/api/v1/model-versions/{detector.pk}").status_code == 401


def test_the_detail_api_costs_the_same_queries_however_many_evaluations(engineer, model_versions, no_worker,
                                                                        django_assert_max_num_queries):
    _, embedder = model_versions
    client = api_client_for(engineer)
    offline_evaluation_request(model_version=embedder, created_by=engineer)
    with django_assert_max_num_queries(12) as few:
        client.get(f"/api/v1/model-versions/{embedder.pk}")
    for _ in range(5):
        offline_evaluation_request(model_version=embedder, created_by=engineer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(f"/api/v1/model-versions/{embedder.pk}")


# -- registering through the page -------------------------------------------------------------------

def form_body(**overrides) -> dict:
    body = {"kind": "detector", "name": "frcnn-small", "version_tag": "V1", "config": "", "notes": "first try"}
    body.update(overrides)
    return body


def test_an_engineer_registers_a_checkpoint_through_the_page(page_client, engineer, media, untrained_checkpoints):
    response = page_client.post(NEW_PAGE, form_body(checkpoint=upload(untrained_checkpoints["detector"]),
                                                    config='{"score_threshold": 0.25}'))
    version = ModelVersion.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/models/{version.pk}/"
    assert (version.kind, version.name, version.version_tag, version.notes) == ("detector", "frcnn-small", "V1",
                                                                               "first try")
    assert version.config["score_threshold"] == 0.25 and version.created_by == engineer
    page = page_client.get(response["Location"]).content.decode()
    assert VERSION_REGISTERED.format(kind="Detector", name="frcnn-small", version_tag="V1") in page
    assert "&quot;score_threshold&quot;: 0.25" in page and "first try" in page


def test_a_corrupt_checkpoint_gets_the_services_error_on_the_form_and_stores_nothing(page_client, media):
    response = page_client.post(NEW_PAGE, form_body(checkpoint=upload(b"\x80\x02 definitely not torch")))
    assert response.status_code == 200
    errors = response.context["form"].errors["checkpoint"]
    assert len(errors) == 1 and errors[0].startswith(services.MODEL_CHECKPOINT_INVALID.format(kind="detector", reason=""))
    assert errors[0] in response.content.decode().replace("&#x27;", "'")
    assert not ModelVersion.objects.exists() and stored_checkpoints(media) == []


def test_a_checkpoint_of_the_other_kind_is_refused_and_stores_nothing(page_client, media, untrained_checkpoints):
    response = page_client.post(NEW_PAGE, form_body(kind="embedder", checkpoint=upload(untrained_checkpoints["detector"])))
    errors = response.context["form"].errors["checkpoint"]
    assert errors[0].startswith(services.MODEL_CHECKPOINT_INVALID.format(kind="embedder", reason=""))
    assert not ModelVersion.objects.exists() and stored_checkpoints(media) == []


def test_a_config_that_is_not_a_json_object_is_refused_before_the_checkpoint_is_read(page_client, media,
                                                                                      untrained_checkpoints):
    response = page_client.post(NEW_PAGE, form_body(config="[1, 2]", checkpoint=upload(untrained_checkpoints["detector"])))
    assert response.context["form"].errors["config"] == [MODEL_CONFIG_NOT_OBJECT]
    response = page_client.post(NEW_PAGE, form_body(config="{oops", checkpoint=upload(untrained_checkpoints["detector"])))
    assert response.context["form"].errors["config"][0].startswith("The config is not valid JSON")
    assert not ModelVersion.objects.exists() and stored_checkpoints(media) == []


def test_a_version_tag_is_unique_per_kind_and_name(page_client, media, untrained_checkpoints):
    checkpoint = untrained_checkpoints["detector"]
    assert page_client.post(NEW_PAGE, form_body(checkpoint=upload(checkpoint))).status_code == 302
    again = page_client.post(NEW_PAGE, form_body(checkpoint=upload(checkpoint)))
    assert again.status_code == 200 and again.context["form"].errors["version_tag"] == [
        services.MODEL_VERSION_EXISTS.format(kind="detector", name="frcnn-small", version_tag="V1")]
    assert ModelVersion.objects.count() == 1 and len(stored_checkpoints(media)) == 1
    # The same tag under another name is another version.
    assert page_client.post(NEW_PAGE, form_body(name="frcnn-wide", checkpoint=upload(checkpoint))).status_code == 302
    assert sorted(ModelVersion.objects.values_list("name", flat=True)) == ["frcnn-small", "frcnn-wide"]


def test_only_engineers_open_the_registry_pages(client, labeler, media):
    expert = user_create(username="expert", password="a long expert password", role=Role.EXPERT)
    for user in (labeler, expert):
        client.force_login(user)
        assert client.get(NEW_PAGE).status_code == 403
    client.logout()
    assert client.get(NEW_PAGE)["Location"].startswith("/login/")


# -- the list, version and compare pages ----------------------------------------------------------------

def test_the_list_links_registration_versions_and_comparison(page_client, engineer, model_versions):
    detector, embedder = model_versions
    done_evaluation(embedder, engineer, EMBEDDER_FIGURES)
    body = page_client.get("/models/").content.decode()
    assert f'href="{NEW_PAGE}"' in body and "/admin/evaluation/modelversion/add/" not in body
    assert f'href="/models/{detector.pk}/"' in body and f'href="/models/{embedder.pk}/"' in body
    assert 'action="/models/compare/"' in body and f'name="versions" value="{embedder.pk}"' in body
    assert "P@1 25.0% of 65 products" in body


def test_the_version_page_starts_an_offline_evaluation_and_shows_its_progress(page_client, engineer, model_versions,
                                                                             no_worker,
                                                                             django_capture_on_commit_callbacks):
    detector, _ = model_versions
    page = page_client.get(f"/models/{detector.pk}/").content.decode()
    assert 'data-testid="offline-none"' in page and "offline_evaluation.js" not in page
    assert 'name="val_scenes"' in page and 'value="100"' in page and 'name="query_scenes"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = page_client.post(f"/models/{detector.pk}/", {"val_scenes": "12", "test_scenes": ""})
    evaluation = OfflineEvaluation.objects.get()
    assert response.status_code == 302 and no_worker == [evaluation.pk]
    assert evaluation.parameters == {"seed": 0, "n_products": 2000, "val_scenes": 12, "test_scenes": 80,
                                     "single_products": 100}
    page = page_client.get(f"/models/{detector.pk}/").content.decode()
    assert f'data-status-url="/api/v1/offline-evaluations/{evaluation.pk}"' in page
    assert "frontend/offline_evaluation.js" in page
    refused = page_client.post(f"/models/{detector.pk}/", {"val_scenes": "0"})
    assert refused.status_code == 200 and "val_scenes" in refused.context["form"].errors
    assert OfflineEvaluation.objects.count() == 1


def test_the_version_page_shows_the_latest_results_and_the_runs_that_used_it(page_client, engineer, tiny_world,
                                                                            model_versions):
    detector, embedder = model_versions
    run = services.eval_run_create(created_by=engineer, name="used both", detector=detector, embedder=embedder,
                                   scene_set=SceneSet.objects.get(pk=tiny_world.scene_set_id), start_generation=False)
    done_evaluation(embedder, engineer, EMBEDDER_FIGURES)
    page = page_client.get(f"/models/{embedder.pk}/").content.decode()
    assert f'href="/runs/{run.pk}/"' in page and "used both" in page
    assert "Retrieval P@1 (binary codes)" in page and "25.0%" in page and "Colour P@1" not in page
    assert 'data-testid="top-k-chart"' in page and "<polyline" in page
    assert re.search(r"binary codes \(Hamming\), top-4: 75\.0%", page)


def test_the_compare_page_sets_versions_side_by_side_with_a_top_k_curve(page_client, engineer, model_versions,
                                                                         untrained_checkpoints):
    _, embedder = model_versions
    other = services.model_version_register(kind="embedder", name="untrained", version_tag="V0.1",
                                            checkpoint_path=untrained_checkpoints["embedder"])
    done_evaluation(embedder, engineer, EMBEDDER_FIGURES)
    done_evaluation(other, engineer, {**EMBEDDER_FIGURES, "retrieval_p1_binary": 0.5,
                                      "top_k_binary": [0.5, 0.75, 1.0, 1.0, 1.0]})
    response = page_client.get(f"/models/compare/?versions={embedder.pk},{other.pk}")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("untrained V0<") < page.index("untrained V0.1<")
    assert "<b>50.0%</b>" in page  # V0.1's better P@1 is marked
    assert 'data-testid="compare-top-k-chart"' in page and page.count('class="series"') == 2
    assert "untrained V0.1, top-3: 100.0%" in page and ">top-5<" in page
    # Checkboxes of the list page send the ids one by one; that works too.
    assert page_client.get(f"/models/compare/?versions={embedder.pk}&versions={other.pk}").status_code == 200


def test_the_compare_page_says_what_is_wrong_with_its_query(page_client, model_versions):
    detector, embedder = model_versions

    def refusal(query: str, status: int) -> str:
        response = page_client.get(f"/models/compare/{query}")
        assert response.status_code == status
        return response.context["refusal"]

    assert refusal("", 400) == COMPARE_NONE_CHOSEN
    assert refusal(f"?versions={detector.pk}", 400) == COMPARE_NONE_CHOSEN
    assert refusal(f"?versions={detector.pk},x1", 400) == COMPARE_NOT_AN_ID.format(value="x1")
    assert refusal(f"?versions={detector.pk},999999", 404) == COMPARE_UNKNOWN.format(ids="999999")
    assert refusal(f"?versions={detector.pk},{embedder.pk}", 400) == COMPARE_MIXED_KINDS.format(
        names="untrained V0 (detector), untrained V0 (embedder)")


# -- the admin ------------------------------------------------------------------------------------------

def test_the_admin_shows_model_versions_and_offline_evaluations_but_writes_neither(engineer, model_versions):
    detector, _ = model_versions
    evaluation = done_evaluation(detector, engineer, {})
    superuser = user_create(username="root", password="a long admin password", role=Role.ADMIN)
    superuser.is_superuser = True
    superuser.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(superuser)
    for model, pk in (("modelversion", detector.pk), ("offlineevaluation", evaluation.pk)):
        assert client.get(f"/admin/evaluation/{model}/").status_code == 200
        assert client.get(f"/admin/evaluation/{model}/add/").status_code == 403
        change = client.get(f"/admin/evaluation/{model}/{pk}/change/")
        assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
        assert client.post(f"/admin/evaluation/{model}/{pk}/change/", {"name": "renamed"}).status_code == 403
        assert client.get(f"/admin/evaluation/{model}/{pk}/delete/").status_code == 403
    assert ModelVersion.objects.get(pk=detector.pk).name == "untrained"
