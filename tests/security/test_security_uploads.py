"""Hostile uploads and bodies: pickled code in checkpoints, broken checkpoints, oversized uploads,
decompression bombs, deeply nested JSON. Each is a clear 4xx that stores nothing; good input
still goes through."""
from __future__ import annotations

import io
import json
import pathlib
import random
import struct
import zipfile
import zlib

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image as PILImage

from evaluation import services as evaluation_services
from evaluation.models import ModelVersion
from evaluation.serializers import MODEL_CONFIG_NOT_OBJECT
from labeling.admin import IMAGE_ALREADY_STORED
from labeling.answer_schemas import CATEGORY_UNKNOWN
from labeling.models import Image, ImageKind, Label, Role
from labeling.parsers import (
    JSON_TOO_DEEP,
    JSON_TOO_DEEP_CODE,
    JsonTooDeep,
    data_nesting_depth,
    json_loads_bounded,
    json_nesting_depth,
)
from labeling.services.images import (
    IMAGE_NOT_PNG,
    IMAGE_TOO_MANY_PIXELS,
    IMAGE_UPLOAD_TOO_LARGE,
    NOT_AN_IMAGE_ERROR,
    image_encode,
    image_png_bytes,
    image_upload_png,
)
from labeling.services.queues import queue_create
from labeling.services.tasks import TaskSpec, tasks_create
from models_runtime import checkpoint_validation as validation
from models_runtime import checkpoints
from models_runtime.checkpoints import CheckpointError, load_checkpoint
from models_runtime.detector import UNKNOWN_ARCH_ERROR, Detector
from models_runtime.embedder import Embedder
from tests.evaluation.conftest import TINY_DETECTOR_CONFIG, TINY_EMBEDDER_CONFIG

UPLOAD_URL = "/api/v1/model-versions"
SHIPPED = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "models"


# -- checkpoints to upload ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_models():
    torch.manual_seed(0)
    detector = Detector.from_config(TINY_DETECTOR_CONFIG, device="cpu")
    embedder = Embedder.from_config(TINY_EMBEDDER_CONFIG, device="cpu")
    return {
        "detector": (detector.config, detector.model.state_dict()),
        "embedder": (embedder.config, embedder.model.state_dict()),
    }


def checkpoint_bytes(blob) -> bytes:
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    return buffer.getvalue()


def checkpoint_of(kind, config, state_dict, meta=None) -> bytes:
    return checkpoint_bytes({"format": checkpoints.FORMAT_VERSION, "kind": kind, "config": config,
                             "state_dict": state_dict, "meta": meta or {}})


class TouchOnUnpickle:
    """Unpickling this calls ``Path.touch(marker)``: a stand-in for any command an attacker runs."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "payload-ran"


@pytest.fixture
def pickle_bomb(tmp_path, marker, tiny_models):
    config, state_dict = tiny_models["detector"]
    path = tmp_path / "evil.pt"
    path.write_bytes(checkpoint_of("detector", config, state_dict, meta={"note": TouchOnUnpickle(marker)}))
    return path


def upload(client, data: bytes, *, kind="detector", name="probe", **fields):
    return client.post(UPLOAD_URL, {"kind": kind, "name": name, "version_tag": "V1",
                                    "checkpoint": SimpleUploadedFile("model.pt", data), **fields},
                       format="multipart")


@pytest.fixture
def engineer_client(users, client_as, media):
    return client_as(users[Role.ENGINEER])


def stored_checkpoints(media) -> list[pathlib.Path]:
    return sorted((media / "checkpoints").glob("*")) if (media / "checkpoints").exists() else []


def assert_nothing_stored(media):
    assert ModelVersion.objects.count() == 0
    assert stored_checkpoints(media) == []


def checkpoint_message(response) -> str:
    return response.json()["error"]["fields"]["checkpoint"][0]


def invalid(kind: str, reason: str) -> str:
    return evaluation_services.MODEL_CHECKPOINT_INVALID.format(kind=kind, reason=reason)


# -- pickled code -------------------------------------------------------------------------------

def test_loading_a_pickle_checkpoint_refuses_it_without_running_its_payload(pickle_bomb, marker):
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(pickle_bomb, kind="detector")
    assert str(refused.value) == checkpoints.CHECKPOINT_NEEDS_CODE
    assert not marker.exists()
    # The payload is live: full pickle semantics would have run it.
    torch.load(pickle_bomb, weights_only=False)
    assert marker.exists()


def test_uploading_a_pickle_checkpoint_is_a_400_that_runs_nothing_and_stores_nothing(
        engineer_client, pickle_bomb, marker, media):
    response = upload(engineer_client, pickle_bomb.read_bytes())
    assert response.status_code == 400
    assert checkpoint_message(response) == invalid("detector", checkpoints.CHECKPOINT_NEEDS_CODE)
    assert not marker.exists()
    assert_nothing_stored(media)


# -- broken checkpoints -------------------------------------------------------------------------

def _deflated(data: bytes) -> bytes:
    """The same archive with its entries deflate-compressed (how a zip bomb inflates)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry.filename, source.read(entry.filename))
    return out.getvalue()


