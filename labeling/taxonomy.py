"""The taxonomy and the attribute schema as the platform validates against them: the database rows.

``Category`` and ``Attribute`` rows are the one source of truth; an edit in the admin (or through
any code that saves the models) takes effect at once in answer validation. ``fixtures/`` only
seeds the rows: the data migration ``0004_seed_taxonomy`` on install, ``taxonomy_seed()`` for
flushed test databases, ``world_import`` and the demo. ``models_runtime.taxonomy`` keeps reading
the fixtures, because models are trained on that fixed list and models_runtime never imports
Django.

Caching. Validation runs on every label submit, so the rows are read into a frozen
``TaxonomySnapshot`` that is cached in the process. It must go stale nowhere: gunicorn and Celery
run many processes, and no shared cache is configured (``config/settings.py`` sets no ``CACHES``,
so Django's cache is a per-process LocMem; Redis, when present, is only Celery's broker). So the
database says when the cache is stale: the single ``TaxonomyVersion`` row holds a token that
signal receivers replace whenever a Category or Attribute row is saved or deleted or an
attribute's categories change. Each call costs one primary-key query for the token; the snapshot
is reloaded (three more queries) only when the token differs from the one it was loaded under.

- The token is random, not a counter: a counter bumped inside a transaction that rolls back
  falls back to a value the next change reaches again, and the cache would take the rolled-back
  snapshot for the current one. A token that was rolled back never comes back.
- The token is read before the rows. A change commits its rows no later than its token, so rows
  read after a token are at least as new as it; at worst a snapshot newer than its token is
  cached, and the next call reloads it.
- The receivers change the token and nothing else. Writes that send no signals
  (``QuerySet.update``, ``bulk_create``, raw SQL) must call ``taxonomy_changed()`` themselves.
- A flushed table (transactional tests) has no token row: that reads as ``None``, which differs
  from any token a snapshot was cached under, and the next change writes the row again.

Answer validation accepts any Category row's slug (leaves and inner nodes alike); pickers offer
the leaves (``category_choices``). An attribute applies to the categories it is linked to, not
to their descendants.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils.text import slugify

from labeling.models import Attribute, Category, TaxonomyVersion
from models_runtime import taxonomy as fixture_taxonomy

CATEGORY_LIST_INVALID = ("'categories' must be a non-empty list of distinct category names (strings), the "
                         "model's classes in label order.")
CATEGORY_LIST_WRONG_COUNT = ("'categories' names {count} categories, but the detector has {num_classes} classes: "
                             "it needs num_classes - 1 = {expected} names, label 0 being the background.")
CATEGORY_LIST_UNMAPPED = ("These model categories are not categories of the platform's taxonomy (a slug, name or "
                          "full path of a category, ignoring case): {categories}.")

TAXONOMY_VERSION_ROW = 1
# The level of a path that names its coarse category (as models_runtime.taxonomy.Category.coarse).
COARSE_LEVEL = 2
PATH_SEPARATOR = "|"


class CategoryListError(ValueError):
    """A model's category list does not fit the platform's taxonomy; ``str(error)`` says why."""


@dataclass(frozen=True)
class TaxonomyCategory:
    slug: str
    name: str
    path: str
    level: int
    parent: str | None   # the parent's slug
    coarse: str          # the slug of the level-2 ancestor (the category itself at levels 1 and 2)


@dataclass(frozen=True)
class TaxonomyAttribute:
    name: str
    label: str
    values: tuple
    categories: tuple[str, ...]   # slugs of the categories it applies to, in path order


@dataclass(frozen=True)
class TaxonomySnapshot:
    token: str | None
    categories: Mapping[str, TaxonomyCategory]   # by slug, in path order
    leaves: tuple[str, ...]                        # slugs of the categories without children, in path order
    attributes: tuple[TaxonomyAttribute, ...]      # in creation order (the fixture's order for seeded ones)

    def attributes_for(self, category_slug: str) -> tuple[TaxonomyAttribute, ...]:
        return tuple(a for a in self.attributes if category_slug in a.categories)


_cached: TaxonomySnapshot | None = None


# -- reading ------------------------------------------------------------------------------------

def _current_token() -> str | None:
    return TaxonomyVersion.objects.filter(pk=TAXONOMY_VERSION_ROW).values_list("token", flat=True).first()


def _coarse_pk(pk: int, parent_of: dict[int, int | None]) -> int:
    """The level-2 ancestor of row ``pk`` along the parent links (the row itself at levels 1 and 2)."""
    chain = [pk]  # from the row up to its root
    while parent_of[chain[-1]] in parent_of and parent_of[chain[-1]] not in chain:  # a cycle made in the admin stops
        chain.append(parent_of[chain[-1]])
    return chain[-COARSE_LEVEL] if len(chain) >= COARSE_LEVEL else chain[-1]


def _snapshot_load(token: str | None) -> TaxonomySnapshot:
    rows = list(Category.objects.order_by("path").values_list("pk", "slug", "name", "path", "level", "parent_id"))
    slug_of = {pk: slug for pk, slug, *_ in rows}
    parent_of = {pk: parent_id for pk, *_, parent_id in rows}
    categories = {
        slug: TaxonomyCategory(slug=slug, name=name, path=path, level=level, parent=slug_of.get(parent_id),
                               coarse=slug_of[_coarse_pk(pk, parent_of)])
        for pk, slug, name, path, level, parent_id in rows}
    has_children = set(parent_of.values())
    order = {pk: index for index, pk in enumerate(slug_of)}
    linked: dict[int, list[int]] = {}
    for attribute_id, category_id in Attribute.categories.through.objects.values_list("attribute_id", "category_id"):
        # A link to a category made after the categories were read waits for the next reload.
        if category_id in order:
            linked.setdefault(attribute_id, []).append(category_id)
    attributes = tuple(
        TaxonomyAttribute(name=name, label=label, values=tuple(values) if isinstance(values, list) else (),
                          categories=tuple(slug_of[c] for c in sorted(linked.get(pk, ()), key=order.__getitem__)))
        for pk, name, label, values in Attribute.objects.order_by("pk").values_list("pk", "name", "label", "values"))
    return TaxonomySnapshot(token=token, categories=MappingProxyType(categories),
                            leaves=tuple(slug for pk, slug in slug_of.items() if pk not in has_children),
                            attributes=attributes)


def taxonomy_snapshot() -> TaxonomySnapshot:
    """The taxonomy as the rows hold it now: one query while nothing changed, four after a change."""
    global _cached
    token = _current_token()
    snapshot = _cached
    if snapshot is None or snapshot.token != token:
        snapshot = _cached = _snapshot_load(token)
    return snapshot


def category_exists(slug) -> bool:
    return isinstance(slug, str) and slug in taxonomy_snapshot().categories


def category_coarse(slug: str) -> str | None:
    """The slug of the category's coarse (level-2) category, or None for an unknown slug."""
    category = taxonomy_snapshot().categories.get(slug)
    return category.coarse if category is not None else None


