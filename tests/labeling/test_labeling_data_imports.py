"""Product-catalogue (CSV, JSON lines) and COCO detection imports: every bad row or entry refused
with its line and reason, nothing stored from a bad file, idempotent re-runs, COCO boxes as box
tasks or golden items with unmapped category names listed; the job's progress, the Celery task,
the API and the staff page. No worker: the run is called directly, the enqueue on commit captured."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

from labeling import tasks
from labeling.golden.services import golden_set_create
from labeling.imports import catalogue, coco
from labeling.imports.data_jobs import (DATA_FILE_MAX_BYTES, GOLDEN_SET_NOT_BOXES, QUEUE_NOT_BOXES, TARGET_INVALID,
                                        DataImportError, data_import_create, data_import_run)
from labeling.models import DataImport, GoldenItem, Image, JobStatus, Product, Role, Task
from labeling.services.queues import queue_create
from labeling.services.world_import import synthetic_external_id

FOLDER = "shop"
HEADER = "id,image,category,gender,price,merchant,merchant_provided_category"


def write_image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    PILImage.new("RGB", size, colour).save(path, format="JPEG" if path.suffix == ".jpg" else "PNG")


@pytest.fixture
def storage(settings, tmp_path, db):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.PAIR_IMAGE_ROOT = tmp_path / "images"
    folder = settings.PAIR_IMAGE_ROOT / FOLDER
    folder.mkdir(parents=True)
    for number in range(4):
        write_image(folder / f"p{number}.png", (64, 64), (30 + 50 * number, 90, 200))
    write_image(folder / "scene-a.jpg", (200, 100), (200, 40, 40))
    write_image(folder / "scene-b.png", (120, 160), (40, 200, 40))
    (folder / "broken.png").write_bytes(b"not an image at all")
    return folder


@pytest.fixture
def staff(make_user):
    return make_user(Role.ENGINEER)


def imported(kind: str, data: bytes, *, user=None, **options) -> DataImport:
    options.setdefault("image_source", FOLDER)
    job = data_import_create(kind=kind, name="import", data=data, file_name=options.pop("file_name", ""),
                             options=options, created_by=user, enqueue=False)
    return data_import_run(job_id=job.pk)


def csv_file(*rows: str) -> bytes:
    return ("\n".join((HEADER, *rows)) + "\n").encode()


GOOD_CSV = csv_file("sku-1,p0.png,tops,women,19.99,Acme,true",
                    "sku-2,p1,Shoes,men,120,Boots & Co,no",
                    "sku-3,p2.png,Apparel & Accessories|Shoes,unisex,0.5,Acme,")


# -- catalogue -----------------------------------------------------------------------------------

def test_a_csv_catalogue_stores_every_product_with_its_category_gender_price_and_flag(storage, staff):
    job = imported("catalogue", GOOD_CSV, user=staff)

    assert job.status == JobStatus.DONE, job.error
    assert job.result == {"products_created": 3, "products_updated": 0, "products_unchanged": 0, "images": 3}
    assert (job.lines_done, job.lines_total, job.options["file_format"]) == (3, 3, "csv")
    products = {p.external_id: p for p in Product.objects.select_related("category", "image")}
    assert products["sku-1"].category.slug == "tops" and products["sku-1"].gender == "women"
    assert products["sku-1"].price == Decimal("19.99") and products["sku-1"].merchant_provided_category is True
    assert products["sku-2"].category.slug == "shoes" and products["sku-2"].merchant_provided_category is False
    assert products["sku-3"].category.slug == "shoes" and products["sku-3"].price == Decimal("0.50")
    assert (products["sku-1"].image.width, products["sku-1"].image.kind) == (64, "product")


def test_a_json_lines_catalogue_takes_booleans_numbers_and_attributes(storage):
    rows = [{"id": "j-1", "image": "p3", "category": "dresses", "gender": "women", "price": 45,
             "merchant": "Shop", "merchant_provided_category": True, "attributes": {"colour": "red"}}]
    job = imported("catalogue", "\n".join(json.dumps(row) for row in rows).encode(), file_name="shop.jsonl")

    assert job.status == JobStatus.DONE, job.error
    product = Product.objects.get(external_id="j-1")
    assert product.attributes == {"colour": "red"} and product.price == Decimal("45.00")
    assert job.options["file_format"] == "jsonl"


@pytest.mark.parametrize("row, message", [
    (",p0,tops,women,1,Acme,", catalogue.ROW_VALUE_MISSING.format(column="id")),
    ("sku-9,,tops,women,1,Acme,", catalogue.ROW_VALUE_MISSING.format(column="image")),
    ("../up,p0,tops,women,1,Acme,", catalogue.ROW_ID_INVALID),
    ("sku-1,p0,tops,women,1,Acme,", catalogue.ROW_ID_REPEATED.format(id="sku-1", first=2)),
    ("sku-9,p0,hats,women,1,Acme,", catalogue.ROW_CATEGORY_UNKNOWN.format(category="hats")),
    ("sku-9,p0,tops,girls,1,Acme,", catalogue.ROW_GENDER_UNKNOWN.format(gender="girls")),
    ("sku-9,p0,tops,women,-1,Acme,", catalogue.ROW_PRICE_INVALID.format(price="-1")),
    ("sku-9,p0,tops,women,1.999,Acme,", catalogue.ROW_PRICE_INVALID.format(price="1.999")),
    ("sku-9,p0,tops,women,free,Acme,", catalogue.ROW_PRICE_INVALID.format(price="free")),
    ("sku-9,p0,tops,women,1," + "M" * 121 + ",", catalogue.ROW_MERCHANT_INVALID),
    ("sku-9,p0,tops,women,1,Acme,maybe", catalogue.ROW_FLAG_INVALID.format(value="maybe")),
    ("sku-9,p9,tops,women,1,Acme,", catalogue.ROW_IMAGE_UNKNOWN.format(id="p9")),
    ("sku-9,../p0,tops,women,1,Acme,", catalogue.ROW_IMAGE_INVALID_ID),
    ("sku-9,p0,tops,women,1,Acme,true,extra", catalogue.ROW_COLUMNS_EXTRA),
])
def test_each_kind_of_bad_catalogue_row_is_refused_with_its_line_and_nothing_is_stored(storage, row, message):
    data = csv_file("sku-1,p0,tops,women,1,Acme,", "", row)  # line 1 the header, 3 blank: the bad row is line 4

    job = imported("catalogue", data)

    assert job.status == JobStatus.FAILED
    assert job.errors == [{"line": 4, "message": message}]
    assert job.error == "1 of 2 rows are refused; nothing was imported."
    assert not Product.objects.exists() and not Image.objects.exists()


def test_an_image_that_does_not_decode_refuses_its_row(storage):
    job = imported("catalogue", csv_file("sku-1,broken,tops,women,1,Acme,"))

    assert job.status == JobStatus.FAILED and job.errors[0]["line"] == 2
    assert job.errors[0]["message"].startswith(catalogue.ROW_IMAGE_UNUSABLE.format(id="broken", reason=""))
    assert not Product.objects.exists()


def test_bad_json_lines_name_their_line(storage):
    data = b'{"id": "a"\n[1, 2]\n'
    job = imported("catalogue", data, format="jsonl")

    assert [error["line"] for error in job.errors] == [1, 2]
    assert job.errors[1]["message"] == catalogue.ROW_NOT_OBJECT
    assert job.errors[0]["message"].startswith("Not JSON:")


def test_a_csv_without_the_needed_columns_or_a_file_that_is_no_text_is_refused_at_once(storage):
    with pytest.raises(DataImportError) as refusal:
        data_import_create(kind="catalogue", name="x", data=b"id,image,category\nsku,p0,tops\n",
                           options={"image_source": FOLDER}, created_by=None, enqueue=False)
    assert refusal.value.field == "file"
    assert str(refusal.value) == catalogue.CSV_HEADER_MISSING.format(s="s", columns="gender, price, merchant")
    with pytest.raises(DataImportError, match="not UTF-8"):
        data_import_create(kind="catalogue", name="x", data=b"\xff\xfe\x00", options={"image_source": FOLDER},
                           created_by=None, enqueue=False)
    with pytest.raises(DataImportError) as too_large:
        data_import_create(kind="catalogue", name="x", data=b"a" * (DATA_FILE_MAX_BYTES + 1),
                           options={"image_source": FOLDER}, created_by=None, enqueue=False)
    assert too_large.value.field == "file"
    assert not DataImport.objects.exists()


def test_the_same_catalogue_imported_again_changes_nothing_and_a_changed_row_updates_its_product(storage):
    first = imported("catalogue", GOOD_CSV)
    again = imported("catalogue", GOOD_CSV)
    changed = imported("catalogue", GOOD_CSV.replace(b"19.99", b"17.50"))

    assert first.result["products_created"] == 3
    assert again.status == JobStatus.DONE
    assert again.result == {"products_created": 0, "products_updated": 0, "products_unchanged": 3, "images": 3}
    assert changed.result["products_updated"] == 1 and changed.result["products_unchanged"] == 2
    assert Product.objects.count() == 3 and Product.objects.get(external_id="sku-1").price == Decimal("17.50")


def test_the_synthetic_world_is_an_image_source_for_catalogue_rows(storage):
    from models_runtime.world.creator_pairs import world_product_key

    key = world_product_key(seed=0, product_id=3)
    job = imported("catalogue", csv_file(f"{synthetic_external_id(seed=0, product_id=3)},{key},tops,women,1,A,true"),
                   image_source="world")

    assert job.status == JobStatus.DONE, job.errors or job.error
    assert Product.objects.get().image.width == 128


# -- COCO ----------------------------------------------------------------------------------------

def coco_document(**changes) -> dict:
    document = {
        "images": [{"id": 1, "file_name": "scene-a.jpg", "width": 200, "height": 100},
                   {"id": 2, "file_name": "scene-b.png", "width": 120, "height": 160}],
        "categories": [{"id": 10, "name": "tops"}, {"id": 11, "name": "Shoes"}],
        "annotations": [{"id": 100, "image_id": 1, "category_id": 10, "bbox": [10, 20, 50, 40]},
                        {"id": 101, "image_id": 1, "category_id": 11, "bbox": [100, 10, 30.5, 60], "score": 0.8},
                        {"id": 102, "image_id": 2, "category_id": 11, "bbox": [0, 0, 120, 160], "iscrowd": 1}],
    }
    document.update(changes)
    return document


def pretty(document: dict) -> bytes:
    """One entry per line: images[i] on line 3 + i, categories[j] after them, annotations last."""
    lines = ["{"]
    for number, key in enumerate(("images", "categories", "annotations")):
        lines.append(f'"{key}": [')
        entries = document[key]
        lines.extend(json.dumps(entry) + ("," if index < len(entries) - 1 else "") for index, entry in enumerate(entries))
        lines.append("]," if number < 2 else "]")
    lines.append("}")
    return "\n".join(lines).encode()


def test_coco_entries_know_the_line_each_entry_starts_on():
    entries = coco.coco_entries(pretty(coco_document()).decode())

    assert [entry.line for entry in entries["images"]] == [3, 4]
    assert [entry.line for entry in entries["categories"]] == [7, 8]
    assert [(entry.where, entry.line) for entry in entries["annotations"]][0] == ("annotations[0]", 11)
    assert coco.coco_entries(json.dumps(coco_document()))["annotations"][2].value["id"] == 102
    with pytest.raises(ValueError, match="not a JSON document"):
        coco.coco_entries('{"images": [1, 2,]}')
    with pytest.raises(ValueError, match="not a JSON document"):
        coco.coco_entries('{"images": []} trailing')
    with pytest.raises(ValueError) as not_object:
        coco.coco_entries("[1, 2]")
    assert str(not_object.value) == coco.FILE_NOT_OBJECT


def test_coco_images_become_box_tasks_with_their_boxes_as_proposals_and_a_rerun_adds_none(storage, staff):
    queue = queue_create(name="imported boxes", task_kind="bounding_boxes", replication=1)
    job = imported("coco_detection", pretty(coco_document()), user=staff, target="tasks", queue=queue.pk)

    assert job.status == JobStatus.DONE, job.errors or job.error
    assert job.result == {"images": 2, "boxes": 2, "crowd_left_out": 1, "unmapped_categories": {},
                          "queue": "imported boxes", "tasks_created": 2, "tasks_existing": 0}
    first = Task.objects.get(queue=queue, payload__image__width=200)
    assert first.payload["proposals"] == [{"box": [10.0, 20.0, 60.0, 60.0], "category": "tops", "score": 1.0},
                                          {"box": [100.0, 10.0, 130.5, 70.0], "category": "shoes", "score": 0.8}]
    assert first.source_key == f"scene:{first.payload['scene_id']}"
    assert Image.objects.get(pk=first.payload["scene_id"]).kind == "scene"

    again = imported("coco_detection", pretty(coco_document()), target="tasks", queue=queue.pk)
    assert again.result["tasks_created"] == 0 and again.result["tasks_existing"] == 2
    assert queue.tasks.count() == 2


def test_coco_images_become_golden_items_with_their_boxes_as_the_answer(storage, staff):
    golden_set = golden_set_create(name="imported golden boxes", task_kind="bounding_boxes")
    job = imported("coco_detection", pretty(coco_document()), user=staff, target="golden", golden_set=golden_set.pk)

    assert job.status == JobStatus.DONE, job.errors or job.error
    assert (job.result["items_created"], job.result["items_unchanged"]) == (2, 0)
    item = GoldenItem.objects.get(golden_set=golden_set, key="coco:scene-a")
    assert item.answer == {"boxes": [{"box": [10.0, 20.0, 60.0, 60.0], "category": "tops"},
                                     {"box": [100.0, 10.0, 130.5, 70.0], "category": "shoes"}]}
    assert item.source == "import" and item.expert == staff
    assert GoldenItem.objects.get(key="coco:scene-b").answer == {"boxes": []}  # its one box is a crowd

    again = imported("coco_detection", pretty(coco_document()), target="golden", golden_set=golden_set.pk)
    assert (again.result["items_created"], again.result["items_revised"], again.result["items_unchanged"]) == (0, 0, 2)


def test_unmapped_category_names_are_listed_and_refuse_the_import_unless_their_boxes_are_left_out(storage):
    queue = queue_create(name="boxes", task_kind="bounding_boxes", replication=1)
    document = coco_document(categories=[{"id": 10, "name": "tops"}, {"id": 11, "name": "hat"}])

    refused = imported("coco_detection", pretty(document), target="tasks", queue=queue.pk)
    assert refused.status == JobStatus.FAILED
    assert refused.errors == [{"line": 8, "item": "categories[1]",
                               "message": coco.CATEGORY_UNMAPPED_ENTRY.format(where="categories[1]", name="hat",
                                                                              boxes=1, es="")}]
    assert refused.error.startswith(coco.unmapped_message({"hat": 1}))
    assert not Task.objects.exists() and not Image.objects.exists()

    kept = imported("coco_detection", pretty(document), target="tasks", queue=queue.pk, skip_unmapped=True)
    assert kept.status == JobStatus.DONE
    assert kept.result["unmapped_categories"] == {"hat": 1} and kept.result["boxes"] == 1


BAD_ENTRIES = [
    ("images", 1, "not an entry", coco.ENTRY_NOT_OBJECT.format(where="images[1]")),
    ("images", 1, {"id": 2, "file_name": "scene-b.png", "width": 120}, coco.ENTRY_KEY_MISSING.format(
        where="images[1]", key="height")),
    ("images", 1, {"id": 1, "file_name": "scene-b.png", "width": 120, "height": 160}, coco.ENTRY_ID_REPEATED.format(
        where="images[1]", id="1", first="images[0]")),
    ("images", 1, {"id": 2, "file_name": "bad name!.png", "width": 120, "height": 160},
     coco.IMAGE_FILE_NAME_INVALID.format(where="images[1]", file_name="bad name!.png")),
    ("images", 1, {"id": 2, "file_name": "scene-b.png", "width": 0, "height": 160},
     coco.IMAGE_SIZE_INVALID.format(where="images[1]")),
    ("images", 1, {"id": 2, "file_name": "nowhere.png", "width": 120, "height": 160},
     coco.IMAGE_UNKNOWN.format(where="images[1]", id="nowhere")),
    ("images", 1, {"id": 2, "file_name": "scene-b.png", "width": 160, "height": 120},
     coco.IMAGE_SIZE_MISMATCH.format(where="images[1]", id="scene-b", width=160, height=120, actual_width=120,
                                     actual_height=160)),
    ("categories", 1, {"id": 11, "name": 5}, coco.CATEGORY_NAME_INVALID.format(where="categories[1]")),
    ("annotations", 0, {"id": 100, "image_id": 7, "category_id": 10, "bbox": [1, 1, 2, 2]},
     coco.ANNOTATION_IMAGE_UNKNOWN.format(where="annotations[0]", id="7")),
    ("annotations", 0, {"id": 100, "image_id": 1, "category_id": 99, "bbox": [1, 1, 2, 2]},
     coco.ANNOTATION_CATEGORY_UNKNOWN.format(where="annotations[0]", id="99")),
    ("annotations", 0, {"id": 100, "image_id": 1, "category_id": 10, "bbox": [1, 1, 0, 2]},
     coco.ANNOTATION_BBOX_INVALID.format(where="annotations[0]")),
    ("annotations", 0, {"id": 100, "image_id": 1, "category_id": 10, "bbox": [1, 1, "2", 2]},
     coco.ANNOTATION_BBOX_INVALID.format(where="annotations[0]")),
    ("annotations", 0, {"id": 100, "image_id": 1, "category_id": 10, "bbox": [150, 10, 60, 20]},
     coco.ANNOTATION_BBOX_OUTSIDE.format(where="annotations[0]", bbox="[150, 10, 60, 20]", width=200, height=100)),
    ("annotations", 0, {"id": 100, "image_id": 1, "category_id": 10, "bbox": [1, 1, 2, 2], "score": 3},
     coco.ANNOTATION_SCORE_INVALID.format(where="annotations[0]")),
]


@pytest.mark.parametrize("array, index, entry, message", BAD_ENTRIES)
def test_each_kind_of_bad_coco_entry_is_refused_with_its_line_and_entry_and_nothing_is_stored(
        storage, array, index, entry, message):
    golden_set = golden_set_create(name="golden boxes", task_kind="bounding_boxes")
    document = coco_document()
    document[array] = list(document[array])
    document[array][index] = entry
    first_line = {"images": 3, "categories": 7, "annotations": 11}[array]

    job = imported("coco_detection", pretty(document), target="golden", golden_set=golden_set.pk)

    assert job.status == JobStatus.FAILED
    assert {"line": first_line + index, "item": f"{array}[{index}]", "message": message} in job.errors
    assert "entries are refused; nothing was imported." in job.error
    assert not GoldenItem.objects.exists() and not Image.objects.exists()


def test_coco_files_and_targets_that_cannot_be_used_are_refused_at_once(storage):
    relevance = queue_create(name="relevance", task_kind="relevance", replication=1)
    relevance_set = golden_set_create(name="relevance golden", task_kind="relevance")
    cases = [
        ({"target": "tasks", "queue": relevance.pk}, pretty(coco_document()), "queue",
         QUEUE_NOT_BOXES.format(name="relevance", kind="Relevance at 5")),
        ({"target": "golden", "golden_set": relevance_set.pk}, pretty(coco_document()), "golden_set",
         GOLDEN_SET_NOT_BOXES.format(name="relevance golden", kind="Relevance at 5")),
        ({"target": "elsewhere"}, pretty(coco_document()), "target", TARGET_INVALID),
        ({"target": "tasks", "queue": "abc"}, pretty(coco_document()), "queue", "There is no queue abc."),
        ({"target": "golden", "golden_set": relevance_set.pk}, b"{}", "golden_set", None),
    ]
    for options, data, field, message in cases:
        with pytest.raises(DataImportError) as refusal:
            data_import_create(kind="coco_detection", name="x", data=data, options={"image_source": FOLDER, **options},
                               created_by=None, enqueue=False)
        assert refusal.value.field == field
        if message:
            assert str(refusal.value) == message
    boxes = queue_create(name="boxes", task_kind="bounding_boxes", replication=1)
    for data, message in [(b"{}", coco.FILE_ARRAY_MISSING.format(key="images")),
                          (b'{"images": [], "annotations": [], "categories": []}', coco.FILE_NO_IMAGES),
                          (b"{oops", None)]:
        with pytest.raises(DataImportError) as refusal:
            data_import_create(kind="coco_detection", name="x", data=data,
                               options={"image_source": FOLDER, "target": "tasks", "queue": boxes.pk},
                               created_by=None, enqueue=False)
        assert refusal.value.field == "file"
        assert str(refusal.value) == message if message else "not a JSON document" in str(refusal.value)
    assert not DataImport.objects.exists()


# -- the job -------------------------------------------------------------------------------------

def test_the_run_records_progress_and_a_finished_job_is_left_as_it_is(storage, monkeypatch):
    from labeling.imports import data_jobs

    seen = []
    real = data_jobs._progress
    monkeypatch.setattr(data_jobs, "CHECK_CHUNK_ROWS", 1)
    monkeypatch.setattr(data_jobs, "_progress", lambda job_id, done: (seen.append(done), real(job_id, done)))
    job = imported("catalogue", GOOD_CSV)

    assert seen == [1, 2, 3] and job.status == JobStatus.DONE
    Product.objects.all().delete()
    assert data_import_run(job_id=job.pk).result["products_created"] == 3 and not Product.objects.exists()


def test_the_upload_enqueues_the_celery_task_on_commit_which_runs_the_import(storage, django_capture_on_commit_callbacks,
                                                                         monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.data_import_run, "delay", lambda job_id: sent.append(job_id))
    with django_capture_on_commit_callbacks(execute=True):
        job = data_import_create(kind="catalogue", name="c", data=GOOD_CSV, options={"image_source": FOLDER},
                                 created_by=None)
    assert sent == [job.pk]
    assert tasks.data_import_run.apply(args=[job.pk]).get() == JobStatus.DONE
    assert Product.objects.count() == 3


def test_a_job_whose_task_used_up_its_retries_is_marked_failed_with_the_error(storage):
    job = data_import_create(kind="catalogue", name="c", data=GOOD_CSV, options={"image_source": FOLDER},
                             created_by=None, enqueue=False)
    tasks.DataImportTask().on_failure(ConnectionError("database gone"), "id", (job.pk,), {}, None)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "ConnectionError: database gone"


# -- the API and the page ------------------------------------------------------------------------

def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_staff_upload_is_a_201_with_the_job_and_the_api_shows_its_result(storage, staff, monkeypatch):
    monkeypatch.setattr(tasks.data_import_run, "delay", lambda job_id: None)
    client = api_client(staff)
    response = client.post("/api/v1/data-imports", {
        "kind": "catalogue", "name": "spring catalogue", "image_source": FOLDER,
        "file": SimpleUploadedFile("spring.csv", GOOD_CSV, content_type="text/csv")}, format="multipart")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["lines_total"], body["progress"]) == ("catalogue", "pending", 3, 0.0)
    data_import_run(job_id=body["id"])
    done = client.get(f"/api/v1/data-imports/{body['id']}").json()
    assert done["status"] == "done" and done["result"]["products_created"] == 3 and done["progress"] == 1.0
    listed = client.get("/api/v1/data-imports?kind=catalogue").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]


def test_bad_uploads_are_400s_naming_the_field_and_labelers_get_403(storage, staff, labeler):
    client = api_client(staff)
    upload = lambda **fields: client.post("/api/v1/data-imports", {  # noqa: E731
        "kind": "catalogue", "name": "c", "image_source": FOLDER,
        "file": SimpleUploadedFile("c.csv", GOOD_CSV), **fields}, format="multipart")

    outside = upload(image_source="../elsewhere")
    assert outside.status_code == 400 and "image_source" in outside.json()["error"]["fields"]
    assert upload(kind="music").status_code == 400
    coco_without_queue = upload(kind="coco_detection", target="tasks",
                                file=SimpleUploadedFile("c.json", pretty(coco_document())))
    assert coco_without_queue.status_code == 400 and "queue" in coco_without_queue.json()["error"]["fields"]
    assert client.get("/api/v1/data-imports/999999").status_code == 404
    assert api_client(labeler).get("/api/v1/data-imports").status_code == 403
    assert api_client(labeler).post("/api/v1/data-imports", {}, format="multipart").status_code == 403
    assert not DataImport.objects.exists()


def test_the_staff_page_lists_imports_and_takes_a_catalogue_upload(storage, staff, client, monkeypatch):
    monkeypatch.setattr(tasks.data_import_run, "delay", lambda job_id: None)
    failed = imported("catalogue", csv_file("sku-1,p0,hats,women,1,Acme,"))
    client.force_login(staff)

    page = client.get("/overview/data-imports/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "line 2: Unknown category" in text.replace("&#x27;", "'") and failed.error in text

    response = client.post("/overview/data-imports/", {
        "kind": "catalogue", "name": "from the page", "image_source": FOLDER,
        "file": SimpleUploadedFile("page.csv", GOOD_CSV)}, follow=True)
    assert response.status_code == 200
    job = DataImport.objects.get(name="from the page")
    assert job.status == JobStatus.PENDING and job.lines_total == 3
    assert "from the page" in response.content.decode()

    refused = client.post("/overview/data-imports/", {
        "kind": "coco_detection", "name": "no queue", "image_source": FOLDER, "target": "tasks",
        "file": SimpleUploadedFile("c.json", pretty(coco_document()))})
    assert refused.status_code == 200 and "Choose the box queue" in refused.content.decode()


def test_a_labeler_may_not_open_the_data_import_page(labeler, client):
    client.force_login(labeler)
    assert client.get("/overview/data-imports/").status_code == 403


# -- the example files ---------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "imports"


def test_the_example_files_import_from_the_world_as_the_readme_says(storage):
    products = imported("catalogue", (EXAMPLES / "catalogue-example.csv").read_bytes(), image_source="world",
                        file_name="catalogue-example.csv")
    queue = queue_create(name="example boxes", task_kind="bounding_boxes", replication=1)
    boxes = imported("coco_detection", (EXAMPLES / "coco-example.json").read_bytes(), image_source="world",
                     target="tasks", queue=queue.pk)

    assert products.status == JobStatus.DONE and products.result["products_created"] == 5, products.errors
    assert boxes.status == JobStatus.DONE, boxes.errors or boxes.error
    assert boxes.result["images"] == 3 and boxes.result["boxes"] == 10 and boxes.result["unmapped_categories"] == {}
    assert sum(len(task.payload["proposals"]) for task in queue.tasks.all()) == 10


def test_a_coco_file_name_in_a_folder_names_the_image_by_its_base_name(storage):
    queue = queue_create(name="foldered", task_kind="bounding_boxes", replication=1)
    document = coco_document()
    document["images"][0] = {**document["images"][0], "file_name": "train2017/scene-a.jpg"}

    job = imported("coco_detection", json.dumps(document).encode(), target="tasks", queue=queue.pk)

    assert job.status == JobStatus.DONE, job.errors
    assert queue.tasks.count() == 2
