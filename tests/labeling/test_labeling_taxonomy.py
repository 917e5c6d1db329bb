"""The taxonomy and attribute schema in the database are what answers are validated against."""
from __future__ import annotations

import pytest
from django.db import transaction
from django.utils.text import slugify

from labeling import taxonomy
from labeling.answer_schemas import (
    ATTRIBUTE_MISSING,
    ATTRIBUTE_VALUE_UNKNOWN,
    ATTRIBUTES_NO_CATEGORY,
    CATEGORY_UNKNOWN,
    AnswerSchemaError,
    answer_clean,
)
from labeling.models import Attribute, Category, Role, TaxonomyVersion
from labeling.services.users import user_create
from labeling.task_kinds.attributes import CANT_TELL
from labeling.taxonomy import category_choices, category_map, taxonomy_changed, taxonomy_seed, taxonomy_snapshot
from models_runtime import taxonomy as fixture_taxonomy

pytestmark = pytest.mark.django_db

SCENE = {"image": {"url": "/media/scene.jpg", "width": 640, "height": 480}}


def boxes_answer(category: str) -> dict:
    return {"boxes": [{"box": [1, 2, 30, 40], "category": category}]}


def refusal(kind: str, payload: dict, answer) -> str:
    with pytest.raises(AnswerSchemaError) as refused:
        answer_clean(kind=kind, payload=payload, answer=answer)
    return str(refused.value)


def attribute_values(category: str, **changes) -> dict:
    """One allowed value per attribute that applies to ``category`` (as the rows say now)."""
    return {a.name: a.values[0] for a in taxonomy.attributes_for(category)} | changes


def fixture_nodes() -> set[str]:
    return {"|".join(c.path.split("|")[:depth]) for c in fixture_taxonomy.categories()
            for depth in range(1, len(c.path.split("|")) + 1)}


@pytest.fixture
def admin_client(client):
    user = user_create(username="ada", password="correct horse battery", role=Role.ADMIN)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    client.force_login(user)
    return client


def test_the_migration_seeds_the_fixture_tree_and_coarse_categories_match_models_runtime():
    snapshot = taxonomy_snapshot()
    assert {c.path for c in snapshot.categories.values()} == fixture_nodes()
    assert set(snapshot.leaves) == set(fixture_taxonomy.CATEGORIES)
    assert list(snapshot.leaves) == sorted(snapshot.leaves, key=lambda slug: snapshot.categories[slug].path)
    for leaf in fixture_taxonomy.categories():
        node = snapshot.categories[leaf.slug]
        assert node.path == leaf.path
        assert snapshot.categories[node.coarse].name == leaf.coarse
    coats = snapshot.categories["coats"]
    assert (coats.name, coats.level) == ("Coats & Jackets", 4)
    assert coats.parent == slugify("Apparel & Accessories Clothing Outerwear")
    assert coats.coarse == slugify("Apparel & Accessories Clothing")
    root = snapshot.categories[slugify("Apparel & Accessories")]
    assert (root.parent, root.coarse) == (None, root.slug)
    assert [a.name for a in snapshot.attributes] == [a.name for a in fixture_taxonomy.attributes()]
    for attribute, expected in zip(snapshot.attributes, fixture_taxonomy.attributes()):
        assert (attribute.label, attribute.values) == (expected.label, expected.values)
        assert set(attribute.categories) == set(expected.categories)


def test_category_choices_are_the_leaves_with_their_coarse_names():
    choices = {choice["slug"]: choice for choice in category_choices()}
    assert set(choices) == set(fixture_taxonomy.CATEGORIES)
    assert choices["coats"] == {"slug": "coats", "name": "Coats & Jackets", "coarse": "Clothing",
                                "coarse_slug": slugify("Apparel & Accessories Clothing")}
    assert choices["shoes"]["coarse"] == "Shoes"


