import colorsys
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from models_runtime import taxonomy
from models_runtime.checkpoints import load_checkpoint
from models_runtime.embedder import (
    ERROR_EMBEDDING_DIM,
    ERROR_UNKNOWN_BACKBONE,
    INSTANCE_HEAD_PREFIX,
    Embedder,
    binarize,
    build_embedder,
    fused_for_inference,
)
from models_runtime.training.embedder import (
    DEFAULT_TRAINING,
    ERROR_UNKNOWN_ATTRIBUTE_VALUE,
    ERROR_UNKNOWN_CATEGORY,
    augment,
    load_manifest,
    multitask_loss,
    prepare_crops,
    sample_instances,
    save_embedder_checkpoint,
    straight_through_sign_codes,
    train_embedder,
)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "fixtures" / "models" / "embedder_default.pt"
TINY_CONFIG = {"input_size": 32, "embedding_dim": 64, "small_widths": [8, 16, 24, 32]}

# Six products: (category, colour name, RGB, pattern, shape drawn).
TINY_PRODUCTS = [
    ("tops", "red", (204, 34, 40), "solid", "rectangle"),
    ("tops", "blue", (48, 112, 224), "striped", "rectangle"),
    ("handbags", "green", (44, 142, 62), "solid", "ellipse"),
    ("handbags", "yellow", (240, 208, 44), "striped", "ellipse"),
    ("sunglasses", "black", (34, 34, 38), None, "triangle"),
    ("skirts", "pink", (242, 142, 184), "solid", "triangle"),
]


def draw_product(draw: ImageDraw.ImageDraw, box, product_index: int) -> None:
    _, _, rgb, pattern, shape = TINY_PRODUCTS[product_index]
    x0, y0, x1, y1 = box
    if shape == "rectangle":
        draw.rectangle(box, fill=rgb)
    elif shape == "ellipse":
        draw.ellipse(box, fill=rgb)
    else:
        draw.polygon([(x0, y1), ((x0 + x1) / 2, y0), (x1, y1)], fill=rgb)
    if pattern == "striped":
        for y in range(int(y0) + 2, int(y1), 6):
            draw.line([(x0 + 2, y), (x1 - 2, y)], fill=(250, 250, 250), width=2)


def product_record(image: str, box, product_index: int) -> dict:
    category, color, _, pattern, _ = TINY_PRODUCTS[product_index]
    gender = {"skirts": "women"}.get(category, "unisex")
    return {"image": image, "box": list(box), "product_id": 100 + product_index, "category": category,
            "color": color, "pattern": pattern, "fabric": None, "length": None,
            "dress_style": None, "gender": gender}


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory):
    """Each product on white (64 px) plus two busy 96 px scenes holding pairs of products."""
    root = tmp_path_factory.mktemp("tiny_world")
    records = []
    for index in range(len(TINY_PRODUCTS)):
        image = Image.new("RGB", (64, 64), "white")
        draw_product(ImageDraw.Draw(image), (8, 8, 56, 56), index)
        image.save(root / f"product_{index}.png")
        records.append(product_record(f"product_{index}.png", (0, 0, 64, 64), index))
    rng = np.random.default_rng(0)
    for scene in range(4):
        image = Image.new("RGB", (96, 96), (150, 140, 120))
        draw = ImageDraw.Draw(image)
        pair = [(scene * 2) % len(TINY_PRODUCTS), (scene * 2 + 3) % len(TINY_PRODUCTS)]
        for slot, index in enumerate(pair):
            x0 = 4 + slot * 46 + int(rng.integers(0, 4))
            box = (x0, 20, x0 + 40, 70)
            draw_product(draw, box, index)
            records.append(product_record(f"scene_{scene}.png", box, index))
        image.save(root / f"scene_{scene}.png")
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    return manifest, root, records


