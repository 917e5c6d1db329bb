"""COCO detection imports: a COCO JSON's images and boxes become box tasks to label (the boxes as
the task's proposals) or golden items of a box golden set (the boxes as the answer); see
labeling/imports/IMPORTS.md.

A COCO file is one JSON document, so its "rows" are the entries of its ``images``, ``annotations``
and ``categories`` arrays. ``coco_entries`` reads the document with the line on which each entry
starts, so every refusal names its line and its entry (``annotations[12]``). Category names map onto
the taxonomy (``labeling.taxonomy.category_map``); the names that do not are listed, and refuse the
import unless the user chose to leave their boxes out.
"""
from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field

from labeling.imports.catalogue import image_key_of
from labeling.imports.stl_pairs import ID_PATTERN
from labeling.taxonomy import TaxonomySnapshot, category_map

ARRAYS = ("images", "annotations", "categories")
BOX_DECIMALS = 2
# A box may stick out of its image by this much (pixels; float round-off of tools): it is clipped.
BOX_SLACK = 1.0

FILE_NOT_JSON = "The file is not a JSON document: {error}."
FILE_NOT_OBJECT = "A COCO file is a JSON object with 'images', 'annotations' and 'categories'."
FILE_ARRAY_MISSING = "A COCO file needs an '{key}' array."
FILE_NO_IMAGES = "The file's 'images' array is empty: nothing to import."
ENTRY_NOT_OBJECT = "{where}: not a JSON object."
ENTRY_KEY_MISSING = "{where}: '{key}' is missing."
ENTRY_ID_INVALID = "{where}: 'id' must be an integer or text."
ENTRY_ID_REPEATED = "{where}: id {id} is the id of {first} already."
IMAGE_FILE_NAME_INVALID = ("{where}: 'file_name' must name an image of the source: an id of letters, digits, "
                           "'_', '-', '.' or ':', optionally ending in .jpg or .png; it is '{file_name}'.")
IMAGE_SIZE_INVALID = "{where}: 'width' and 'height' must be positive integers."
IMAGE_UNKNOWN = "{where}: missing image: the image source has no image '{id}'."
IMAGE_UNUSABLE = "{where}: the image '{id}' cannot be used: {reason}"
IMAGE_SIZE_MISMATCH = "{where}: the file says {width}x{height} pixels, the image '{id}' is {actual_width}x{actual_height}."
IMAGE_REPEATED = "{where}: the image '{id}' is {first} already."
CATEGORY_NAME_INVALID = "{where}: 'name' must be text."
ANNOTATION_IMAGE_UNKNOWN = "{where}: image_id {id} is no image of the file."
ANNOTATION_CATEGORY_UNKNOWN = "{where}: category_id {id} is no category of the file."
ANNOTATION_BBOX_INVALID = "{where}: 'bbox' must be 4 numbers [x, y, width, height] with width and height above 0."
ANNOTATION_BBOX_OUTSIDE = "{where}: 'bbox' {bbox} lies outside its {width}x{height} image."
ANNOTATION_SCORE_INVALID = "{where}: 'score' must be a number from 0 to 1."
CATEGORIES_UNMAPPED = ("{count} categor{ies} of the file map onto no taxonomy category: {names}. Rename them (a slug, "
                       "name or path of the taxonomy), or import with their boxes left out.")
CATEGORY_UNMAPPED_ENTRY = "{where}: '{name}' is no taxonomy category; {boxes} box{es} use it."


@dataclass(frozen=True)
class Entry:
    array: str
    index: int
    line: int
    value: object

    @property
    def where(self) -> str:
        return f"{self.array}[{self.index}]"


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\n\r":
        position += 1
    return position


def coco_entries(text: str) -> dict[str, list[Entry] | None]:
    """The entries of the document's three arrays, each with the line it starts on (None for an
    array the document lacks or that is no array); ValueError for text that is no JSON object.

    A small scanner over the top-level object; every value is read by the standard decoder
    (``raw_decode``), so the JSON accepted is exactly ``json.loads``'s."""
    decoder = json.JSONDecoder()
    newlines = [index for index, char in enumerate(text) if char == "\n"]

    def line_of(position: int) -> int:
        return bisect.bisect_left(newlines, position) + 1

    def fail(position: int, reason: str):
        raise ValueError(FILE_NOT_JSON.format(error=f"{reason} (line {line_of(position)})"))

    found: dict[str, list[Entry] | None] = {key: None for key in ARRAYS}
    position = _skip_space(text, 0)
    if position >= len(text) or text[position] != "{":
        try:
            json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ValueError(FILE_NOT_JSON.format(error=str(error)[:200].rstrip("."))) from None
        raise ValueError(FILE_NOT_OBJECT)
    position = _skip_space(text, position + 1)
    if position < len(text) and text[position] == "}":
        return found
    while True:
        if position >= len(text) or text[position] != '"':
            fail(position, "expected a key")
        try:
            key, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            fail(position, str(error)[:120])
        position = _skip_space(text, position)
        if position >= len(text) or text[position] != ":":
            fail(position, "expected ':'")
        position = _skip_space(text, position + 1)
        if key in found and position < len(text) and text[position] == "[":
            entries, position = _array_entries(decoder, text, position, key, line_of, fail)
            found[key] = entries
        else:
            try:
                _, position = decoder.raw_decode(text, position)
            except (ValueError, RecursionError) as error:
                fail(position, str(error)[:120])
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)
            continue
        if position < len(text) and text[position] == "}":
            break
        fail(position, "expected ',' or '}'")
    if _skip_space(text, position + 1) != len(text):
        fail(position + 1, "extra data after the object")
    return found