def attributes_for(category_slug: str) -> tuple[TaxonomyAttribute, ...]:
    """The attributes that apply to the category, in schema order (none for an unknown slug)."""
    return taxonomy_snapshot().attributes_for(category_slug)


def category_choices() -> list[dict[str, str]]:
    """``{"slug", "name", "coarse" (the coarse category's name), "coarse_slug"}`` of every leaf
    category, in path order, for pickers."""
    snapshot = taxonomy_snapshot()
    return [{"slug": slug, "name": snapshot.categories[slug].name,
             "coarse": snapshot.categories[snapshot.categories[slug].coarse].name,
             "coarse_slug": snapshot.categories[slug].coarse}
            for slug in snapshot.leaves]


def _normalized(text: str) -> str:
    # Google's own notation separates levels with " > "; the platform's paths use "|".
    levels = text.replace(">", PATH_SEPARATOR).split(PATH_SEPARATOR)
    return PATH_SEPARATOR.join(level.strip() for level in levels).casefold()


def category_map(names: Iterable[str], *, snapshot: TaxonomySnapshot | None = None) -> tuple[dict[str, str], list[str]]:
    """Map outside category names (a model's classes) onto the platform's categories.

    A name maps when it is, ignoring case, the slug, the full path or the name of a Category row
    (tried in that order); a coarse category matches as well as a fine one, and the fine ones roll
    up to it through ``TaxonomyCategory.coarse``. A name that is the name of several rows and
    neither a slug nor a path is ambiguous and does not map. Returns ``(name -> slug, the names
    that do not map, in the order given)``.
    """
    snapshot = snapshot or taxonomy_snapshot()
    by_slug = {slug.casefold(): slug for slug in snapshot.categories}
    by_path = {_normalized(c.path): c.slug for c in snapshot.categories.values()}
    by_name: dict[str, list[str]] = {}
    for category in snapshot.categories.values():
        by_name.setdefault(category.name.strip().casefold(), []).append(category.slug)
    mapped: dict[str, str] = {}
    unmapped: list[str] = []
    for name in names:
        key = _normalized(name) if isinstance(name, str) else None
        slug = None
        if key:
            slug = by_slug.get(key) or by_path.get(key)
            if slug is None and len(by_name.get(key, ())) == 1:
                slug = by_name[key][0]
        if slug is None:
            unmapped.append(name)
        else:
            mapped[name] = slug
    return mapped, unmapped


