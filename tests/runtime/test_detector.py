import json
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from models_runtime import taxonomy
from models_runtime.checkpoints import load_checkpoint, save_checkpoint
from models_runtime.detector import (
    NOT_RGB_ERROR,
    UNKNOWN_ARCH_ERROR,
    UNKNOWN_OPTION_ERROR,
    Detections,
    Detector,
    build_detector,
)
from models_runtime.metrics.detection import f1_optimal_threshold
from models_runtime.training.detector import (
    UNKNOWN_COCO_CATEGORY_ERROR,
    learning_rate_factor,
    load_coco_detection,
    main,
    multiscale_sizes,
    train_detector,
)

SCENE_SIZE = 128
# Each category is drawn in its own colour so a hundred steps are enough to learn them.
COLOUR_OF = {"tops": (220, 40, 40), "shoes": (40, 60, 220), "handbags": (40, 180, 60)}


def _write_tiny_coco(directory, n_images=4, seed=0):
    """A COCO detection export of coloured rectangles on a grey noisy floor."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for image_id in range(1, n_images + 1):
        floor = rng.integers(90, 140, size=(SCENE_SIZE, SCENE_SIZE, 3), dtype=np.uint8)
        scene = Image.fromarray(floor)
        draw = ImageDraw.Draw(scene)
        slots = [(8, 8), (70, 12), (20, 70), (72, 72)]
        for slot_index in rng.permutation(4)[:3]:
            category = list(COLOUR_OF)[int(rng.integers(len(COLOUR_OF)))]
            x0, y0 = slots[slot_index]
            w, h = int(rng.integers(30, 48)), int(rng.integers(30, 48))
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=COLOUR_OF[category])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": taxonomy.detector_label(category),
                                "bbox": [x0, y0, w + 1, h + 1], "area": (w + 1) * (h + 1), "iscrowd": 0})
        file_name = f"scene_{image_id:03d}.png"
        scene.save(directory / file_name)
        images.append({"id": image_id, "file_name": file_name, "width": SCENE_SIZE, "height": SCENE_SIZE})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": taxonomy.detector_label(c), "name": c} for c in taxonomy.CATEGORIES]}
    path = directory / "instances.json"
    path.write_text(json.dumps(coco))
    return path


def _tiny_config():
    return {"arch": "small", "min_size": SCENE_SIZE, "max_size": SCENE_SIZE,
            "anchor_sizes": [16, 32, 64, 128]}


@pytest.fixture(scope="module")
def tiny_training(tmp_path_factory):
    """One training run shared by the tests that need a trained detector (it is the slow part)."""
    # One thread: the outcome of a short training run is then the same on any machine (thread
    # count changes floating-point reduction order), and a shared 2-core box is not oversubscribed.
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("tiny_coco")
    coco_path = _write_tiny_coco(directory)
    progress_events = []
    record = train_detector(
        coco_path=coco_path, out_path=directory / "detector.pt", arch="small", steps=100,
        batch_size=4, seed=0, lr=2e-3, warmup_steps=5, min_size=SCENE_SIZE,
        config_overrides={"anchor_sizes": [16, 32, 64, 128]}, log_every=10,
        val_coco_path=coco_path, progress=progress_events.append)
    return directory, coco_path, record, progress_events


def test_the_trainer_lowers_its_loss_and_overfits_a_tiny_set(tiny_training):
    directory, coco_path, record, progress_events = tiny_training
    first, last = record["losses"][0]["loss"], record["losses"][-1]["loss"]
    assert last < 0.5 * first
    assert [event["step"] for event in progress_events[:10]] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    detector = Detector.from_checkpoint(directory / "detector.pt", device="cpu")
    examples = load_coco_detection(coco_path)
    images = [Image.open(example.image_path).convert("RGB") for example in examples]
    truth = [{"boxes": example.boxes, "categories": example.categories} for example in examples]
    found = f1_optimal_threshold(detector.detect(images, score_threshold=0.05), truth)
    assert found.recall >= 0.9
    assert found.precision >= 0.9


def test_training_record_and_checkpoint_say_how_the_model_was_trained(tiny_training):
    directory, coco_path, record, _ = tiny_training
    written = json.loads((directory / "detector.json").read_text())
    assert written["steps"] == 100
    assert written["data"]["train"]["images"] == 4
    assert written["data"]["train"]["boxes"] == 12
    assert written["multiscale_sizes"] == [96, 128, 160]
    assert 0.0 <= written["val"]["map50"] <= 1.0
    config, state_dict, meta = load_checkpoint(directory / "detector.pt", kind="detector")
    assert config["min_size"] == SCENE_SIZE and config["arch"] == "small"
    assert meta["training"]["steps"] == 100
    # the platform runs the detector at the threshold chosen on the validation split
    assert meta["score_threshold"] == written["val"]["f1_optimal_threshold"]
    blob = torch.load(directory / "detector.pt", weights_only=True)
    assert all(t.dtype == torch.float16 for t in blob["state_dict"].values() if t.is_floating_point())


def test_the_command_line_trains_and_writes_a_checkpoint(tmp_path):
    coco_path = _write_tiny_coco(tmp_path, n_images=2)
    record = main(["--coco", str(coco_path), "--images", str(tmp_path), "--out", str(tmp_path / "cli.pt"),
                   "--arch", "small", "--steps", "2", "--batch-size", "2", "--seed", "0",
                   "--min-size", str(SCENE_SIZE), "--log-every", "1"])
    assert (tmp_path / "cli.pt").exists()
    assert record["command"].startswith("python -m models_runtime.training.detector --coco")
    assert [entry["step"] for entry in record["losses"]] == [1, 2]


def test_training_is_reproducible_with_the_same_seed(tmp_path):
    coco_path = _write_tiny_coco(tmp_path, n_images=2)
    runs = [train_detector(coco_path=coco_path, out_path=tmp_path / f"run{i}.pt", steps=3, batch_size=2,
                           seed=7, min_size=SCENE_SIZE, log_every=1, progress=None) for i in range(2)]
    assert [e["loss"] for e in runs[0]["losses"]] == [e["loss"] for e in runs[1]["losses"]]


def test_a_checkpoint_round_trips_to_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    original = Detector.from_config(_tiny_config(), device="cpu")
    save_checkpoint(tmp_path / "small.pt", kind="detector", config=original.config,
                    state_dict=original.model.state_dict())
    loaded = Detector.from_checkpoint(tmp_path / "small.pt", device="cpu")
    scene = Image.fromarray(np.random.default_rng(1).integers(0, 255, (SCENE_SIZE, SCENE_SIZE, 3), dtype=np.uint8))
    before, after = original.detect([scene], score_threshold=0.0)[0], loaded.detect([scene], score_threshold=0.0)[0]
    assert len(before) > 0
    np.testing.assert_allclose(before.boxes, after.boxes, atol=1e-4)
    np.testing.assert_allclose(before.scores, after.scores, atol=1e-5)
    assert before.categories == after.categories


def test_a_torchvision_resnet50_fpn_checkpoint_loads_from_state_dict_and_config(tmp_path):
    torch.manual_seed(0)
    config = {"arch": "resnet50_fpn", "min_size": 64, "max_size": 64, "rpn_post_nms_top_n_test": 50}
    model = build_detector(config).eval()
    save_checkpoint(tmp_path / "r50.pt", kind="detector", config=config, state_dict=model.state_dict())
    loaded = Detector.from_checkpoint(tmp_path / "r50.pt", device="cpu")
    image = torch.rand(3, 64, 64)
    with torch.inference_mode():
        expected = model([image])[0]
        actual = loaded.model([image])[0]
    assert torch.equal(expected["labels"], actual["labels"])
    torch.testing.assert_close(expected["boxes"], actual["boxes"])
    torch.testing.assert_close(expected["scores"], actual["scores"])


@pytest.mark.parametrize("arch", ["mobilenet_v3_fpn", "resnet50_fpn_v2", "resnext101_fpn"])
def test_every_architecture_builds_with_the_taxonomy_classes(arch):
    model = build_detector({"arch": arch, "min_size": 64, "max_size": 64})
    assert model.roi_heads.box_predictor.cls_score.out_features == len(taxonomy.CATEGORIES) + 1
    assert model.transform.min_size == (64,)


def test_the_small_default_is_a_cpu_sized_model():
    model = build_detector({"arch": "small"})
    parameters = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= parameters <= 4_000_000
    assert model.rpn._post_nms_top_n["testing"] <= 300
    assert model.roi_heads.detections_per_img <= 50


def test_detect_returns_well_formed_detections_for_a_batch():
    torch.manual_seed(0)
    detector = Detector.from_config(_tiny_config(), device="cpu")
    rng = np.random.default_rng(0)
    scenes = [Image.fromarray(rng.integers(0, 255, (SCENE_SIZE, SCENE_SIZE + 32 * i, 3), dtype=np.uint8))
              for i in range(3)]
    scenes.append(scenes[0].convert("L"))
    results = detector.detect(scenes, score_threshold=0.0, batch_size=2)
    assert len(results) == 4
    for scene, result in zip(scenes, results):
        assert isinstance(result, Detections)
        assert result.boxes.shape == (len(result), 4) and result.boxes.dtype == np.float32
        assert result.scores.shape == (len(result),)
        assert set(result.categories) <= set(taxonomy.CATEGORIES)
        assert np.all(result.boxes[:, 2] >= result.boxes[:, 0])
        assert np.all(result.boxes[:, 2] <= scene.width + 1e-3) and np.all(result.boxes[:, 3] <= scene.height + 1e-3)
        assert np.all(np.diff(result.scores) <= 0)
    assert len(results[0]) > 0
    assert all(len(r) == 0 for r in detector.detect(scenes[:2], score_threshold=1.01))


def test_bad_configs_and_inputs_are_refused_with_named_errors(tmp_path):
    with pytest.raises(ValueError, match=re.escape(UNKNOWN_ARCH_ERROR.format(arch="yolo"))):
        build_detector({"arch": "yolo"})
    with pytest.raises(ValueError, match=re.escape(UNKNOWN_OPTION_ERROR.format(keys="anchor_size"))):
        build_detector({"arch": "small", "anchor_size": 3})
    detector = Detector.from_config(_tiny_config(), device="cpu")
    with pytest.raises(TypeError, match=re.escape(NOT_RGB_ERROR.format(kind="ndarray"))):
        detector.detect([np.zeros((8, 8, 3), dtype=np.uint8)])
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "hats"}]}
    (tmp_path / "bad.json").write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=re.escape(UNKNOWN_COCO_CATEGORY_ERROR.format(name="hats", id=1))):
        load_coco_detection(tmp_path / "bad.json")


def test_multiscale_sizes_and_learning_rate_schedule():
    assert multiscale_sizes(256, (0.75, 1.25)) == (192, 224, 256, 288, 320)
    assert multiscale_sizes(256, (1.0, 1.0)) == (256,)
    assert learning_rate_factor(0, steps=100, warmup_steps=10, schedule="cosine") == pytest.approx(0.001)
    assert learning_rate_factor(10, steps=100, warmup_steps=10, schedule="cosine") == pytest.approx(1.0)
    assert learning_rate_factor(100, steps=100, warmup_steps=10, schedule="cosine") == pytest.approx(0.0)
    assert learning_rate_factor(70, steps=90, warmup_steps=0, schedule="step") == pytest.approx(0.1)
    assert learning_rate_factor(85, steps=90, warmup_steps=0, schedule="step") == pytest.approx(0.01)