def _with(state_dict, **changes):
    return {**state_dict, **changes}


BROKEN_CHECKPOINTS = {
    # name: (kind to upload as, builder(tiny_models) -> bytes, expected reason or a fragment of it)
    "garbage bytes": ("detector", lambda m: b"\x00not a checkpoint" * 50, checkpoints.CHECKPOINT_NOT_ZIP),
    "compressed archive": ("detector", lambda m: _deflated(checkpoint_of("detector", *m["detector"])),
                           checkpoints.CHECKPOINT_COMPRESSED),
    "not a dict": ("detector", lambda m: checkpoint_bytes([1, 2, 3]),
                   checkpoints.CHECKPOINT_NOT_A_DICT.format(type="list")),
    "no state dict": ("detector", lambda m: checkpoint_bytes({"format": 1, "kind": "detector", "config": {},
                                                              "meta": {}}),
                      checkpoints.CHECKPOINT_MISSING_KEYS.format(keys="state_dict")),
    "state dict is a list": ("detector", lambda m: checkpoint_bytes({"format": 1, "kind": "detector", "config": {},
                                                                     "state_dict": [1], "meta": {}}),
                             checkpoints.CHECKPOINT_FIELD_NOT_DICT.format(key="state_dict", type="list")),
    "values not tensors": ("detector", lambda m: checkpoint_of("detector", m["detector"][0],
                                                               _with(m["detector"][1], **{"extra.weight": [1.0]})),
                           checkpoints.STATE_DICT_VALUES_NOT_TENSORS.format(count=1, names="extra.weight")),
    "NaN weights": ("embedder", lambda m: checkpoint_of("embedder", m["embedder"][0], _with(
        m["embedder"][1], **{"category_head.weight": torch.full_like(m["embedder"][1]["category_head.weight"],
                                                                     float("nan"))})),
                    checkpoints.STATE_DICT_NOT_FINITE.format(count=1, names="category_head.weight")),
    "unknown kind in the file": ("detector", lambda m: checkpoint_of("classifier", *m["detector"]),
                                 checkpoints.CHECKPOINT_KIND_UNKNOWN.format(kind="'classifier'")),
    "a detector uploaded as an embedder": ("embedder", lambda m: checkpoint_of("detector", *m["detector"]),
                                           checkpoints.CHECKPOINT_KIND_MISMATCH.format(found="detector",
                                                                                      expected="embedder")),
    "empty state dict, nonsense architecture": ("detector", lambda m: checkpoint_of(
        "detector", {"arch": "nonsense", "num_classes": -3}, {}), checkpoints.STATE_DICT_EMPTY),
    "nonsense architecture": ("detector", lambda m: checkpoint_of(
        "detector", {**m["detector"][0], "arch": "nonsense"}, m["detector"][1]),
        validation.CONFIG_INVALID.format(kind="detector",
                                         reason="ValueError: " + UNKNOWN_ARCH_ERROR.format(arch="nonsense"))),
    "a string where a width belongs": ("detector", lambda m: checkpoint_of(
        "detector", {**m["detector"][0], "fpn_channels": "wide"}, m["detector"][1]),
        validation.CONFIG_INVALID.format(kind="detector", reason="ValueError: invalid literal for int() with base 10: "
                                                                "'wide'")),
    "weights of another architecture": ("detector", lambda m: checkpoint_of(
        "detector", {"arch": "resnet50_fpn"}, m["detector"][1]),
        "weight(s) that the config's resnet50_fpn architecture needs: backbone.body.conv1.weight"),
    "wrong shapes": ("embedder", lambda m: checkpoint_of(
        "embedder", {**m["embedder"][0], "embedding_dim": 128}, m["embedder"][1]),
        "do not fit the config's small architecture: embedding_head.0.weight is [64, 1024], needs [128, 1024]"),
    "an unexpected weight": ("embedder", lambda m: checkpoint_of(
        "embedder", m["embedder"][0], _with(m["embedder"][1], **{"backdoor.weight": torch.zeros(2)})),
        validation.STATE_DICT_UNEXPECTED.format(count=1, arch="small", names="backdoor.weight")),
    "integer weights": ("embedder", lambda m: checkpoint_of(
        "embedder", m["embedder"][0], _with(m["embedder"][1], **{
            "category_head.weight": m["embedder"][1]["category_head.weight"].long()})),
        validation.STATE_DICT_WRONG_DTYPES.format(
            count=1, names="category_head.weight is torch.int64, needs torch.float32")),
    "an input size that would exhaust a worker": ("detector", lambda m: checkpoint_of(
        "detector", {**m["detector"][0], "min_size": 100_000}, m["detector"][1]),
        validation.CONFIG_VALUE_OUT_OF_RANGE.format(key="min_size", rule=validation.DETECTOR_BOUNDS["min_size"].rule(),
                                                    value=100000)),
    "a forward pass that fails": ("embedder", lambda m: checkpoint_of(
        "embedder", {**m["embedder"][0], "mean": [0.5, 0.5]}, m["embedder"][1]),
        validation.FORWARD_FAILED.format(reason="RuntimeError: shape '[1, 3, 1, 1]' is invalid for input of size 2")),
    "a config that is not plain data": ("detector", lambda m: checkpoint_of(
        "detector", {**m["detector"][0], "dtype": torch.float32}, m["detector"][1]),
        checkpoints.CHECKPOINT_FIELD_NOT_PLAIN.format(key="config", problem="a dtype")),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CHECKPOINTS))
