"""Product catalogue imports: CSV or JSON lines, one product per row (labeling/imports/IMPORTS.md).

Columns (CSV header, or JSON keys): ``id``, ``image``, ``category``, ``gender``, ``price``,
``merchant`` and optionally ``merchant_provided_category`` (false when left out) and, in JSON lines
only, ``attributes`` (an object of attribute -> value). ``image`` is an id of the image source (a
folder under PAIR_IMAGE_ROOT holding ``<id>.jpg`` or ``<id>.png``, or the synthetic world's product
ids); a name with its ``.jpg`` or ``.png`` ending is taken as its id.

Two parts: ``CatalogueRowChecker`` checks one row at a time, pure (it asks the taxonomy snapshot
and the image source); ``catalogue_products_write`` stores the checked rows (called by
labeling/imports/data_jobs.py inside the import's one transaction).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from labeling.imports.stl_pairs import ID_PATTERN, LineError
from labeling.models import Gender, ImageKind, Product
from labeling.services.images import images_store
from labeling.taxonomy import TaxonomySnapshot, category_map

FORMATS = ("csv", "jsonl")
REQUIRED_COLUMNS = ("id", "image", "category", "gender", "price", "merchant")
FLAG_COLUMN = "merchant_provided_category"
ATTRIBUTES_COLUMN = "attributes"
ID_MAX_LENGTH = 100  # Product.external_id
MERCHANT_MAX_LENGTH = 120  # Product.merchant
PRICE_MAX = Decimal("99999999.99")  # Product.price: 10 digits, 2 after the point
IMAGE_ENDINGS = (".jpg", ".png")
FLAG_TRUE = {"true", "1", "yes", "y"}
FLAG_FALSE = {"false", "0", "no", "n", ""}

FORMAT_UNKNOWN = "A catalogue is 'csv' or 'jsonl'; '{format}' is neither."
CSV_HEADER_MISSING = "The CSV header lacks the column{s} {columns}: it needs " + ", ".join(REQUIRED_COLUMNS) + "."
CSV_NOT_READABLE = "The CSV cannot be read: {error}."
ROW_NOT_JSON = "Not JSON: {error}."
ROW_NOT_OBJECT = "Not a JSON object: each line is one product, {\"id\", \"image\", \"category\", ...}."
ROW_COLUMNS_EXTRA = "The row has more cells than the header has columns."
ROW_VALUE_MISSING = "'{column}' is missing."
ROW_ID_INVALID = (f"'id' must be text of 1 to {ID_MAX_LENGTH} letters, digits, '_', '-', '.' or ':', starting with "
                  "a letter, a digit or '_'.")
ROW_ID_REPEATED = "Duplicate product: 'id' '{id}' is on line {first} already."
ROW_CATEGORY_UNKNOWN = ("Unknown category '{category}': give a slug, a name or a path of the taxonomy "
                        "(e.g. 'tops' or 'Apparel & Accessories|Shoes').")
ROW_GENDER_UNKNOWN = "Unknown gender '{gender}': one of " + ", ".join(Gender.values) + "."
ROW_PRICE_INVALID = f"'price' must be a number from 0 to {PRICE_MAX} with at most 2 decimals; it is '{{price}}'."
ROW_MERCHANT_INVALID = f"'merchant' must be text of 1 to {MERCHANT_MAX_LENGTH} characters."
ROW_FLAG_INVALID = f"'{FLAG_COLUMN}' must be true or false; it is '{{value}}'."
ROW_ATTRIBUTES_INVALID = "'attributes' must be an object of attribute -> text (or a list of texts)."
ROW_IMAGE_INVALID_ID = "'image' must be an image id (or its file name ending in .jpg or .png)."
ROW_IMAGE_UNKNOWN = "Missing image: the image source has no image '{id}'."
ROW_IMAGE_UNUSABLE = "The image '{id}' cannot be used: {reason}"


def catalogue_format_guess(*, file_name: str) -> str:
    """``jsonl`` for a .jsonl / .json / .ndjson file, else ``csv``."""
    return "jsonl" if file_name.lower().endswith((".jsonl", ".json", ".ndjson")) else "csv"


def catalogue_rows(text: str, *, file_format: str) -> list[tuple[int, dict | LineError]]:
    """The file's rows with their line numbers (1-based; a CSV header is line 1): a dict of raw
    values, or the row's refusal. ValueError for a file that cannot be read as the format."""
    if file_format == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as error:
                rows.append((number, LineError(number, ROW_NOT_JSON.format(error=str(error)[:200].rstrip(".")))))
                continue
            rows.append((number, record if isinstance(record, dict) else LineError(number, ROW_NOT_OBJECT)))
        return rows
    if file_format != "csv":
        raise ValueError(FORMAT_UNKNOWN.format(format=file_format))
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise ValueError(CSV_HEADER_MISSING.format(s="s" if len(missing) > 1 else "",
                                                       columns=", ".join(missing)))
        reader.fieldnames = header
        rows = []
        for record in reader:
            number = reader.line_num
            if not any((value or "").strip() for key, value in record.items() if key != "\x00extra"):
                continue  # a blank line
            if "\x00extra" in record:
                rows.append((number, LineError(number, ROW_COLUMNS_EXTRA)))
            else:
                rows.append((number, record))
        return rows
    except csv.Error as error:
        raise ValueError(CSV_NOT_READABLE.format(error=error)) from None