@pytest.fixture
def one_torch_thread():
    """On a shared, busy CPU two OpenMP threads wait on each other far more than they gain."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def crops_of(records, root):
    crops = []
    for record in records:
        with Image.open(root / record["image"]) as image:
            crops.append(image.convert("RGB").crop(tuple(record["box"])))
    return crops


def test_binarize_packs_sign_bits_most_significant_bit_first():
    embeddings = np.array([[0.5, -0.1, 0.0, 0.2, -0.3, 0.1, 0.1, -0.2, 0.3, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1, 0.9]])
    codes = binarize(embeddings)
    assert codes.dtype == np.uint8
    # bits 1 0 0 1 0 1 1 0 | 1 0 0 0 0 0 0 1 (zero is not positive)
    assert codes.tolist() == [[0b10010110, 0b10000001]]


def test_embed_returns_normalised_embeddings_codes_and_applicable_attributes():
    torch.manual_seed(0)
    embedder = Embedder.from_config(TINY_CONFIG, device="cpu")
    rng = np.random.default_rng(1)
    crops = [Image.fromarray(rng.integers(0, 255, (int(h), int(w), 3), dtype=np.uint8))
             for h, w in rng.integers(10, 90, size=(7, 2))]
    crops.append(crops[0].convert("L"))
    result = embedder.embed(crops, batch_size=3)
    assert result.embeddings.dtype == np.float32 and result.embeddings.shape == (8, 64)
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-5)
    assert result.codes.dtype == np.uint8 and result.codes.shape == (8, 8)
    np.testing.assert_array_equal(result.codes, binarize(result.embeddings))
    assert len(result.categories) == len(result.attributes) == len(result.genders) == 8
    for category, attributes, gender in zip(result.categories, result.attributes, result.genders):
        assert category in taxonomy.CATEGORIES
        applicable = taxonomy.attributes_for(category)
        assert set(attributes) == {a.name for a in applicable}
        for attribute in applicable:
            assert attributes[attribute.name] in attribute.values
        assert gender in taxonomy.ATTRIBUTES["gender"].values
    one_batch = embedder.embed(crops, batch_size=64)
    np.testing.assert_allclose(one_batch.embeddings, result.embeddings, atol=1e-5)


def test_embed_of_no_crops_is_empty_but_well_shaped():
    result = Embedder.from_config(TINY_CONFIG, device="cpu").embed([])
    assert result.embeddings.shape == (0, 64) and result.codes.shape == (0, 8)
    assert result.categories == [] and result.attributes == [] and result.genders == []


def test_configs_with_unknown_backbone_or_unpackable_dimension_are_refused():
    with pytest.raises(ValueError, match=re.escape(ERROR_UNKNOWN_BACKBONE.format(backbone="vgg11"))):
        build_embedder({"backbone": "vgg11"})
    with pytest.raises(ValueError, match=re.escape(ERROR_EMBEDDING_DIM.format(dim=100))):
        build_embedder({"embedding_dim": 100})


def test_torchvision_backbone_builds_with_an_embedding_head():
    model = build_embedder({"backbone": "resnet18", "input_size": 64, "n_instances": 5}).eval()
    with torch.inference_mode():
        embeddings = model(torch.randn(2, 3, 64, 64))
        assert embeddings.shape == (2, 256)
        assert model.instance_logits(embeddings).shape == (2, 5)


def test_subsampled_instances_always_hold_the_batch_positives():
    generator = torch.Generator().manual_seed(0)
    positives = torch.tensor([17, 3, 17, 90, 42])
    classes, targets = sample_instances(positives, 100, 10, generator)
    assert len(classes) == 10 and len(torch.unique(classes)) == 10
    assert torch.equal(classes[targets], positives)
    every_class, same_targets = sample_instances(positives, 8, 10, generator)
    assert torch.equal(every_class, torch.arange(8)) and torch.equal(same_targets, positives)


def test_exact_box_sampling_reproduces_the_crop_and_jitter_keeps_hue(tiny_manifest):
    manifest, root, records = tiny_manifest
    crops = prepare_crops(records, root, input_size=32)
    red_top = 0  # product 0 on white: a red rectangle filling the middle of a 64 px image
    generator = torch.Generator().manual_seed(0)
    exact = augment(crops.pixels[:1], crops.inner_boxes[:1], 32, generator, 0.1, 0.3, 0.3, train=False)
    direct = np.asarray(crops_of(records[:1], root)[0].resize((32, 32), Image.BILINEAR), dtype=np.float32)
    assert np.abs(exact[0].permute(1, 2, 0).numpy() - direct).mean() < 12
    jittered = augment(crops.pixels[:1].repeat(16, 1, 1, 1), crops.inner_boxes[:1].repeat(16, 1),
                       32, generator, 0.1, 0.3, 0.3, train=True)
    centre = jittered[:, :, 16, 16].numpy() / 255.0
    hues = [colorsys.rgb_to_hsv(*pixel)[0] for pixel in centre]
    expected_hue = colorsys.rgb_to_hsv(*(np.array(TINY_PRODUCTS[red_top][2]) / 255.0))[0]
    assert max(abs(h - expected_hue) for h in hues) < 0.01
    assert len({round(float(v), 1) for v in centre.max(axis=1)}) > 1  # brightness really varied


def test_manifest_with_an_unknown_category_or_value_is_refused(tmp_path, tiny_manifest):
    _, root, records = tiny_manifest
    with pytest.raises(ValueError, match=re.escape(ERROR_UNKNOWN_CATEGORY.format(line=1, category="hats"))):
        prepare_crops([{**records[0], "category": "hats"}], root, 32)
    message = ERROR_UNKNOWN_ATTRIBUTE_VALUE.format(line=1, attribute="color", value="chartreuse")
    with pytest.raises(ValueError, match=re.escape(message)):
        prepare_crops([{**records[0], "color": "chartreuse"}], root, 32)


def test_trainer_lowers_its_loss_and_overfits_a_tiny_set(tiny_manifest, tmp_path, one_torch_thread):
    manifest, root, records = tiny_manifest
    events = []
    result = train_embedder(manifest=manifest, images_dir=root, out=tmp_path / "tiny.pt",
                            config=TINY_CONFIG, seed=0, progress=events.append, steps=150,
                            batch_size=16, lr=0.05, warmup_steps=10, log_every=10,
                            instances_per_step=4, box_jitter=0.05, device="cpu")
    assert events[-1]["loss"] < 0.5 * events[0]["loss"]
    assert result.record["steps_done"] == 150 and result.record["n_instances"] == 6

    embedder = Embedder.from_checkpoint(tmp_path / "tiny.pt", device="cpu")
    crops = crops_of(records, root)
    embedded = embedder.embed(crops)
    assert embedded.categories == [r["category"] for r in records]
    assert [a["color"] for a in embedded.attributes] == [r["color"] for r in records]
    # Every scene crop retrieves its own product among the product-on-white images.
    on_white = embedded.embeddings[:len(TINY_PRODUCTS)]
    scene_crops = embedded.embeddings[len(TINY_PRODUCTS):]
    nearest = (scene_crops @ on_white.T).argmax(axis=1)
    assert [100 + i for i in nearest] == [r["product_id"] for r in records[len(TINY_PRODUCTS):]]
    saved = json.loads((tmp_path / "tiny.json").read_text())
    assert saved["steps_done"] == 150 and saved["history"][0]["step"] == 1


def test_checkpoint_round_trip_gives_the_same_embeddings(tiny_manifest, tmp_path):
    _, root, records = tiny_manifest
    torch.manual_seed(0)
    model = build_embedder({**TINY_CONFIG, "n_instances": 6})
    # Move batch-norm statistics away from their defaults so that they must be saved too.
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32) * 3 + 1)
    model.eval()
    # The shipped checkpoint is float16: round the weights first so both sides hold the same numbers.
    model.load_state_dict({k: (v.half().float() if v.is_floating_point() else v)
                           for k, v in model.state_dict().items()})
    crops = crops_of(records, root)
    before = Embedder(model, device="cpu").embed(crops)

    shipped = save_embedder_checkpoint(model, tmp_path / "shipped.pt", {"steps_done": 0})
    _, state_dict, _ = load_checkpoint(shipped, kind="embedder")
    assert not any(name.startswith(INSTANCE_HEAD_PREFIX) for name in state_dict)
    after = Embedder.from_checkpoint(shipped, device="cpu").embed(crops)
    np.testing.assert_allclose(after.embeddings, before.embeddings, atol=1e-5)
    np.testing.assert_array_equal(after.codes, before.codes)
    assert after.categories == before.categories and after.attributes == before.attributes

    full = save_embedder_checkpoint(model, tmp_path / "full.pt", {"steps_done": 0},
                                    keep_instance_head=True, product_ids=list(range(6)))
    reloaded = Embedder.from_checkpoint(full, device="cpu")
    assert reloaded.model.instance_head is not None
    np.testing.assert_allclose(reloaded.embed(crops).embeddings, before.embeddings, atol=1e-5)


def test_manifest_loader_reads_json_lines(tiny_manifest):
    manifest, _, records = tiny_manifest
    assert load_manifest(manifest) == records


def test_time_budget_stops_training_and_records_the_last_step(tiny_manifest, one_torch_thread):
    manifest, root, _ = tiny_manifest
    events = []
    result = train_embedder(manifest=manifest, images_dir=root, config=TINY_CONFIG, seed=0,
                            progress=events.append, steps=100_000, batch_size=8, log_every=1000, warmup_steps=2,
                            max_seconds=3.0, device="cpu")
    steps_done = result.record["steps_done"]
    assert 0 < steps_done < 100_000
    assert events[-1]["step"] == steps_done
    assert result.record["history"][-1]["step"] == steps_done
    # The schedule follows the clock: by the end the learning rate has annealed towards zero.
    assert events[-1]["lr"] < 0.1 * DEFAULT_TRAINING["lr"]


def test_inference_copy_with_folded_batch_norm_embeds_like_the_trained_model():
    torch.manual_seed(0)
    model = build_embedder(TINY_CONFIG)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32) * 2 + 0.5)
    model.eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        expected = model(images)
        folded = fused_for_inference(model)
        np.testing.assert_allclose(folded(images).numpy(), expected.numpy(), atol=1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.backbone.modules())


def test_a_loaded_embedders_model_saves_a_checkpoint_that_loads_again(tmp_path):
    from models_runtime.checkpoints import save_checkpoint
    from models_runtime.embedder import Embedder

    first = Embedder.from_config({}, device="cpu")
    path = save_checkpoint(tmp_path / "embedder.pt", kind="embedder", config=first.config,
                           state_dict=first.model.state_dict())
    second = Embedder.from_checkpoint(path, device="cpu")
    crops = [Image.new("RGB", (40, 30), (200, 30, 30)), Image.new("RGB", (25, 60), (20, 20, 160))]
    np.testing.assert_allclose(first.embed(crops).embeddings, second.embed(crops).embeddings, atol=1e-5)


def test_config_without_the_pooled_branch_key_builds_the_first_default_architecture():
    # Checkpoints saved before "small_pooled_branch" existed carry no such key.
    legacy = build_embedder(TINY_CONFIG)
    pooled = build_embedder({**TINY_CONFIG, "small_pooled_branch": True})
    width = TINY_CONFIG["small_widths"][-1]
    assert legacy.embedding_head[0].in_features == width * 16
    assert pooled.embedding_head[0].in_features == width * 16 + width
    pooled.eval()
    with torch.inference_mode():
        maps = pooled.backbone.features(torch.randn(2, 3, 32, 32))
        features = pooled.backbone(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, width * 17) and maps.shape[1] == width


def test_shipped_default_checkpoint_still_loads_with_the_flattened_map_only():
    embedder = Embedder.from_checkpoint(DEFAULT_CHECKPOINT, device="cpu")
    features = embedder.model.embedding_head[0].in_features
    expected = embedder.config["small_widths"][-1] * (17 if embedder.config["small_pooled_branch"] else 16)
    assert features == expected
    result = embedder.embed([Image.new("RGB", (40, 60), (200, 30, 30))])
    assert result.codes.shape == (1, embedder.embedding_dim // 8)


def test_pooled_branch_checkpoint_round_trips_and_folds_batch_norm(tiny_manifest, tmp_path):
    _, root, records = tiny_manifest
    torch.manual_seed(0)
    model = build_embedder({**TINY_CONFIG, "small_pooled_branch": True})
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32) * 2 + 0.5)
    model.eval()
    model.load_state_dict({k: (v.half().float() if v.is_floating_point() else v)
                           for k, v in model.state_dict().items()})
    crops = crops_of(records, root)
    with torch.inference_mode():
        expected = model(Embedder(model, device="cpu").preprocessor(crops))
    shipped = save_embedder_checkpoint(model, tmp_path / "pooled.pt", {"steps_done": 0})
    reloaded = Embedder.from_checkpoint(shipped, device="cpu")
    assert reloaded.config["small_pooled_branch"] is True
    np.testing.assert_allclose(reloaded.embed(crops).embeddings, expected.numpy(), atol=1e-5)


def test_straight_through_sign_codes_are_unit_sign_vectors_with_identity_gradient():
    embeddings = torch.tensor([[0.6, -0.8, 0.0, 0.1]], requires_grad=True)
    codes = straight_through_sign_codes(embeddings)
    np.testing.assert_allclose(codes.detach().numpy(), [[0.5, -0.5, -0.5, 0.5]])
    (codes * torch.tensor([[1.0, 2.0, 3.0, 4.0]])).sum().backward()
    np.testing.assert_allclose(embeddings.grad.numpy(), [[1.0, 2.0, 3.0, 4.0]])


def test_sign_code_weight_adds_the_instance_loss_on_binary_codes():
    torch.manual_seed(0)
    model = build_embedder({**TINY_CONFIG, "n_instances": 6}).train()
    embeddings = model(torch.randn(4, 3, 32, 32))
    batch = {"categories": torch.tensor([0, 1, 2, 3]),
             "attributes": {name: torch.full((4,), -1) for name in taxonomy.ATTRIBUTES}}
    classes, targets = torch.arange(6), torch.tensor([0, 1, 2, 3])
    plain, plain_parts = multitask_loss(model, embeddings, batch, classes, targets, 0.1)
    with_codes, parts = multitask_loss(model, embeddings, batch, classes, targets, 0.1, sign_code_weight=0.5)
    assert "instance_sign" not in plain_parts
    assert with_codes.item() == pytest.approx(plain.item() + 0.5 * parts["instance_sign"], rel=1e-5)
