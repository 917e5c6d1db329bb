"""Reads of creator-pair, catalogue and COCO imports, for the API and the staff pages."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from labeling.models import DataImport, PairImport

FOLDERS_LISTED = 50


def pair_import_list() -> QuerySet[PairImport]:
    """Every import, newest first."""
    return PairImport.objects.select_related("created_by").order_by("-created_at", "-pk")


def pair_import_get(*, job_id: int) -> PairImport | None:
    return pair_import_list().filter(pk=job_id).first()


def pair_image_folders() -> list[str]:
    """The folders directly under PAIR_IMAGE_ROOT (the first FOLDERS_LISTED by name), to offer as
    image sources."""
    root = Path(settings.PAIR_IMAGE_ROOT).resolve()
    if not root.is_dir():
        return []
    # A link out of the root would be refused as a source: do not offer it.
    return sorted(entry.name for entry in root.iterdir()
                  if entry.is_dir() and not entry.name.startswith(".") and entry.resolve().parent == root)[
        :FOLDERS_LISTED]


def data_import_list(*, kind: str | None = None) -> QuerySet[DataImport]:
    """Catalogue and COCO imports, newest first, optionally of one kind."""
    imports = DataImport.objects.select_related("created_by").order_by("-created_at", "-pk")
    return imports.filter(kind=kind) if kind else imports


def data_import_get(*, job_id: int) -> DataImport | None:
    return data_import_list().filter(pk=job_id).first()