def test_a_value_added_to_an_attribute_in_the_admin_is_accepted_at_once(admin_client):
    assert refusal("attributes", {"category": "dresses"}, {"attributes": attribute_values("dresses", color="beige")}) \
        == ATTRIBUTE_VALUE_UNKNOWN.format(value="beige", name="color",
                                          allowed=", ".join([*fixture_taxonomy.ATTRIBUTES["color"].values, CANT_TELL]))
    color = Attribute.objects.get(name="color")
    response = admin_client.post(f"/admin/labeling/attribute/{color.pk}/change/", {
        "name": "color", "label": "Color", "values": '["black", "beige"]',
        "categories": list(color.categories.values_list("pk", flat=True)), "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]

    answer = {"attributes": attribute_values("dresses", color="beige")}
    assert answer_clean(kind="attributes", payload={"category": "dresses"}, answer=answer) == answer
    assert refusal("attributes", {"category": "dresses"}, {"attributes": attribute_values("dresses", color="red")}) \
        == ATTRIBUTE_VALUE_UNKNOWN.format(value="red", name="color", allowed=f"black, beige, {CANT_TELL}")


def test_a_category_added_in_the_admin_is_a_box_category_at_once_and_linking_an_attribute_requires_it(admin_client):
    assert refusal("bounding_boxes", SCENE, boxes_answer("hats")) == \
        CATEGORY_UNKNOWN.format(where="Box 0", category="hats")
    parent = Category.objects.get(path="Apparel & Accessories|Clothing Accessories")
    response = admin_client.post("/admin/labeling/category/add/", {
        "slug": "hats", "name": "Hats", "path": "Apparel & Accessories|Clothing Accessories|Hats",
        "parent": parent.pk, "level": 3, "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]

    boxes = answer_clean(kind="bounding_boxes", payload=SCENE, answer=boxes_answer("hats"))["boxes"]
    assert boxes[0]["category"] == "hats"
    assert answer_clean(kind="attributes", payload={"category": "hats"}, answer={"attributes": {}}) == \
        {"attributes": {}}
    assert "hats" in {choice["slug"] for choice in category_choices()}
    assert taxonomy.category_coarse("hats") == slugify("Apparel & Accessories Clothing Accessories")

    # The m2m link alone (no save of either row) changes what the category needs.
    Attribute.objects.get(name="color").categories.add(Category.objects.get(slug="hats"))
    assert refusal("attributes", {"category": "hats"}, {"attributes": {}}) == \
        ATTRIBUTE_MISSING.format(name="color", category="hats")


def test_a_category_deleted_in_the_admin_is_refused_at_once(admin_client):
    assert answer_clean(kind="bounding_boxes", payload=SCENE, answer=boxes_answer("sunglasses"))
    sunglasses = Category.objects.get(slug="sunglasses")
    response = admin_client.post(f"/admin/labeling/category/{sunglasses.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]

    assert refusal("bounding_boxes", SCENE, boxes_answer("sunglasses")) == \
        CATEGORY_UNKNOWN.format(where="Box 0", category="sunglasses")
    assert refusal("attributes", {"category": "sunglasses"}, {"attributes": {"color": "black"}}) == \
        ATTRIBUTES_NO_CATEGORY
    assert "sunglasses" not in {choice["slug"] for choice in category_choices()}


def test_the_snapshot_is_read_again_only_after_a_change(django_assert_num_queries):
    warm = taxonomy_snapshot()
    with django_assert_num_queries(1):  # the token
        assert taxonomy_snapshot() is warm
    answer = {"attributes": attribute_values("dresses")}
    with django_assert_num_queries(1):
        answer_clean(kind="attributes", payload={"category": "dresses"}, answer=answer)

    Attribute.objects.filter(name="color").get().save()
    with django_assert_num_queries(4):  # the token, categories, attributes, their links
        changed = taxonomy_snapshot()
    assert changed is not warm
    with django_assert_num_queries(1):
        assert taxonomy_snapshot() is changed


def test_a_change_committed_by_another_process_is_seen_on_the_next_call():
    before = taxonomy_snapshot()
    # What another worker's save does: the rows change, then its receiver replaces the token.
    # Neither goes through this process's signals, so only the token can tell it.
    Attribute.objects.filter(name="color").update(values=["black", "beige"])
    assert taxonomy_snapshot() is before
    TaxonomyVersion.objects.update(token="another-process")
    assert answer_clean(kind="attributes", payload={"category": "dresses"},
                        answer={"attributes": attribute_values("dresses", color="beige")})


def test_a_rolled_back_change_never_leaves_its_snapshot_behind():
    color = Attribute.objects.get(name="color")

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        color.values = [*color.values, "beige"]
        color.save()
        assert "beige" in taxonomy.attributes_for("dresses")[0].values
        raise RolledBack

    # A counter would now be back where the rolled-back change took it from, and the next change
    # would bring it to the rolled-back change's value again.
    color.refresh_from_db()
    color.values = [*color.values, "teal"]
    color.save()
    assert answer_clean(kind="attributes", payload={"category": "dresses"},
                        answer={"attributes": attribute_values("dresses", color="teal")})
    assert refusal("attributes", {"category": "dresses"}, {"attributes": attribute_values("dresses", color="beige")}) \
        .startswith("'beige' is not a value of attribute 'color'")


def test_the_seed_is_idempotent_restores_emptied_tables_and_keeps_edits():
    migrated = taxonomy_snapshot()
    assert taxonomy_seed() == (0, 0)

    # As a transactional test's flush leaves them: no rows, no token.
    Attribute.objects.all().delete()
    Category.objects.all().delete()
    TaxonomyVersion.objects.all().delete()
    assert refusal("bounding_boxes", SCENE, boxes_answer("shoes")) == \
        CATEGORY_UNKNOWN.format(where="Box 0", category="shoes")

    assert taxonomy_seed() == (len(fixture_nodes()), len(fixture_taxonomy.attributes()))
    reseeded = taxonomy_snapshot()
    assert (dict(reseeded.categories), reseeded.leaves, reseeded.attributes) == \
        (dict(migrated.categories), migrated.leaves, migrated.attributes)
    assert answer_clean(kind="bounding_boxes", payload=SCENE, answer=boxes_answer("shoes"))

    Attribute.objects.filter(name="color").update(label="Colour")
    Category.objects.filter(slug="shoes").update(name="Footwear")
    assert taxonomy_seed() == (0, 0)
    assert Attribute.objects.get(name="color").label == "Colour"
    assert Category.objects.get(slug="shoes").name == "Footwear"
    assert Category.objects.count() == len(fixture_nodes())


def test_taxonomy_changed_is_what_a_write_without_signals_calls():
    before = taxonomy_snapshot()
    Category.objects.filter(slug="shoes").update(name="Footwear")
    assert taxonomy_snapshot().categories["shoes"].name == "Shoes"
    taxonomy_changed()
    after = taxonomy_snapshot()
    assert after.token != before.token and after.categories["shoes"].name == "Footwear"


def test_outside_names_map_by_slug_path_or_name_ignoring_case():
    Category.objects.create(slug="costume-jewelry", name="Jewelry", level=3,
                            path="Apparel & Accessories|Costumes|Jewelry",
                            parent=Category.objects.get(path="Apparel & Accessories"))
    mapped, unmapped = category_map(["Shoes", "DRESSES", "apparel & accessories|clothing|outerwear|coats & jackets",
                                     "Apparel & Accessories > Clothing", "Clothing", "Jewelry", "Hats", ""])
    assert mapped == {
        "Shoes": "shoes",
        "DRESSES": "dresses",
        "apparel & accessories|clothing|outerwear|coats & jackets": "coats",
        "Apparel & Accessories > Clothing": slugify("Apparel & Accessories Clothing"),
        "Clothing": slugify("Apparel & Accessories Clothing"),
    }
    # "Jewelry" now names two categories: without a slug or path it is ambiguous.
    assert unmapped == ["Jewelry", "Hats", ""]