def category_names_quoted(names: Iterable[str]) -> str:
    # Quoted: a taxonomy name may itself hold a comma ("Handbags, Wallets & Cases").
    return ", ".join(f"'{name}'" for name in names)


def category_list_map(categories, *, num_classes: int | None = None) -> dict[str, str]:
    """Check a model's category list (its class names, detector label i + 1 = ``categories[i]``)
    and return the map of each onto a platform slug (``category_map``). ``num_classes``: the
    detector's class count, background included. Raises ``CategoryListError`` naming every
    category that does not map."""
    if (not isinstance(categories, list) or not categories
            or not all(isinstance(c, str) and c.strip() for c in categories)
            or len(set(categories)) != len(categories)):
        raise CategoryListError(CATEGORY_LIST_INVALID)
    if num_classes is not None and len(categories) != num_classes - 1:
        raise CategoryListError(CATEGORY_LIST_WRONG_COUNT.format(
            count=len(categories), num_classes=num_classes, expected=num_classes - 1))
    mapped, unmapped = category_map(categories)
    if unmapped:
        raise CategoryListError(CATEGORY_LIST_UNMAPPED.format(categories=category_names_quoted(unmapped)))
    return mapped


# -- change tracking ----------------------------------------------------------------------------

def taxonomy_changed() -> None:
    """Give the taxonomy a new token, so every process reloads its snapshot on its next call."""
    TaxonomyVersion.objects.bulk_create(
        [TaxonomyVersion(pk=TAXONOMY_VERSION_ROW, token=uuid.uuid4().hex)],
        update_conflicts=True, unique_fields=["id"], update_fields=["token"])


def _taxonomy_changed_receiver(sender, **kwargs) -> None:
    taxonomy_changed()


def _taxonomy_links_changed_receiver(sender, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        taxonomy_changed()


def taxonomy_receivers_connect() -> None:
    """Called from ``LabelingConfig.ready``."""
    for model in (Category, Attribute):
        post_save.connect(_taxonomy_changed_receiver, sender=model, dispatch_uid=f"taxonomy_saved_{model.__name__}")
        post_delete.connect(_taxonomy_changed_receiver, sender=model, dispatch_uid=f"taxonomy_deleted_{model.__name__}")
    m2m_changed.connect(_taxonomy_links_changed_receiver, sender=Attribute.categories.through,
                        dispatch_uid="taxonomy_attribute_categories")


# -- seeding ------------------------------------------------------------------------------------

def _fixture_category_nodes() -> list[tuple[str, str, str, int, str | None]]:
    """(slug, name, path, level, parent path) for every node of the fixture tree, parents first.
    The fixture names leaves only; every prefix of a leaf's path is a node too."""
    leaf_slug = {c.path: c.slug for c in fixture_taxonomy.categories()}
    nodes: dict[str, tuple[str, str, str, int, str | None]] = {}
    for category in fixture_taxonomy.categories():
        levels = category.path.split(PATH_SEPARATOR)
        for depth in range(1, len(levels) + 1):
            path = PATH_SEPARATOR.join(levels[:depth])
            if path not in nodes:
                slug = leaf_slug.get(path) or slugify(path.replace(PATH_SEPARATOR, " "))
                nodes[path] = (slug, levels[depth - 1], path, depth, PATH_SEPARATOR.join(levels[:depth - 1]) or None)
    return sorted(nodes.values(), key=lambda node: (node[3], node[2]))


def taxonomy_seed() -> tuple[int, int]:
    """Create the fixture's Category tree and Attribute rows where missing; returns how many
    categories and attributes were created. Rows that exist are left as they are (an edit made
    in the admin is kept), so running it again changes nothing."""
    created_categories = created_attributes = 0
    with transaction.atomic():
        by_path = {c.path: c for c in Category.objects.all()}
        by_slug = {c.slug: c for c in by_path.values()}
        for slug, name, path, level, parent_path in _fixture_category_nodes():
            if path in by_path:
                continue
            if slug in by_slug:  # the node is there under another path (moved or renamed in the admin)
                by_path[path] = by_slug[slug]
                continue
            by_path[path] = by_slug[slug] = Category.objects.create(
                slug=slug, name=name, path=path, level=level, parent=by_path[parent_path] if parent_path else None)
            created_categories += 1
        fixture_path = {c.slug: c.path for c in fixture_taxonomy.categories()}
        for attribute in fixture_taxonomy.attributes():
            row, created = Attribute.objects.get_or_create(
                name=attribute.name, defaults={"label": attribute.label, "values": list(attribute.values)})
            if created:
                row.categories.set([by_path[fixture_path[slug]] for slug in attribute.categories])
                created_attributes += 1
    return created_categories, created_attributes
