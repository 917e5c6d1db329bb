"""Creator-pair imports in the Shop The Look format: every line checked with its number and reason,
all or nothing, idempotent, images by id from a folder or the synthetic world, boxes in pixels,
categories from the category file; synthetic pairs with their truth; the API and the staff page.
No Celery worker: the run is called directly, the enqueue on commit is captured."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape
from PIL import Image as PILImage
from rest_framework.test import APIClient

from labeling import tasks
from labeling.imports import stl_pairs
from labeling.imports.stl_pairs import (
    CATEGORIES_INVALID,
    FILE_LINES_REFUSED,
    FILE_NOT_UTF8,
    IMAGE_SOURCE_MISSING,
    IMAGE_SOURCE_OUTSIDE,
    LINE_BBOX_EMPTY,
    LINE_BBOX_NOT_FOUR_NUMBERS,
    LINE_BBOX_OUTSIDE,
    LINE_ID_INVALID,
    LINE_IMAGE_INVALID,
    LINE_IMAGE_UNKNOWN,
    LINE_KEY_MISSING,
    LINE_NOT_JSON,
    LINE_NOT_OBJECT,
    LINE_PAIR_REPEATED,
    PairImportError,
    pair_import_create,
    pair_import_run,
    synthetic_pairs_import,
)
from labeling.models import Category, CreatorPair, Image, ImageKind, PairImport, PairImportStatus, Product, Role
from labeling.services.images import image_png_bytes, image_store
from labeling.services.world_import import synthetic_external_id, world_import
from models_runtime.world import build_world
from models_runtime.world.creator_pairs import (NOISE_KINDS, NOISE_LOOSE_BOX, NOISE_NOT_MATCH_PRODUCT,
                                                NOISE_SHIFTED_BOX, NOISE_SIMILAR_PRODUCT, NOISE_SPAM,
                                                NOISE_WRONG_CATEGORY, creator_pairs_generate, world_key_parse,
                                                world_product_key)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stl_pairs"
EXAMPLE = (FIXTURES / "example.jsonl").read_bytes()
EXAMPLE_CATEGORIES = (FIXTURES / "example-cat.json").read_bytes()
SCENE_A, SCENE_B = "cdab9160072dd1800038227960ff6467", "5e1f0c2a9b7d4e3f8a6b1c0d2e4f6a8b"
SHOES, PANTS, TOP, SUNGLASSES = ("0027e30879ce3d87f82f699f148bff7e", "2c05db9ff1abbcfc4bfd50dd003aac80",
                                 "2b2cc3a8b588b7282be0511568b51ee7", "1a4db76f8904ded8a1a2cc7b34e9db8b")
SCENE_A_SIZE, SCENE_B_SIZE = (400, 600), (320, 480)
FOLDER = "stl-example"


def line(scene: str, product: str, bbox) -> str:
    return json.dumps({"product": product, "scene": scene, "bbox": bbox})


def write_image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    fmt = "JPEG" if path.suffix == ".jpg" else "PNG"
    PILImage.new("RGB", size, colour).save(path, format=fmt)


@pytest.fixture
def storage(settings, tmp_path, db):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.PAIR_IMAGE_ROOT = tmp_path / "pair_images"
    settings.PAIR_IMAGE_ROOT.mkdir()
    return tmp_path


@pytest.fixture
def stl_folder(storage):
    """The example file's images: scene A a JPEG, scene B a PNG, the products PNGs (each its own colour,
    so each is its own stored image)."""
    folder = storage / "pair_images" / FOLDER
    folder.mkdir()
    write_image(folder / f"{SCENE_A}.jpg", SCENE_A_SIZE, (200, 40, 40))
    write_image(folder / f"{SCENE_B}.png", SCENE_B_SIZE, (40, 200, 40))
    for number, product in enumerate((SHOES, PANTS, TOP, SUNGLASSES)):
        write_image(folder / f"{product}.png", (96, 96), (10 + 40 * number, 60, 220))
    return folder


@pytest.fixture
def expert(make_user):
    return make_user(Role.EXPERT)


def imported(data: bytes, *, categories: bytes | None = None, source: str = FOLDER, user=None) -> PairImport:
    job = pair_import_create(name="creator pairs", data=data, image_source=source, categories=categories,
                             created_by=user)
    return pair_import_run(job_id=job.pk)


# -- a good file ----------------------------------------------------------------------------------

def test_a_folder_import_stores_every_pair_with_its_box_in_scene_pixels_and_its_category(stl_folder, expert):
    job = imported(EXAMPLE, categories=EXAMPLE_CATEGORIES, user=expert)
    assert (job.status, job.lines_total, job.lines_done, job.pairs_created, job.errors) == (
        PairImportStatus.DONE, 4, 4, 4, [])
    pairs = {pair.product_key: pair for pair in CreatorPair.objects.select_related("scene", "product_image")}
    shoes = pairs[SHOES]
    assert shoes.scene_key == SCENE_A and shoes.box_normalized == [0.434097, 0.859363, 0.560254, 1.0]
    # Scene A is 400 x 600: left and right scale by 400, top and bottom by 600.
    assert shoes.box == [173.64, 515.62, 224.1, 600.0]
    sunglasses = pairs[SUNGLASSES]
    assert sunglasses.box == [130.0, 30.0, 190.0, 60.0]  # [0.40625, 0.0625, 0.59375, 0.125] of 320 x 480
    assert {key: pair.category for key, pair in pairs.items()} == {
        SHOES: "shoes", PANTS: "pants", TOP: "tops", SUNGLASSES: "sunglasses"}
    assert (shoes.scene.width, shoes.scene.height, shoes.scene.kind) == (*SCENE_A_SIZE, ImageKind.SCENE)
    assert (shoes.product_image.width, shoes.product_image.kind) == (96, ImageKind.PRODUCT)
    assert all(pair.pair_import_id == job.pk and pair.truth is None and pair.product is None
               for pair in pairs.values())
    assert Image.objects.count() == 6  # two scenes, four products


def test_ids_resolve_to_their_jpg_or_png_and_a_missing_image_is_an_unknown_image(stl_folder):
    assert (stl_folder / f"{SCENE_A}.jpg").exists() and (stl_folder / f"{SCENE_B}.png").exists()
    job = imported(EXAMPLE)
    scenes = dict(CreatorPair.objects.values_list("scene_key", "scene__width"))
    assert scenes == {SCENE_A: SCENE_A_SIZE[0], SCENE_B: SCENE_B_SIZE[0]}
    assert job.status == PairImportStatus.DONE
    missing = imported(f"{line(SCENE_A, 'f' * 32, [0.1, 0.1, 0.5, 0.5])}\n".encode())
    assert missing.errors == [{"line": 1, "message": LINE_IMAGE_UNKNOWN.format(role="product", id="f" * 32)}]


def test_categories_come_from_the_file_else_the_catalogue_product_else_nothing(stl_folder):
    handbags = Category.objects.get(slug="handbags")
    catalogue_key = synthetic_external_id(seed=0, product_id=3)
    write_image(stl_folder / f"{catalogue_key}.png", (64, 64), (90, 90, 90))
    Product.objects.create(external_id=catalogue_key, category=handbags, gender="women", price=Decimal("10.00"),
                           merchant="m", image=image_store(data=image_png_bytes(PILImage.new("RGB", (8, 8))),
                                                           kind=ImageKind.PRODUCT))
    categories = {SHOES: "Apparel & Accessories > Jewelry > Earrings",  # Google's own notation maps too
                  PANTS: "Home & Garden|Lamps"}  # not in the taxonomy: no category, and no error
    data = "\n".join([line(SCENE_A, SHOES, [0.1, 0.1, 0.2, 0.2]), line(SCENE_A, PANTS, [0.1, 0.1, 0.2, 0.2]),
                      line(SCENE_A, TOP, [0.1, 0.1, 0.2, 0.2]), line(SCENE_A, catalogue_key, [0.1, 0.1, 0.2, 0.2])])
    job = imported(data.encode(), categories=json.dumps(categories).encode())
    assert job.status == PairImportStatus.DONE
    assert dict(CreatorPair.objects.values_list("product_key", "category")) == {
        SHOES: "earrings", PANTS: "", TOP: "", catalogue_key: "handbags"}
    assert CreatorPair.objects.get(product_key=catalogue_key).product.external_id == catalogue_key


# -- bad files ------------------------------------------------------------------------------------

def test_each_kind_of_bad_line_is_refused_with_its_number_and_reason_and_nothing_is_stored(stl_folder):
    good = line(SCENE_A, SHOES, [0.1, 0.2, 0.3, 0.4])
    rows = [
        good,                                                            # 1
        '{"product": "x", "scene"',                                      # 2
        "[1, 2, 3]",                                                     # 3
        json.dumps({"product": SHOES, "scene": SCENE_B}),                # 4
        line("0" * 32, SHOES, [0.1, 0.2, 0.3, 0.4]),                     # 5
        line(SCENE_A, "1" * 32, [0.1, 0.2, 0.3, 0.4]),                   # 6
        line(SCENE_B, SHOES, [0.1, 0.2, 0.3]),                           # 7
        line(SCENE_B, PANTS, ["0.1", 0.2, 0.3, 0.4]),                    # 8
        '{"product": "%s", "scene": "%s", "bbox": [NaN, 0, 1, 1]}' % (TOP, SCENE_B),  # 9
        line(SCENE_A, PANTS, [0.1, 0.2, 1.2, 0.5]),                      # 10
        line(SCENE_A, TOP, [0.5, 0.2, 0.4, 0.6]),                        # 11
        line(SCENE_A, SUNGLASSES, [0.1, 0.6, 0.4, 0.6]),                 # 12
        good,                                                            # 13
        "",                                                              # 14: blank, skipped
        line("../../etc/passwd", SHOES, [0.1, 0.2, 0.3, 0.4]),           # 15
        line(SCENE_B, SUNGLASSES, [True, 0.2, 0.3, 0.4]),                # 16
    ]
    try:
        json.loads(rows[1])
    except ValueError as error:
        not_json = LINE_NOT_JSON.format(error=str(error).rstrip("."))
    job = imported("\n".join(rows).encode())
    assert job.status == PairImportStatus.FAILED
    assert job.errors == [
        {"line": 2, "message": not_json},
        {"line": 3, "message": LINE_NOT_OBJECT},
        {"line": 4, "message": LINE_KEY_MISSING.format(key="bbox")},
        {"line": 5, "message": LINE_IMAGE_UNKNOWN.format(role="scene", id="0" * 32)},
        {"line": 6, "message": LINE_IMAGE_UNKNOWN.format(role="product", id="1" * 32)},
        {"line": 7, "message": LINE_BBOX_NOT_FOUR_NUMBERS},
        {"line": 8, "message": LINE_BBOX_NOT_FOUR_NUMBERS},
        {"line": 9, "message": LINE_BBOX_NOT_FOUR_NUMBERS},
        {"line": 10, "message": LINE_BBOX_OUTSIDE.format(bbox="[0.1, 0.2, 1.2, 0.5]")},
        {"line": 11, "message": LINE_BBOX_EMPTY.format(bbox="[0.5, 0.2, 0.4, 0.6]")},
        {"line": 12, "message": LINE_BBOX_EMPTY.format(bbox="[0.1, 0.6, 0.4, 0.6]")},
        {"line": 13, "message": LINE_PAIR_REPEATED.format(scene=SCENE_A, product=SHOES, first=1)},
        {"line": 15, "message": LINE_ID_INVALID.format(key="scene")},
        {"line": 16, "message": LINE_BBOX_NOT_FOUR_NUMBERS},
    ]
    assert job.error == FILE_LINES_REFUSED.format(refused=14, total=15)
    assert (job.lines_done, job.pairs_created) == (15, 0)
    assert not CreatorPair.objects.exists() and not Image.objects.exists()


def test_an_image_that_is_no_image_refuses_its_line_and_stores_nothing(stl_folder):
    (stl_folder / f"{TOP}.png").write_bytes(b"not a picture at all")
    job = imported(EXAMPLE)
    assert job.status == PairImportStatus.FAILED
    assert [error["line"] for error in job.errors] == [3]
    assert job.errors[0]["message"].startswith(LINE_IMAGE_INVALID.format(role="product", id=TOP, reason=""))
    assert not CreatorPair.objects.exists() and not Image.objects.exists()


def test_a_file_that_is_not_text_or_a_category_file_that_is_no_object_is_refused_at_once(stl_folder):
    with pytest.raises(PairImportError) as refused:
        pair_import_create(name="n", data=b"\xff\xfe\x00", image_source=FOLDER, categories=None, created_by=None)
    assert (str(refused.value), refused.value.field) == (FILE_NOT_UTF8, "file")
    with pytest.raises(PairImportError) as refused:
        pair_import_create(name="n", data=EXAMPLE, image_source=FOLDER, categories=b'["shoes"]', created_by=None)
    assert (str(refused.value), refused.value.field) == (CATEGORIES_INVALID, "categories")
    assert not PairImport.objects.exists()


@pytest.mark.parametrize("source", ["../", "..", "../elsewhere", "/etc", f"{FOLDER}/../../elsewhere", "linked-out", ""])
def test_an_image_folder_outside_the_pair_image_root_is_refused(stl_folder, storage, source):
    (storage / "elsewhere").mkdir()
    write_image(storage / "elsewhere" / f"{SCENE_A}.jpg", (10, 10), (0, 0, 0))
    (storage / "pair_images" / "linked-out").symlink_to(storage / "elsewhere")
    with pytest.raises(PairImportError) as refused:
        pair_import_create(name="n", data=EXAMPLE, image_source=source, categories=None, created_by=None)
    assert (str(refused.value), refused.value.field) == (IMAGE_SOURCE_OUTSIDE.format(source=source), "image_source")
    assert not PairImport.objects.exists()


def test_a_folder_that_is_not_there_is_refused(storage):
    with pytest.raises(PairImportError) as refused:
        pair_import_create(name="n", data=EXAMPLE, image_source="nowhere", categories=None, created_by=None)
    assert str(refused.value) == IMAGE_SOURCE_MISSING.format(source="nowhere")


# -- twice, progress, the task ----------------------------------------------------------------------

def test_the_same_file_imported_twice_gives_the_same_pairs_and_no_error(stl_folder):
    first = imported(EXAMPLE, categories=EXAMPLE_CATEGORIES)
    stored = list(CreatorPair.objects.order_by("pk").values_list("pk", "scene_key", "product_key", "box", "category"))
    images = Image.objects.count()
    again = imported(EXAMPLE, categories=EXAMPLE_CATEGORIES)
    assert (again.status, again.errors, again.pairs_created, again.lines_done) == (PairImportStatus.DONE, [], 0, 4)
    assert list(CreatorPair.objects.order_by("pk").values_list("pk", "scene_key", "product_key", "box",
                                                               "category")) == stored
    assert Image.objects.count() == images
    assert set(CreatorPair.objects.values_list("pair_import", flat=True)) == {first.pk}
    # A file with one new pair among known ones creates that one; the known ones count as existing.
    grown = EXAMPLE + f"{line(SCENE_B, SHOES, [0.1, 0.5, 0.3, 0.9])}\n".encode()
    assert imported(grown).pairs_created == 1 and CreatorPair.objects.count() == 5


def test_the_run_records_its_progress_as_it_checks_the_lines(stl_folder, monkeypatch):
    monkeypatch.setattr(stl_pairs, "CHECK_CHUNK_LINES", 2)
    seen = []
    record = stl_pairs._progress

    def progress(job_id, done):
        record(job_id, done)
        seen.append(PairImport.objects.get(pk=job_id).lines_done)

    monkeypatch.setattr(stl_pairs, "_progress", progress)
    job = pair_import_create(name="n", data=EXAMPLE + b"\n" + EXAMPLE.splitlines()[0].replace(b"0.434097", b"0.1")
                             .replace(SCENE_A.encode(), SCENE_B.encode()), image_source=FOLDER, categories=None,
                             created_by=None)
    assert (job.status, job.lines_total, job.lines_done) == (PairImportStatus.PENDING, 5, 0)
    assert pair_import_run(job_id=job.pk).status == PairImportStatus.DONE
    assert seen == [2, 4, 5]


def test_a_run_of_a_finished_job_changes_nothing(stl_folder):
    job = imported(EXAMPLE)
    CreatorPair.objects.all().delete()
    assert pair_import_run(job_id=job.pk).status == PairImportStatus.DONE
    assert not CreatorPair.objects.exists()


def test_the_celery_task_runs_the_import_of_the_id_on_the_default_queue(stl_folder):
    job = pair_import_create(name="n", data=EXAMPLE, image_source=FOLDER, categories=None, created_by=None)
    from config.celery import app

    assert app.amqp.router.route({}, tasks.pair_import_run.name)["queue"].name == "default"
    assert tasks.pair_import_run(job.pk) == 4  # called in process: no worker needed
    assert PairImport.objects.get(pk=job.pk).status == PairImportStatus.DONE


def test_a_job_whose_task_used_up_its_retries_is_marked_failed_with_the_error(stl_folder):
    job = pair_import_create(name="n", data=EXAMPLE, image_source=FOLDER, categories=None, created_by=None)
    tasks.PairImportTask().on_failure(ConnectionError("database gone"), "task-id", (job.pk,), {}, None)
    job.refresh_from_db()
    assert (job.status, job.error) == (PairImportStatus.FAILED, "ConnectionError: database gone")


# -- the synthetic world ----------------------------------------------------------------------------

RATES = {NOISE_LOOSE_BOX: 0.2, NOISE_SHIFTED_BOX: 0.1, NOISE_WRONG_CATEGORY: 0.2, NOISE_SIMILAR_PRODUCT: 0.1,
         NOISE_NOT_MATCH_PRODUCT: 0.1, NOISE_SPAM: 0.1}


def test_synthetic_pairs_are_imported_with_their_truth_world_images_and_catalogue_products(storage, expert):
    world_import(seed=0, n_products=60, n_scenes=0, scene_split="all")
    job = synthetic_pairs_import(name="synthetic", seed=0, n_pairs=20, rates=RATES, created_by=expert, n_products=60)
    assert (job.status, job.pairs_created, job.image_source, job.created_by) == (PairImportStatus.DONE, 20, "world",
                                                                                 expert)
    expected = creator_pairs_generate(build_world(seed=0, n_products=60, n_scenes=20), n_pairs=20, rates=RATES, seed=0)
    pairs = {(p.scene_key, p.product_key): p for p in CreatorPair.objects.select_related("scene", "product", "product_image")}
    assert set(pairs) == {(record.scene_key, record.product_key) for record in expected.pairs}
    noise = {kind: 0 for kind in NOISE_KINDS}
    linked = 0
    for record in expected.pairs:
        pair = pairs[(record.scene_key, record.product_key)]
        assert pair.truth == record.truth
        for kind in record.truth["noise"]:
            noise[kind] += 1
        assert (pair.scene.width, pair.scene.height, pair.scene.kind) == (256, 256, ImageKind.SCENE)
        assert pair.box == [round(v * 256, 2) for v in record.bbox]
        # Products of the imported catalogue are linked, and their stored image is the pair's; a similar
        # product the small catalogue lacks comes from past its end, rendered, with no catalogue row.
        if world_key_parse(record.product_key).object_id < 60:
            assert pair.product.external_id == record.product_key and pair.product_image_id == pair.product.image_id
            linked += 1
        else:
            assert pair.product is None and pair.product_image.kind == ImageKind.PRODUCT
        wrong = NOISE_WRONG_CATEGORY in record.truth["noise"]
        assert (pair.category != record.truth["true_category"]) == wrong
    assert noise == {kind: round(RATES[kind] * 20) for kind in NOISE_KINDS}
    assert linked >= 15


def test_the_same_seed_imports_the_same_synthetic_pairs_and_another_seed_others(storage):
    first = synthetic_pairs_import(name="a", seed=2, n_pairs=8, rates=RATES, created_by=None)
    again = synthetic_pairs_import(name="b", seed=2, n_pairs=8, rates=RATES, created_by=None)
    assert (first.pairs_created, again.pairs_created, again.status) == (8, 0, PairImportStatus.DONE)
    other = synthetic_pairs_import(name="c", seed=3, n_pairs=8, rates=RATES, created_by=None)
    assert other.pairs_created == 8 and CreatorPair.objects.count() == 16
    assert CreatorPair.objects.filter(product__isnull=True).count() == 16  # no catalogue imported here


def test_a_world_product_without_a_catalogue_row_is_rendered_and_keeps_its_world_category(storage):
    key = world_product_key(seed=0, product_id=7)
    scene = "synthetic-scene:0:60:0"
    job = imported(f"{line(scene, key, [0.1, 0.1, 0.6, 0.7])}\n".encode(), source="world")
    pair = CreatorPair.objects.select_related("product_image").get()
    assert job.status == PairImportStatus.DONE and pair.product is None
    assert (pair.product_image.width, pair.product_image.kind) == (128, ImageKind.PRODUCT)
    assert pair.category == build_world(seed=0, n_products=60, n_scenes=0).product(7).category


def test_ids_the_world_cannot_resolve_are_unknown_images(storage):
    rows = [line("synthetic:0:7", "synthetic:0:8", [0.1, 0.1, 0.5, 0.5]),  # a product id as the scene
            line("synthetic-scene:0:60:0", "synthetic-scene:0:60:1", [0.1, 0.1, 0.5, 0.5]),
            line("synthetic-scene:0:60:0", SHOES, [0.1, 0.1, 0.5, 0.5])]
    job = imported("\n".join(rows).encode(), source="world")
    assert job.errors == [
        {"line": 1, "message": LINE_IMAGE_UNKNOWN.format(role="scene", id="synthetic:0:7")},
        {"line": 2, "message": LINE_IMAGE_UNKNOWN.format(role="product", id="synthetic-scene:0:60:1")},
        {"line": 3, "message": LINE_IMAGE_UNKNOWN.format(role="product", id=SHOES)},
    ]


# -- the API and the page ---------------------------------------------------------------------------

def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def upload(name: str = "example pairs", source: str = FOLDER, categories: bytes | None = EXAMPLE_CATEGORIES) -> dict:
    body = {"name": name, "image_source": source, "file": SimpleUploadedFile("pairs.jsonl", EXAMPLE)}
    if categories is not None:
        body["categories"] = SimpleUploadedFile("cat.json", categories)
    return body


def test_a_staff_upload_is_a_201_with_the_job_whose_progress_the_api_shows(stl_folder, expert, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    enqueued = []
    monkeypatch.setattr(tasks.pair_import_run, "delay", enqueued.append)
    client = api_as(expert)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/api/v1/pair-imports", upload(), format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert len(callbacks) == 1 and enqueued == [body["id"]]
    assert (body["status"], body["lines_total"], body["lines_done"], body["progress"], body["created_by"]) == (
        "pending", 4, 0, 0.0, expert.username)
    pair_import_run(job_id=body["id"])
    detail = client.get(f"/api/v1/pair-imports/{body['id']}").json()
    assert (detail["status"], detail["lines_done"], detail["progress"], detail["pairs_created"],
            detail["pairs_existing"], detail["errors"]) == ("done", 4, 1.0, 4, 0, [])
    listed = client.get("/api/v1/pair-imports").json()
    assert [job["id"] for job in listed["results"]] == [body["id"]]


def test_refused_lines_are_read_through_the_api_by_line_number(stl_folder, make_user):
    engineer = make_user(Role.ENGINEER)
    job = imported(EXAMPLE + b"[]\n")
    detail = api_as(engineer).get(f"/api/v1/pair-imports/{job.pk}").json()
    assert (detail["status"], detail["errors"], detail["pairs_existing"]) == (
        "failed", [{"line": 5, "message": LINE_NOT_OBJECT}], None)


def test_a_labeler_gets_403_from_every_pair_import_endpoint(stl_folder, labeler):
    job = imported(EXAMPLE)
    client = api_as(labeler)
    assert client.post("/api/v1/pair-imports", upload(), format="multipart").status_code == 403
    assert client.get("/api/v1/pair-imports").status_code == 403
    assert client.get(f"/api/v1/pair-imports/{job.pk}").status_code == 403
    assert PairImport.objects.count() == 1


def test_an_upload_naming_a_folder_outside_is_a_400_on_image_source(stl_folder, expert):
    response = api_as(expert).post("/api/v1/pair-imports", upload(source="../"), format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"image_source": [IMAGE_SOURCE_OUTSIDE.format(source="../")]}
    assert not PairImport.objects.exists()


def test_an_unknown_import_is_a_404_in_the_error_format(storage, expert):
    response = api_as(expert).get("/api/v1/pair-imports/999999")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_staff_page_lists_imports_with_progress_and_errors_and_takes_an_upload(
        stl_folder, expert, client, monkeypatch, django_capture_on_commit_callbacks):
    enqueued = []
    monkeypatch.setattr(tasks.pair_import_run, "delay", enqueued.append)
    failed = imported(EXAMPLE + b"[]\n")
    client.force_login(expert)
    page = client.get("/overview/pair-imports/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-testid="pair-import-{failed.pk}"' in text and escape(LINE_NOT_OBJECT) in text
    assert FOLDER in text  # offered as an image source
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/overview/pair-imports/", upload(name="from the page", categories=None))
    assert response.status_code == 302 and response["Location"] == "/overview/pair-imports/"
    job = PairImport.objects.get(name="from the page")
    assert enqueued == [job.pk] and job.lines_total == 4
    running = client.get("/overview/pair-imports/").content.decode()
    assert f'data-status-url="/api/v1/pair-imports/{job.pk}"' in running and "import_progress.js" in running


def test_the_page_shows_a_refused_folder_on_its_field(stl_folder, expert, client):
    client.force_login(expert)
    response = client.post("/overview/pair-imports/", upload(source="../", categories=None))
    assert response.status_code == 200
    assert escape(IMAGE_SOURCE_OUTSIDE.format(source="../")) in response.content.decode()
    assert not PairImport.objects.exists()


def test_a_labeler_may_not_open_the_staff_page(labeler, client):
    client.force_login(labeler)
    assert client.get("/overview/pair-imports/").status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_follows_a_running_import_and_shows_it_done(stl_folder, make_user, live_server, monkeypatch):
    import re

    from django.urls import get_resolver
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setattr(tasks.pair_import_run, "delay", lambda job_id: None)  # no worker: the test runs the job
    expert = make_user(Role.EXPERT, username="pair-expert")
    job = pair_import_create(name="followed", data=EXAMPLE, image_source=FOLDER, categories=None, created_by=expert)
    get_resolver().url_patterns  # import the views now, not on the live server's first request
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's event loop; the ORM calls are sync
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        page.set_default_timeout(10_000)
        console = []
        page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(expert.username)
        page.get_by_label("Password").fill("pw-123456")
        page.get_by_role("button", name="Sign in").click()
        page.locator(".topbar .who").filter(has_text=expert.username).wait_for()
        page.goto(f"{live_server.url}/overview/pair-imports/")
        row = page.locator(f'[data-testid="pair-import-{job.pk}"]')
        expect(row).to_have_attribute("data-status", "pending")
        PairImport.objects.filter(pk=job.pk).update(status=PairImportStatus.RUNNING, lines_done=2)
        expect(row.get_by_test_id("pair-import-done")).to_have_text("2")
        expect(row.get_by_test_id("pair-import-bar")).to_have_attribute("style", re.compile(r"width: 50%"))
        expect(row.get_by_test_id("pair-import-status")).to_have_text("Running")
        PairImport.objects.filter(pk=job.pk).update(status=PairImportStatus.PENDING, lines_done=0)
        pair_import_run(job_id=job.pk)
        # Done: the page reloads, and the row comes from the server, no longer followed.
        page.locator(f'[data-testid="pair-import-{job.pk}"][data-status="done"]:not([data-status-url])').wait_for()
        expect(row.get_by_test_id("pair-import-created")).to_have_text("4")
        expect(row.get_by_test_id("pair-import-bar")).to_have_attribute("style", "width:100.00%")
        browser.close()
    assert console == []
