"""Content-addressed image storage: an image is named by the sha256 of its PNG bytes.

The same bytes always map to the same ``Image`` row and the same file
(``images/ab/cd/<sha>.png``), so re-importing a world or regenerating a crop stores nothing new.
A file written inside a transaction that later rolls back stays on disk without a row; that is
harmless, because the retry computes the same name and reuses the file instead of writing a copy.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Image, ImageKind

UNKNOWN_IMAGE_KIND_ERROR = "unknown image kind {kind!r}; expected one of {kinds}"
NOT_AN_IMAGE_ERROR = "the bytes given are not an image PIL can read: {reason}"


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    sha256: str
    width: int
    height: int


def image_png_bytes(picture: PILImage.Image) -> bytes:
    """PNG bytes of a PIL image; the encoder settings are fixed so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def image_storage_name(sha256: str) -> str:
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.png"


def image_encode(*, data: bytes) -> EncodedImage:
    try:
        with PILImage.open(io.BytesIO(data)) as picture:
            width, height = picture.size
    except (OSError, ValueError) as error:
        raise ValueError(NOT_AN_IMAGE_ERROR.format(reason=error)) from error
    return EncodedImage(data=data, sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)


def _check_kind(kind: str) -> None:
    if kind not in ImageKind.values:
        raise ValueError(UNKNOWN_IMAGE_KIND_ERROR.format(kind=kind, kinds=", ".join(ImageKind.values)))


def _write_file(encoded: EncodedImage) -> str:
    name = image_storage_name(encoded.sha256)
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(encoded.data))
        # Two writers racing on the same new image: the loser's storage picks a suffixed name;
        # drop that copy, the content-addressed name already holds identical bytes.
        if saved != name:
            default_storage.delete(saved)
    return name


def images_store(*, items: list[tuple[bytes, str]]) -> list[Image]:
    """Store many images at once (``(png_bytes, kind)`` pairs); returns their rows in input order.

    One ``bulk_create`` with ``ignore_conflicts`` plus one select, so importing thousands of images
    costs two queries, and an image that already exists (or that a concurrent writer inserts
    first) keeps its original row and kind.
    """
    if not items:
        return []
    encoded: list[tuple[EncodedImage, str]] = []
    for data, kind in items:
        _check_kind(kind)
        encoded.append((image_encode(data=data), kind))
    wanted = {e.sha256 for e, _ in encoded}
    existing = set(Image.objects.filter(sha256__in=wanted).values_list("sha256", flat=True))
    new_rows: dict[str, Image] = {}
    for picture, kind in encoded:
        if picture.sha256 in existing or picture.sha256 in new_rows:
            continue
        new_rows[picture.sha256] = Image(sha256=picture.sha256, file=_write_file(picture), width=picture.width,
                                         height=picture.height, kind=kind)
    if new_rows:
        Image.objects.bulk_create(new_rows.values(), ignore_conflicts=True, batch_size=1000)
    by_sha = {image.sha256: image for image in Image.objects.filter(sha256__in=wanted)}
    return [by_sha[picture.sha256] for picture, _ in encoded]


def image_store(*, data: bytes, kind: str) -> Image:
    """Store one image; returns the existing row when these bytes were stored before."""
    return images_store(items=[(data, kind)])[0]


def image_open(*, image: Image) -> PILImage.Image:
    """The stored image as an RGB PIL image."""
    return image_open_stored(name=image.file.name)


def image_open_stored(*, name: str) -> PILImage.Image:
    """The image stored under ``name`` as an RGB PIL image (reads without loading its row)."""
    with default_storage.open(name, "rb") as handle:
        picture = PILImage.open(handle)
        picture.load()
    return picture.convert("RGB")
