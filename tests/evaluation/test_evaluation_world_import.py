"""Importing the synthetic world and content-addressed image storage."""
import io

from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Attribute, Category, Image, ImageKind, Product, SceneSet
from labeling.services.images import image_png_bytes, image_store, image_storage_name
from labeling.services.world_import import scene_truth_read, world_import
from models_runtime import taxonomy
from models_runtime.world import build_world


def png(color):
    return image_png_bytes(PILImage.new("RGB", (8, 6), color))


def test_image_store_names_files_by_content_and_returns_the_existing_row(db, media):
    first = image_store(data=png((255, 0, 0)), kind=ImageKind.CROP)
    again = image_store(data=png((255, 0, 0)), kind=ImageKind.CROP)
    other = image_store(data=png((0, 0, 255)), kind=ImageKind.CROP)
    assert again.pk == first.pk
    assert other.pk != first.pk
    assert first.file.name == image_storage_name(first.sha256)
    assert first.file.name.startswith(f"images/{first.sha256[:2]}/{first.sha256[2:4]}/")
    assert (first.width, first.height) == (8, 6)
    assert Image.objects.count() == 2
    with default_storage.open(first.file.name, "rb") as handle:
        assert PILImage.open(io.BytesIO(handle.read())).size == (8, 6)


def test_world_import_stores_taxonomy_catalogue_and_scenes(tiny_world):
    assert Product.objects.count() == 40
    assert tiny_world.products_created == 40
    leaves = Category.objects.filter(slug__in=taxonomy.CATEGORIES)
    assert leaves.count() == len(taxonomy.CATEGORIES)
    coats = Category.objects.get(slug="coats")
    assert coats.path == "Apparel & Accessories|Clothing|Outerwear|Coats & Jackets"
    assert coats.level == 4
    assert coats.parent.path == "Apparel & Accessories|Clothing|Outerwear"
    assert Category.objects.get(path="Apparel & Accessories").parent is None
    assert set(Attribute.objects.values_list("name", flat=True)) == {a.name for a in taxonomy.attributes()}
    assert set(Attribute.objects.get(name="dress_style").categories.values_list("slug", flat=True)) == {"dresses"}

    world = build_world(seed=0, n_products=40, n_scenes=6)
    product = Product.objects.get(external_id="synthetic:0:7")
    truth = world.product(7)
    assert product.category.slug == truth.category
    assert product.gender == truth.gender
    assert product.attributes == truth.attributes
    assert product.image.kind == ImageKind.PRODUCT

    scene_set = SceneSet.objects.get(pk=tiny_world.scene_set_id)
    assert scene_set.scenes.count() == 6
    scene = scene_set.scenes.first()
    truth = scene_truth_read(sha256=scene.sha256)
    assert truth["world_seed"] == 0
    assert truth["objects"] and all(len(o["box"]) == 4 for o in truth["objects"])


def test_world_import_twice_changes_nothing(tiny_world):
    counts = (Product.objects.count(), Image.objects.count(), Category.objects.count(), Attribute.objects.count())
    again = world_import(seed=0, n_products=40, n_scenes=6, scene_split="all")
    assert again.products_created == 0
    assert again.categories_created == 0
    assert again.scene_set_id == tiny_world.scene_set_id
    assert (Product.objects.count(), Image.objects.count(), Category.objects.count(),
            Attribute.objects.count()) == counts


def test_default_scene_set_holds_only_test_split_scenes(db, media):
    result = world_import(seed=0, n_products=40, n_scenes=20)
    world = build_world(seed=0, n_products=40, n_scenes=20)
    expected = sum(1 for scene in world.scenes if scene.split == "test")
    scene_set = SceneSet.objects.get(pk=result.scene_set_id)
    assert scene_set.name == "synthetic demo test scenes"
    assert scene_set.scenes.count() == expected == 4
