import io
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from labeling.models import TaskKind
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from models_runtime.world import build_world
from conftest import PASSWORD
from frontend_pages import GradingPage, LoginPage, MyQueuesPage

pytestmark = [pytest.mark.django_db(transaction=True)]


def _url(picture, name):
    buf = io.BytesIO(); picture.save(buf, format="PNG")
    return default_storage.url(default_storage.save(f"frontend-shots/{name}.png", ContentFile(buf.getvalue())))


def test_screens(live_server, browser_page, labeler, pool, relevance_guide_version):
    world = build_world(seed=0, n_products=60, n_scenes=4)
    scene = world.scenes[1]
    obj = scene.objects[0]
    scene_img = world.render_scene(scene)
    crop = scene_img.crop(tuple(int(v) for v in obj.box)).resize((200, int(200 * (obj.box[3]-obj.box[1]) / (obj.box[2]-obj.box[0]))))
    same = [p for p in world.products if p.category == obj.category and p.id != obj.product_id][:4]
    cands = [world.product(obj.product_id)] + same
    payload = {"query_object": {"id": 1, "crop_url": _url(crop, "crop"), "scene_url": _url(scene_img, "scene"),
                                "box": list(obj.box), "category": obj.category},
               "candidates": [{"product_id": p.id, "category": p.category, "image_url": _url(world.render_product(p), f"p{p.id}")} for p in cands]}
    queue = queue_create(name="Relevance: embedder V1.1 vs V1", task_kind=TaskKind.RELEVANCE, replication=3,
                         allowed_pools=[pool], guide_version=relevance_guide_version)
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"k{i}", payload=payload) for i in range(3)])
    LoginPage(browser_page, live_server.url).sign_in("lena", PASSWORD)
    browser_page.screenshot(path="/tmp/shot_queues.png", full_page=True)
    g = MyQueuesPage(browser_page).start(queue.pk)
    browser_page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    browser_page.screenshot(path="/tmp/shot_grading_empty.png")
    g.type_grades("es")
    g.grade(4, "n")
    browser_page.screenshot(path="/tmp/shot_grading.png")
    g.submit()
    g.expect_message("Slots 3 and 5 have no grade yet.")
    browser_page.screenshot(path="/tmp/shot_grading_missing.png")
    g.open_guide()
    browser_page.screenshot(path="/tmp/shot_guide.png")


def test_screens_runs(live_server, browser_page, engineer, judged_run_create):
    from conftest import JUDGED_RUN_GRADES
    baseline_grades = [(c, ["similar", "not_similar", "marginally_similar", "not_similar", "not_similar"]) for c, _ in JUDGED_RUN_GRADES]
    baseline = judged_run_create("Embedder V1 baseline", embedder_tag="V1", grades=baseline_grades)
    run = judged_run_create("Embedder V1.1, category restriction on", embedder_tag="V1.1", baseline=baseline)
    LoginPage(browser_page, live_server.url).sign_in("erik", PASSWORD)
    browser_page.screenshot(path="/tmp/shot_runs.png", full_page=True)
    browser_page.goto(f"{live_server.url}/runs/{run.pk}/")
    browser_page.screenshot(path="/tmp/shot_run.png", full_page=True)
    browser_page.goto(f"{live_server.url}/runs/new/")
    browser_page.screenshot(path="/tmp/shot_run_new.png", full_page=True)
    browser_page.goto(f"{live_server.url}/models/")
    browser_page.screenshot(path="/tmp/shot_models.png", full_page=True)
    browser_page.goto(f"{live_server.url}/overview/")
    browser_page.screenshot(path="/tmp/shot_overview.png", full_page=True)
    browser_page.goto(f"{live_server.url}/queues/")
    browser_page.screenshot(path="/tmp/shot_403.png", full_page=True)
