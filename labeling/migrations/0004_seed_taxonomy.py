"""The database becomes the one source of truth for the taxonomy and the attribute schema.

1. ``TaxonomyVersion``: the one row whose token tells every process that its cached taxonomy is
   stale (labeling/taxonomy.py).
2. Seeds the Category tree (every prefix of every fixture path is a node) and the Attribute rows
   from ``fixtures/`` where they are missing; rows already there (an earlier ``import_world``, an
   edit in the admin) are left alone. The JSON files are read here directly, with the rules of
   the day written out, so that later changes to the seeding code cannot change what this
   migration did.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from django.db import migrations, models
from django.utils.text import slugify

FIXTURES_DIR = Path(__file__).resolve().parents[2] / "fixtures"
TAXONOMY_VERSION_ROW = 1


def _seed(apps, schema_editor) -> None:
    Category = apps.get_model("labeling", "Category")
    Attribute = apps.get_model("labeling", "Attribute")
    TaxonomyVersion = apps.get_model("labeling", "TaxonomyVersion")
    leaves = json.loads((FIXTURES_DIR / "stl_fashion_categories.json").read_text())["categories"]
    schema = json.loads((FIXTURES_DIR / "attribute_schema.json").read_text())["attributes"]

    leaf_slug = {leaf["path"]: leaf["slug"] for leaf in leaves}
    nodes: dict[str, tuple[str, str, str, int, str | None]] = {}
    for leaf in leaves:
        levels = leaf["path"].split("|")
        for depth in range(1, len(levels) + 1):
            path = "|".join(levels[:depth])
            if path not in nodes:
                slug = leaf_slug.get(path) or slugify(path.replace("|", " "))
                nodes[path] = (slug, levels[depth - 1], path, depth, "|".join(levels[:depth - 1]) or None)

    by_path = {c.path: c for c in Category.objects.all()}
    by_slug = {c.slug: c for c in by_path.values()}
    for slug, name, path, level, parent_path in sorted(nodes.values(), key=lambda node: (node[3], node[2])):
        if path in by_path:
            continue
        if slug in by_slug:
            by_path[path] = by_slug[slug]
            continue
        by_path[path] = by_slug[slug] = Category.objects.create(
            slug=slug, name=name, path=path, level=level, parent=by_path[parent_path] if parent_path else None)

    leaf_path = {leaf["slug"]: leaf["path"] for leaf in leaves}
    for entry in schema:
        row, created = Attribute.objects.get_or_create(
            name=entry["name"], defaults={"label": entry["label"], "values": list(entry["values"])})
        if created:
            row.categories.set([by_path[leaf_path[slug]] for slug in entry["categories"]])

    TaxonomyVersion.objects.update_or_create(pk=TAXONOMY_VERSION_ROW, defaults={"token": uuid.uuid4().hex})


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0003_private_truth_and_task_images"),
    ]

    operations = [
        migrations.CreateModel(
            name="TaxonomyVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.CharField(max_length=32)),
            ],
        ),
        migrations.RunPython(_seed, migrations.RunPython.noop),
    ]