def _array_entries(decoder, text, position, key, line_of, fail):
    entries = []
    position = _skip_space(text, position + 1)
    if position < len(text) and text[position] == "]":
        return entries, position + 1
    while True:
        start = position
        try:
            value, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError) as error:
            fail(position, str(error)[:120])
        entries.append(Entry(key, len(entries), line_of(start), value))
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)
            continue
        if position < len(text) and text[position] == "]":
            return entries, position + 1
        fail(position, "expected ',' or ']'")


@dataclass(frozen=True)
class EntryError:
    line: int
    item: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "item": self.item, "message": self.message}


@dataclass
class CocoImage:
    entry: Entry
    key: str  # the image source's id
    width: int
    height: int
    boxes: list[dict] = field(default_factory=list)  # [{"box": [x0, y0, x1, y1], "category": slug, "score"}]


@dataclass
class CocoPlan:
    """What a checked file stores: its images in file order, with their boxes."""

    images: list[CocoImage]
    boxes: int
    crowd_left_out: int
    unmapped: dict[str, int]  # category name -> its boxes left out
    errors: list[EntryError]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _valid_id(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and bool(value))


def _entries_with_ids(entries: list[Entry], required: tuple[str, ...], errors: list[EntryError]) -> list[Entry]:
    """The object entries that have the keys and a unique id; the others are refused."""
    kept, first_of = [], {}
    for entry in entries:
        where = entry.where
        if not isinstance(entry.value, dict):
            errors.append(EntryError(entry.line, where, ENTRY_NOT_OBJECT.format(where=where)))
            continue
        missing = [key for key in ("id", *required) if key not in entry.value]
        if missing:
            errors.append(EntryError(entry.line, where, ENTRY_KEY_MISSING.format(where=where, key=missing[0])))
            continue
        if not _valid_id(entry.value["id"]):
            errors.append(EntryError(entry.line, where, ENTRY_ID_INVALID.format(where=where)))
            continue
        identity = entry.value["id"]
        first = first_of.setdefault(identity, entry)
        if first is not entry:
            errors.append(EntryError(entry.line, where, ENTRY_ID_REPEATED.format(where=where, id=json.dumps(identity),
                                                                                 first=first.where)))
            continue
        kept.append(entry)
    return kept


