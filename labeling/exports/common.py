"""Pieces every queue format shares: canonical JSON bytes, the images of a page of tasks, the
``seed`` parameter and the queue-format provenance (labeling/exports/EXPORTS.md)."""
from __future__ import annotations

import json

from labeling.exports.registry import ExportParamsError
from labeling.models import Image
from labeling.services.tasks import payload_media_names

SEED_INVALID = "'seed' must be a whole number from 0 to 2147483647."
OPTION_NOT_BOOLEAN = "'{name}' must be true or false."
PARAM_UNKNOWN = "Unknown parameter {name!r} for this format; it takes: {names}."


def json_bytes(value) -> bytes:
    """One value as compact JSON with sorted keys: the same record is always the same bytes."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def params_known(params: dict, names: tuple[str, ...]) -> None:
    for name in params:
        if name not in names:
            # Named under "params" itself: an unknown name is not a field the API could document.
            raise ExportParamsError(PARAM_UNKNOWN.format(name=name, names=", ".join(names)), "params")


def seed_clean(params: dict) -> int:
    seed = params.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2**31 - 1:
        raise ExportParamsError(SEED_INVALID, "seed")
    return seed


def boolean_clean(params: dict, name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise ExportParamsError(OPTION_NOT_BOOLEAN.format(name=name), name)
    return value


def media_name(image_payload: dict | None) -> str | None:
    """The storage name (relative to MEDIA_ROOT) of an image a payload shows by URL."""
    return next(payload_media_names((image_payload or {}).get("url")), None)


def images_by_name(names: set[str]) -> dict[str, tuple[int, int, int]]:
    """name -> (image id, width, height) of stored images, one query."""
    return {name: (pk, width, height) for pk, name, width, height in
            Image.objects.filter(file__in=names).values_list("pk", "file", "width", "height")}


def images_by_id(ids: set[int]) -> dict[int, tuple[str, int, int]]:
    """image id -> (name, width, height), one query."""
    return {pk: (name, width, height) for pk, name, width, height in
            Image.objects.filter(pk__in=ids).values_list("pk", "file", "width", "height")}