@dataclass(frozen=True)
class CatalogueRow:
    line: int
    external_id: str
    image_key: str
    category: str  # a slug
    gender: str
    price: Decimal
    merchant: str
    merchant_provided_category: bool
    attributes: dict | None  # None: the row does not set them


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _price(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not price.is_finite() or price < 0 or price > PRICE_MAX or price != price.quantize(Decimal("0.01")):
        return None
    return price.quantize(Decimal("0.01"))


def _flag(value) -> bool | None:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in FLAG_TRUE | FLAG_FALSE:
        return value.strip().lower() in FLAG_TRUE
    return None


def _attributes_valid(value) -> bool:
    if not isinstance(value, dict):
        return False
    for key, entry in value.items():
        if not isinstance(key, str) or not key:
            return False
        if not (isinstance(entry, str) or (isinstance(entry, list) and all(isinstance(v, str) for v in entry))):
            return False
    return True


def image_key_of(value: str) -> str:
    """An image column's id: a file name loses its .jpg or .png ending."""
    for ending in IMAGE_ENDINGS:
        if value.lower().endswith(ending):
            return value[:-len(ending)]
    return value


class CatalogueRowChecker:
    """Checks rows one at a time, each refused for the first rule it breaks (IMPORTS.md's table);
    keeps the first line of each id, so a repeat names it."""

    def __init__(self, *, snapshot: TaxonomySnapshot, image_known):
        self.snapshot = snapshot
        self.image_known = image_known
        self.first_line_of: dict[str, int] = {}
        self._slug_of: dict[str, str | None] = {}

    def _slug(self, name: str) -> str | None:
        if name not in self._slug_of:
            mapped, _ = category_map([name], snapshot=self.snapshot)
            self._slug_of[name] = mapped.get(name)
        return self._slug_of[name]

    def check(self, number: int, record: dict) -> CatalogueRow | LineError:
        def refused(message: str) -> LineError:
            return LineError(number, message)

        values = {column: _text(record.get(column)) for column in REQUIRED_COLUMNS}
        for column in REQUIRED_COLUMNS:
            if not values[column]:
                return refused(ROW_VALUE_MISSING.format(column=column))
        external_id = values["id"]
        if len(external_id) > ID_MAX_LENGTH or not ID_PATTERN.fullmatch(external_id):
            return refused(ROW_ID_INVALID)
        first = self.first_line_of.setdefault(external_id, number)
        if first != number:
            return refused(ROW_ID_REPEATED.format(id=external_id, first=first))
        slug = self._slug(values["category"])
        if slug is None:
            return refused(ROW_CATEGORY_UNKNOWN.format(category=values["category"][:100]))
        gender = values["gender"].lower()
        if gender not in Gender.values:
            return refused(ROW_GENDER_UNKNOWN.format(gender=values["gender"][:40]))
        price = _price(record.get("price"))
        if price is None:
            return refused(ROW_PRICE_INVALID.format(price=str(record.get("price"))[:40]))
        if len(values["merchant"]) > MERCHANT_MAX_LENGTH:
            return refused(ROW_MERCHANT_INVALID)
        flag = _flag(record.get(FLAG_COLUMN))
        if flag is None:
            return refused(ROW_FLAG_INVALID.format(value=str(record.get(FLAG_COLUMN))[:40]))
        attributes = record.get(ATTRIBUTES_COLUMN)
        if attributes is not None and not _attributes_valid(attributes):
            return refused(ROW_ATTRIBUTES_INVALID)
        image_key = image_key_of(values["image"])
        if not ID_PATTERN.fullmatch(image_key):
            return refused(ROW_IMAGE_INVALID_ID)
        if not self.image_known("product", image_key):
            return refused(ROW_IMAGE_UNKNOWN.format(id=image_key))
        return CatalogueRow(number, external_id, image_key, slug, gender, price, values["merchant"], flag,
                            attributes)


def catalogue_products_write(*, rows: list[CatalogueRow], pngs: dict[str, bytes], categories: dict[str, object],
                             batch_size: int = 1000) -> dict:
    """Create the rows' new products and update the changed ones (call inside a transaction);
    ``pngs``: image id -> the PNG to store, ``categories``: slug -> Category. Returns the counts."""
    keys = sorted({row.image_key for row in rows})
    images = dict(zip(keys, images_store(items=[(pngs[key], ImageKind.PRODUCT) for key in keys])))
    existing = {}
    ids = [row.external_id for row in rows]
    for start in range(0, len(ids), batch_size):
        existing.update({p.external_id: p for p in Product.objects.filter(external_id__in=ids[start:start + batch_size])})
    created, changed = [], []
    fields = ("image_id", "category_id", "gender", "price", "merchant", "merchant_provided_category", "attributes")
    for row in rows:
        values = {"image_id": images[row.image_key].pk, "category_id": categories[row.category].pk,
                  "gender": row.gender, "price": row.price, "merchant": row.merchant,
                  "merchant_provided_category": row.merchant_provided_category}
        product = existing.get(row.external_id)
        if product is None:
            created.append(Product(external_id=row.external_id, attributes=row.attributes or {}, **values))
            continue
        if row.attributes is not None:
            values["attributes"] = row.attributes
        if any(getattr(product, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(product, name, value)
            changed.append(product)
    Product.objects.bulk_create(created, batch_size=batch_size)
    if changed:
        Product.objects.bulk_update(changed, fields=list(fields), batch_size=batch_size)
    return {"products_created": len(created), "products_updated": len(changed),
            "products_unchanged": len(rows) - len(created) - len(changed), "images": len(keys)}