def coco_file_check(entries: dict[str, list[Entry] | None], *, snapshot: TaxonomySnapshot, image_check,
                    skip_unmapped: bool, progress=None) -> CocoPlan:
    """Check every entry (``image_check(key) -> (width, height)``, or ValueError saying why the
    image cannot be used; ``progress(done)`` after each image); returns the plan with its errors,
    sorted by line. ValueError for a file that lacks an array or holds no image."""
    for key in ARRAYS:
        if entries.get(key) is None:
            raise ValueError(FILE_ARRAY_MISSING.format(key=key))
    if not entries["images"]:
        raise ValueError(FILE_NO_IMAGES)
    errors: list[EntryError] = []

    categories = _entries_with_ids(entries["categories"], ("name",), errors)
    category_name: dict[object, str] = {}
    category_entry: dict[object, Entry] = {}
    for entry in categories:
        name = entry.value["name"]
        if not isinstance(name, str) or not name.strip():
            errors.append(EntryError(entry.line, entry.where, CATEGORY_NAME_INVALID.format(where=entry.where)))
            continue
        category_name[entry.value["id"]] = name
        category_entry[entry.value["id"]] = entry
    slug_of, _ = category_map(sorted(set(category_name.values())), snapshot=snapshot)

    images: dict[object, CocoImage] = {}
    first_image_of_key: dict[str, Entry] = {}
    done = 0
    for entry in _entries_with_ids(entries["images"], ("file_name", "width", "height"), errors):
        value, where = entry.value, entry.where
        file_name = value["file_name"]
        key = image_key_of(file_name.rsplit("/", 1)[-1]) if isinstance(file_name, str) else ""
        if not ID_PATTERN.fullmatch(key):
            errors.append(EntryError(entry.line, where, IMAGE_FILE_NAME_INVALID.format(
                where=where, file_name=str(file_name)[:100])))
            continue
        width, height = value["width"], value["height"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            errors.append(EntryError(entry.line, where, IMAGE_SIZE_INVALID.format(where=where)))
            continue
        first = first_image_of_key.setdefault(key, entry)
        if first is not entry:
            errors.append(EntryError(entry.line, where, IMAGE_REPEATED.format(where=where, id=key, first=first.where)))
            continue
        try:
            actual_width, actual_height = image_check(key)
        except LookupError:
            errors.append(EntryError(entry.line, where, IMAGE_UNKNOWN.format(where=where, id=key)))
            continue
        except ValueError as error:
            errors.append(EntryError(entry.line, where, IMAGE_UNUSABLE.format(where=where, id=key, reason=error)))
            continue
        if (actual_width, actual_height) != (width, height):
            errors.append(EntryError(entry.line, where, IMAGE_SIZE_MISMATCH.format(
                where=where, id=key, width=width, height=height, actual_width=actual_width,
                actual_height=actual_height)))
            continue
        images[value["id"]] = CocoImage(entry=entry, key=key, width=width, height=height)
        done += 1
        if progress is not None:
            progress(done)

    boxes, crowd, unmapped = 0, 0, {}
    image_ids = {entry.value["id"] for entry in entries["images"] if isinstance(entry.value, dict) and "id" in entry.value
                 and _valid_id(entry.value["id"])}
    for entry in _entries_with_ids(entries["annotations"], ("image_id", "category_id", "bbox"), errors):
        value, where = entry.value, entry.where
        image_id, category_id, bbox = value["image_id"], value["category_id"], value["bbox"]
        if not _valid_id(image_id) or image_id not in image_ids:
            errors.append(EntryError(entry.line, where, ANNOTATION_IMAGE_UNKNOWN.format(where=where,
                                                                                        id=json.dumps(image_id))))
            continue
        if not _valid_id(category_id) or category_id not in category_name:
            errors.append(EntryError(entry.line, where, ANNOTATION_CATEGORY_UNKNOWN.format(
                where=where, id=json.dumps(category_id))))
            continue
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)
                and bbox[2] > 0 and bbox[3] > 0):
            errors.append(EntryError(entry.line, where, ANNOTATION_BBOX_INVALID.format(where=where)))
            continue
        score = value.get("score", 1.0)
        if not _is_number(score) or not 0 <= score <= 1:
            errors.append(EntryError(entry.line, where, ANNOTATION_SCORE_INVALID.format(where=where)))
            continue
        image = images.get(image_id)
        if image is None:
            continue  # its image is refused already
        x, y, width, height = (float(v) for v in bbox)
        box = [x, y, x + width, y + height]
        if (box[0] < -BOX_SLACK or box[1] < -BOX_SLACK or box[2] > image.width + BOX_SLACK
                or box[3] > image.height + BOX_SLACK):
            errors.append(EntryError(entry.line, where, ANNOTATION_BBOX_OUTSIDE.format(
                where=where, bbox=json.dumps(bbox), width=image.width, height=image.height)))
            continue
        box = [round(min(max(box[0], 0.0), image.width), BOX_DECIMALS),
               round(min(max(box[1], 0.0), image.height), BOX_DECIMALS),
               round(min(max(box[2], 0.0), image.width), BOX_DECIMALS),
               round(min(max(box[3], 0.0), image.height), BOX_DECIMALS)]
        if value.get("iscrowd") in (1, True):
            crowd += 1  # a crowd region is no one product: left out, and counted
            continue
        name = category_name[category_id]
        if name not in slug_of:
            unmapped[name] = unmapped.get(name, 0) + 1
            continue
        image.boxes.append({"box": box, "category": slug_of[name], "score": float(score)})
        boxes += 1
    if unmapped and not skip_unmapped:
        for category_id, name in category_name.items():
            if name in unmapped:
                entry = category_entry[category_id]
                count = unmapped[name]
                errors.append(EntryError(entry.line, entry.where, CATEGORY_UNMAPPED_ENTRY.format(
                    where=entry.where, name=name, boxes=count, es="" if count == 1 else "es")))
    errors.sort(key=lambda error: (error.line, error.item))
    return CocoPlan(images=sorted(images.values(), key=lambda image: image.entry.index), boxes=boxes,
                    crowd_left_out=crowd, unmapped=dict(sorted(unmapped.items())), errors=errors)


def unmapped_message(unmapped: dict[str, int]) -> str:
    names = ", ".join(f"'{name}'" for name in unmapped)
    count = len(unmapped)
    return CATEGORIES_UNMAPPED.format(count=count, ies="y" if count == 1 else "ies", names=names)
