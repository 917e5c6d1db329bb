"""Reads of guides, their versions and edge cases: the guide pages, the editor's preview, the
labelers' guide panel and the edge-case library. Each read is a constant number of queries."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings
from django.db.models import Count, OuterRef, QuerySet, Subquery

from labeling.calibration.guide_markdown import guide_edge_case_ids, guide_html
from labeling.models import EdgeCase, Guide, GuideVersion, TaskKind
from labeling.services.tasks import payload_media_names
from labeling.task_kinds import task_kind_spec


@dataclass
class GuideRow:
    task_kind: str
    label: str
    guide: Guide | None
    latest_version: int | None
    latest_at: object | None
    version_count: int


def guide_rows_by_kind() -> list[GuideRow]:
    """One row per task kind, with its guide's newest version (None: no guide yet); one query."""
    latest = GuideVersion.objects.filter(guide=OuterRef("pk")).order_by("-version")
    guides = {g.task_kind: g for g in Guide.objects.annotate(
        latest_version=Subquery(latest.values("version")[:1]),
        latest_at=Subquery(latest.values("created_at")[:1]),
        version_count=Count("versions")).order_by("pk")}
    rows = []
    for kind, label in TaskKind.choices:
        guide = guides.get(kind)
        rows.append(GuideRow(kind, label, guide, getattr(guide, "latest_version", None),
                             getattr(guide, "latest_at", None), getattr(guide, "version_count", 0)))
    return rows


def guide_versions(*, task_kind: str) -> QuerySet[GuideVersion]:
    """The kind's guide versions, newest first."""
    return (GuideVersion.objects.filter(guide__task_kind=task_kind).select_related("guide", "created_by")
            .order_by("-version"))


def guide_version_of(*, task_kind: str, version: int) -> GuideVersion | None:
    return guide_versions(task_kind=task_kind).filter(version=version).first()


@dataclass(frozen=True)
class DiffLine:
    tag: str  # "same", "added", "removed"
    text: str


def guide_diff(*, old: str, new: str) -> list[DiffLine]:
    """A line diff of two guide texts (the template escapes the text)."""
    lines = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        marker, text = line[:2], line[2:]
        if marker == "? ":
            continue  # ndiff's intraline hints
        lines.append(DiffLine({"  ": "same", "+ ": "added", "- ": "removed"}[marker], text))
    return lines


def payload_image_urls(payload) -> list[str]:
    """The stored images an item shows, as ``/media/`` URLs in a stable order."""
    return [settings.MEDIA_URL + quote(name) for name in sorted(set(payload_media_names(payload)))]


def edge_case_image_urls(*, ids: list[int]) -> dict[int, str]:
    """For guide text: each edge case's first image (one query)."""
    if not ids:
        return {}
    urls = {}
    for edge_case_id, payload in EdgeCase.objects.filter(pk__in=ids).values_list("pk", "payload"):
        images = payload_image_urls(payload)
        if images:
            urls[edge_case_id] = images[0]
    return urls


def guide_render(*, body: str) -> str:
    """A guide text's HTML with its edge-case images resolved (at most one query)."""
    return guide_html(body, image_urls=edge_case_image_urls(ids=guide_edge_case_ids(body)))


@dataclass
class EdgeCaseView:
    edge_case: EdgeCase
    images: list[str]
    answer_lines: list[str]


@dataclass
class RuleGroup:
    rule: str
    cases: list[EdgeCaseView] = field(default_factory=list)


def _edge_case_views(edge_cases) -> list[EdgeCaseView]:
    views = []
    for edge_case in edge_cases:
        spec = task_kind_spec(edge_case.task_kind)
        views.append(EdgeCaseView(edge_case, payload_image_urls(edge_case.payload),
                                  spec.answer_summary(payload=edge_case.payload, answer=edge_case.answer)))
    return views


def _by_rule(views: list[EdgeCaseView]) -> list[RuleGroup]:
    groups: dict[str, RuleGroup] = {}
    for view in views:
        groups.setdefault(view.edge_case.rule, RuleGroup(view.edge_case.rule)).cases.append(view)
    return sorted(groups.values(), key=lambda group: group.rule.lower())


def edge_cases_for_guide(*, guide_version: GuideVersion | None) -> list[RuleGroup]:
    """What a labeler sees in the guide panel of a queue under ``guide_version``: the edge cases of
    that version and the guide's older ones (never newer), grouped by rule; one query."""
    if guide_version is None:
        return []
    edge_cases = (EdgeCase.objects.filter(guide_version__guide_id=guide_version.guide_id,
                                          guide_version__version__lte=guide_version.version)
                  .select_related("guide_version").order_by("rule", "pk"))
    return _by_rule(_edge_case_views(edge_cases))


@dataclass
class KindGroup:
    task_kind: str
    label: str
    rules: list[RuleGroup]
    count: int


def edge_case_library() -> list[KindGroup]:
    """Every edge case, grouped by kind and then by rule (one query)."""
    edge_cases = EdgeCase.objects.select_related("guide_version", "created_by").order_by("task_kind", "rule", "pk")
    views_by_kind: dict[str, list[EdgeCaseView]] = {}
    for view in _edge_case_views(edge_cases):
        views_by_kind.setdefault(view.edge_case.task_kind, []).append(view)
    labels = dict(TaskKind.choices)
    return [KindGroup(kind, labels.get(kind, kind), _by_rule(views), len(views))
            for kind, views in views_by_kind.items()]