def test_a_broken_checkpoint_is_a_400_that_says_what_is_wrong_and_stores_nothing(case, engineer_client, media,
                                                                                  tiny_models):
    kind, build, reason = BROKEN_CHECKPOINTS[case]
    response = upload(engineer_client, build(tiny_models), kind=kind)
    assert response.status_code == 400, response.content
    message = checkpoint_message(response)
    assert message.startswith(invalid(kind, ""))
    assert reason in message
    assert_nothing_stored(media)


def test_an_unknown_kind_is_a_400_on_the_kind_field(engineer_client, media, tiny_models):
    response = upload(engineer_client, checkpoint_of("detector", *tiny_models["detector"]), kind="classifier")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"kind"}
    assert_nothing_stored(media)


@pytest.mark.parametrize("size", [2000, 1_200_000], ids=["checked by the serializer", "checked from Content-Length"])
def test_an_oversized_upload_is_a_413_that_stores_nothing(size, engineer_client, media, settings):
    settings.MODEL_UPLOAD_MAX_BYTES = 1000
    response = upload(engineer_client, b"x" * size)
    assert response.status_code == 413
    assert response.json() == {"error": {
        "code": "checkpoint_too_large",
        "message": evaluation_services.MODEL_CHECKPOINT_TOO_LARGE.format(limit=1000)}}
    assert_nothing_stored(media)


