"""The export formats, each in its own module, and the one interface they share.

A format is declared once as an ``ExportFormat`` and registered with ``export_format_register``
at import of its module; ``export_format_modules`` lists those modules, so the registry is
complete once ``export_formats()`` has been called. The job machinery (``labeling/exports/jobs.py``)
knows nothing about any one format: it cleans the parameters, pins the provenance when the job is
created, and then hands the format a writer and a progress callback (labeling/exports/EXPORTS.md).

Image paths in every format are relative to ``MEDIA_ROOT`` (an ``Image.file`` name), so the
platform's own trainers read an export with ``images_dir=settings.MEDIA_ROOT`` and copy nothing.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import IO, Any, Callable

# Modules that register a format when imported. A new format adds its module here.
export_format_modules: list[str] = [
    "labeling.exports.format_coco",
    "labeling.exports.format_matching",
    "labeling.exports.format_attributes",
    "labeling.exports.format_qrels",
    "labeling.exports.format_single_product",
]

_FORMATS: dict[str, "ExportFormat"] = {}

FORMAT_UNKNOWN = "Unknown export format {name!r}; choose one of: {names}."


class ExportParamsError(ValueError):
    """Bad export parameters; ``field`` names the parameter (the API's 400 key)."""

    def __init__(self, message: str, field: str = "params") -> None:
        super().__init__(message)
        self.field = field


class ExportCancelled(RuntimeError):
    pass


@dataclass
class ExportContext:
    """What a format's ``write`` gets: the cleaned parameters, the provenance pinned at creation,
    a binary file to write to (the job's temporary file), and ``advance(n, step)`` to report ``n``
    more items done (it saves progress outside any transaction)."""

    job_id: int
    params: dict[str, Any]
    provenance: dict[str, Any]
    out: IO[bytes]
    advance: Callable[[int, str], None]


@dataclass(frozen=True)
class ExportFormat:
    name: str  # the API's ``format`` value
    label: str  # shown on pages
    description: str
    extension: str  # of the downloaded file: "json", "jsonl", "txt"
    content_type: str
    celery_queue: str  # config.queues name: "default", or "gpu" when the export runs a model
    # params (from the request) -> cleaned params; raises ExportParamsError
    params_clean: Callable[[dict], dict]
    # cleaned params -> provenance pinned at creation: queues, aggregation method, guide versions,
    # the last label id read, so that a rebuild reads exactly the same labels
    provenance_build: Callable[[dict], dict]
    # (params, provenance) -> number of items the write will advance through (the progress bar's total)
    items_count: Callable[[dict, dict], int]
    # writes the whole file to ctx.out in chunks; returns the report (records written, left out and why)
    write: Callable[[ExportContext], dict]


def export_format_register(export_format: ExportFormat) -> ExportFormat:
    _FORMATS[export_format.name] = export_format
    return export_format


def export_formats() -> dict[str, ExportFormat]:
    for module in export_format_modules:
        importlib.import_module(module)
    return dict(_FORMATS)


def export_format_get(name: str) -> ExportFormat:
    formats = export_formats()
    if name not in formats:
        raise ExportParamsError(FORMAT_UNKNOWN.format(name=name, names=", ".join(sorted(formats))), "format")
    return formats[name]