@pytest.mark.parametrize("config,message", [
    ("[1, 2]", MODEL_CONFIG_NOT_OBJECT),
    ('"text"', MODEL_CONFIG_NOT_OBJECT),
    ("[" * 50_000, JSON_TOO_DEEP.format(max_depth=64)),
    ('{"score_threshold": NaN}', "Value must be valid JSON."),
    ('{"score_threshold": 7}', evaluation_services.MODEL_SCORE_THRESHOLD_INVALID.format(key="score_threshold")),
    ('{"arch": "resnet50_fpn"}', evaluation_services.MODEL_CONFIG_CHANGES_ARCHITECTURE.format(keys="arch")),
], ids=["a list", "a string", "nested 50,000 deep", "NaN", "threshold out of range", "changes the architecture"])
def test_a_bad_config_field_is_a_400_on_config_that_stores_nothing(config, message, engineer_client, media,
                                                                    tiny_models):
    response = upload(engineer_client, checkpoint_of("detector", *tiny_models["detector"]), config=config)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["config"] == [message]
    assert_nothing_stored(media)


def test_a_deeply_nested_json_body_to_the_upload_endpoint_is_a_400(engineer_client, media):
    response = engineer_client.post(UPLOAD_URL, "[" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": JSON_TOO_DEEP_CODE, "message": JSON_TOO_DEEP.format(max_depth=64)}}


@pytest.mark.parametrize("kind", ["detector", "embedder"])
def test_a_valid_small_checkpoint_is_accepted_and_stored(kind, engineer_client, media, tiny_models):
    config, state_dict = tiny_models[kind]
    meta = {"score_threshold": 0.25} if kind == "detector" else {}
    response = upload(engineer_client, checkpoint_of(kind, config, state_dict, meta), kind=kind,
                      config='{"notes_key": 1}')
    assert response.status_code == 201, response.content
    version = ModelVersion.objects.get(pk=response.json()["id"])
    assert {k: v for k, v in version.config.items() if k not in ("categories", "category_map")} == \
        {**config, **meta, "notes_key": 1}
    assert stored_checkpoints(media) == [media / version.checkpoint.name]
    # What was stored is what the workers load.
    stored_config, stored_state, _ = load_checkpoint(media / version.checkpoint.name, kind=kind)
    assert stored_config == config and stored_state.keys() == state_dict.keys()


@pytest.mark.parametrize("kind", ["detector", "embedder"])
def test_the_shipped_default_checkpoints_load_weights_only_and_pass_validation(kind):
    path = SHIPPED / f"{kind}_default.pt"
    checked = validation.checkpoint_validate(path, kind=kind)
    assert checked.architecture == "small"
    assert checked.n_parameters > 1_000_000


def test_a_config_nested_past_the_limit_inside_a_checkpoint_is_refused(tmp_path, tiny_models):
    config, state_dict = tiny_models["detector"]
    nested: list = []
    for _ in range(100):
        nested = [nested]
    path = tmp_path / "deep.pt"
    path.write_bytes(checkpoint_of("detector", {**config, "deep": nested}, state_dict))
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == checkpoints.CHECKPOINT_FIELD_NOT_PLAIN.format(key="config",
                                                                               problem="data nested too deep")


# -- JSON nesting depth -------------------------------------------------------------------------

@pytest.mark.parametrize("document,depth", [
    ("1", 0),
    ("[]", 1),
    ('{"a": [1, {"b": []}]}', 4),
    ('["[[[[", "]]"]', 1),
    (r'["a \" [[[ still in the string"]', 1),
    (r'["ends in a backslash \\", [[]]]', 3),
    (r'["three backslashes \\\" [[", []]', 2),
    ('["unterminated [[[[[[', 1),
    ("[" * 50_000, 50_000),
])
def test_json_nesting_depth_counts_brackets_outside_strings(document, depth):
    assert json_nesting_depth(document) == depth


def test_json_nesting_depth_agrees_with_the_decoder_on_random_documents():
    rng = random.Random(6)
    characters = ['"', "\\", "[", "]", "{", "}", "a", "é", "\n"]

    def text():
        return "".join(rng.choice(characters) for _ in range(rng.randint(0, 5)))

    def value(depth):
        roll = rng.random()
        if depth > 7 or roll < 0.3:
            return rng.choice([1, 2.5, None, True, text()])
        if roll < 0.65:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {text(): value(depth + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(500):
        document = value(0)
        expected = data_nesting_depth(document, stop_after=1_000)
        assert json_nesting_depth(json.dumps(document)) == expected
        assert json_nesting_depth(json.dumps(document, ensure_ascii=False)) == expected


def test_json_loads_bounded_takes_the_limit_and_refuses_one_more():
    assert json_loads_bounded("[" * 64 + "]" * 64, max_depth=64) is not None
    with pytest.raises(JsonTooDeep):
        json_loads_bounded("[" * 65 + "]" * 65, max_depth=64)


@pytest.fixture
def assignment(users, pool):
    queue = queue_create(name="relevance", task_kind="relevance", replication=1)
    payload = {"query_object": {"id": 1, "box": [0, 0, 10, 10], "category": "shoes"},
               "candidates": [{"product_id": f"p{k}", "category": "shoes"} for k in range(5)]}
    tasks_create(queue=queue, specs=[TaskSpec(source_key="t-1", payload=payload)])
    return queue


GRADES = {"grades": ["similar"] * 5}


def test_a_submit_nested_50000_deep_is_a_400_and_a_normal_submit_then_works(assignment, users, client_as):
    client = client_as(users[Role.LABELER])
    lease = client.post(f"/api/v1/queues/{assignment.pk}/claim").json()["assignment"]
    url = f"/api/v1/assignments/{lease['id']}/submit"

    response = client.post(url, '{"answer": ' + "[" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": JSON_TOO_DEEP_CODE, "message": JSON_TOO_DEEP.format(max_depth=64)}}
    assert Label.objects.count() == 0

    response = client.post(url, {"answer": GRADES}, format="json")
    assert response.status_code == 201, response.content
    assert Label.objects.get().answer == GRADES


def test_a_deep_answer_in_a_form_field_is_a_400_on_answer(assignment, users, client_as):
    client = client_as(users[Role.LABELER])
    lease = client.post(f"/api/v1/queues/{assignment.pk}/claim").json()["assignment"]
    response = client.post(f"/api/v1/assignments/{lease['id']}/submit", {"answer": "[" * 50_000},
                           format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["answer"] == [JSON_TOO_DEEP.format(max_depth=64)]
    assert Label.objects.count() == 0


def test_the_depth_limit_follows_the_setting(assignment, users, client_as, settings):
    settings.API_JSON_MAX_DEPTH = 2
    client = client_as(users[Role.LABELER])
    lease = client.post(f"/api/v1/queues/{assignment.pk}/claim").json()["assignment"]
    response = client.post(f"/api/v1/assignments/{lease['id']}/submit", {"answer": {"grades": [["similar"]]}},
                           format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == JSON_TOO_DEEP.format(max_depth=2)


def test_a_box_category_that_is_a_list_is_an_answer_error_not_a_500(users, client_as):
    queue = queue_create(name="boxes", task_kind="bounding_boxes", replication=1)
    tasks_create(queue=queue, specs=[TaskSpec(source_key="b-1", payload={"image": {"width": 100, "height": 100}})])
    client = client_as(users[Role.LABELER])
    lease = client.post(f"/api/v1/queues/{queue.pk}/claim").json()["assignment"]
    response = client.post(f"/api/v1/assignments/{lease['id']}/submit",
                           {"answer": {"boxes": [{"box": [1, 1, 5, 5], "category": ["shoes"]}]}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == CATEGORY_UNKNOWN.format(where="Box 0", category=["shoes"])


# -- images -------------------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 1-bit pixels (a decompression bomb's
    header; its few bytes of data would inflate to the full size on decoding)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows)
            + _png_chunk(b"IEND", b""))


def png(size=(40, 30), colour=(200, 30, 60)) -> bytes:
    return image_png_bytes(PILImage.new("RGB", size, colour))


def jpeg(size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("data", [png_claiming(30_000, 30_000), png_claiming(7_000, 7_000)],
                         ids=["past twice the limit (Pillow's error)", "past the limit (Pillow's warning)"])
# labeling/services/images.py makes the warning an error for the process; pytest resets warning
# filters for each test, so the test sets the same filter.
@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_image_encode_refuses_a_decompression_bomb(data, settings):
    assert len(data) < 2_000
    with pytest.raises(ValueError) as refused:
        image_encode(data=data)
    assert str(refused.value) == IMAGE_TOO_MANY_PIXELS.format(limit=settings.IMAGE_MAX_PIXELS)


def test_image_encode_holds_images_to_a_lowered_pixel_limit(settings):
    settings.IMAGE_MAX_PIXELS = 1_000
    with pytest.raises(ValueError) as refused:
        image_encode(data=png((40, 30)))
    assert str(refused.value) == IMAGE_TOO_MANY_PIXELS.format(limit=1_000)
    assert image_encode(data=png((20, 20))).width == 20


def corrupted_png() -> bytes:
    data = bytearray(png())
    data[-20] ^= 0xFF  # a byte of the last IDAT chunk: its CRC no longer matches
    return bytes(data)


@pytest.mark.parametrize("data", [b"\x00garbage" * 20, png()[:60], corrupted_png()],
                         ids=["garbage", "truncated", "bad checksum"])
def test_image_encode_refuses_bytes_that_are_not_a_whole_image(data):
    with pytest.raises(ValueError) as refused:
        image_encode(data=data)
    assert str(refused.value).startswith(NOT_AN_IMAGE_ERROR.format(reason=""))


def test_image_encode_takes_only_png_and_uploads_are_reencoded_to_it():
    with pytest.raises(ValueError) as refused:
        image_encode(data=jpeg())
    assert str(refused.value) == IMAGE_NOT_PNG.format(format="JPEG")
    assert image_encode(data=image_upload_png(data=jpeg())).width == 40


@pytest.fixture
def superuser_client(users):
    admin_user = users[Role.ADMIN]
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(admin_user)
    return client


def admin_image_add(client, data: bytes, name="picture.png"):
    return client.post("/admin/labeling/image/add/", {"kind": ImageKind.PRODUCT,
                                                      "upload": SimpleUploadedFile(name, data)})


def stored_images(media) -> list[pathlib.Path]:
    return sorted(p for p in (media / "images").rglob("*") if p.is_file()) if (media / "images").exists() else []


@pytest.mark.parametrize("data,message", [
    (png_claiming(30_000, 30_000), IMAGE_TOO_MANY_PIXELS.format(limit=40_000_000)),
    (b"\x00garbage" * 20, NOT_AN_IMAGE_ERROR.format(reason="")),
], ids=["decompression bomb", "garbage"])
def test_the_admin_image_form_refuses_a_bad_file_with_a_form_error(data, message, superuser_client, media):
    response = admin_image_add(superuser_client, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["upload"]
    assert len(errors) == 1 and errors[0].startswith(message)
    assert Image.objects.count() == 0
    assert stored_images(media) == []


def test_the_admin_image_form_refuses_an_oversized_file(superuser_client, media, settings):
    settings.IMAGE_UPLOAD_MAX_BYTES = 100
    data = png()
    response = admin_image_add(superuser_client, data)
    assert response.context["adminform"].form.errors["upload"] == [
        IMAGE_UPLOAD_TOO_LARGE.format(size=len(data), limit=100)]
    assert Image.objects.count() == 0


def test_the_admin_image_form_stores_an_upload_as_png_named_by_its_hash(superuser_client, media):
    response = admin_image_add(superuser_client, jpeg(), name="photo.jpg")
    assert response.status_code == 302
    image = Image.objects.get()
    stored = (media / image.file.name).read_bytes()
    assert image_encode(data=stored).sha256 == image.sha256
    assert (image.width, image.height, image.kind) == (40, 30, ImageKind.PRODUCT)
    again = admin_image_add(superuser_client, jpeg(), name="again.jpg")
    assert again.context["adminform"].form.errors["upload"] == [IMAGE_ALREADY_STORED.format(id=image.pk)]
    assert Image.objects.count() == 1


def test_the_admin_cannot_add_a_model_version_around_the_validation(superuser_client, media):
    assert superuser_client.get("/admin/evaluation/modelversion/add/").status_code == 403
