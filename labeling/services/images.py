"""Content-addressed image storage: an image is named by the sha256 of its PNG bytes.

The same bytes always map to the same ``Image`` row and the same file
(``images/ab/cd/<sha>.png``), so re-importing a world or regenerating a crop stores nothing new.
A file written inside a transaction that later rolls back stays on disk without a row; that is
harmless, because the retry computes the same name and reuses the file instead of writing a copy.

Every image is decoded in full before it is stored (``image_encode``): Pillow reads the header,
the pixel count is held to ``settings.IMAGE_MAX_PIXELS`` (a PNG of a few KB can claim 30000 x
30000 pixels and take gigabytes to decode), ``verify()`` checks the file's structure, and a
fresh open ``load()``s the pixels. Pillow's own limit is set to the same number and its
``DecompressionBombWarning`` is made an error for the whole process, so no other open (a worker
reading a stored image) decodes more than that either. Person uploads (the admin) come in
through ``image_upload_png``, which accepts a few common formats and re-encodes to PNG.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Image, ImageKind

UNKNOWN_IMAGE_KIND_ERROR = "unknown image kind {kind!r}; expected one of {kinds}"
NOT_AN_IMAGE_ERROR = "the bytes given are not an image PIL can read: {reason}"
IMAGE_TOO_MANY_PIXELS = ("the image has more than {limit} pixels (width times height), the limit that guards "
                         "against decompression bombs.")
IMAGE_NOT_PNG = "the image is stored as PNG and these bytes are {format}."
IMAGE_UPLOAD_FORMAT = "the file is {format}; upload a PNG, JPEG or WebP image."
IMAGE_UPLOAD_TOO_LARGE = "the file is {size} bytes, over the {limit}-byte limit for an image upload."

STORED_FORMATS = ("PNG",)
# Formats a person may upload (re-encoded to PNG before storing). Naming them also stops Pillow
# from trying its rarer decoders on hostile bytes.
UPLOAD_FORMATS = ("PNG", "JPEG", "MPO", "WEBP")

PILImage.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS
warnings.simplefilter("error", PILImage.DecompressionBombWarning)


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


def _decoded(data: bytes, *, formats: tuple[str, ...]) -> PILImage.Image:
    """The fully decoded image in ``data``, or ``ValueError`` with one of this module's messages.

    Broad ``except``: decoders fed hostile bytes fail in many ways (``SyntaxError``,
    ``struct.error``, ``EOFError``...), and each of them means "not an image we accept".
    """
    limit = int(settings.IMAGE_MAX_PIXELS)
    try:
        with PILImage.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as header:
            width, height = header.size
            found_format = header.format
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as error:
        raise ValueError(IMAGE_TOO_MANY_PIXELS.format(limit=limit)) from error
    except Exception as error:  # noqa: BLE001 - see the docstring
        raise ValueError(NOT_AN_IMAGE_ERROR.format(reason=error)) from error
    if found_format not in formats:
        raise ValueError((IMAGE_NOT_PNG if formats == STORED_FORMATS else IMAGE_UPLOAD_FORMAT).format(
            format=found_format))
    if width * height > limit:
        raise ValueError(IMAGE_TOO_MANY_PIXELS.format(limit=limit))
    try:
        with PILImage.open(io.BytesIO(data), formats=formats) as checked:
            checked.verify()
        # verify() leaves the image unusable; decoding the pixels needs a fresh open.
        picture = PILImage.open(io.BytesIO(data), formats=formats)
        picture.load()
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as error:
        raise ValueError(IMAGE_TOO_MANY_PIXELS.format(limit=limit)) from error
    except Exception as error:  # noqa: BLE001 - see the docstring
        raise ValueError(NOT_AN_IMAGE_ERROR.format(reason=error)) from error
    return picture


def image_encode(*, data: bytes) -> EncodedImage:
    """Check that ``data`` is a PNG that decodes within the pixel limit; raises ``ValueError``."""
    with _decoded(data, formats=STORED_FORMATS) as picture:
        width, height = picture.size
    return EncodedImage(data=data, sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)


def image_upload_png(*, data: bytes) -> bytes:
    """The PNG bytes the platform stores for an uploaded file (PNG, JPEG or WebP), after the same
    checks as ``image_encode``; raises ``ValueError`` with a message for the person uploading."""
    limit = int(settings.IMAGE_UPLOAD_MAX_BYTES)
    if len(data) > limit:
        raise ValueError(IMAGE_UPLOAD_TOO_LARGE.format(size=len(data), limit=limit))
    return image_png_bytes(_decoded(data, formats=UPLOAD_FORMATS))


def image_file_write(*, encoded: EncodedImage) -> str:
    """Write the file of ``encoded`` under its content-addressed name (once); returns the name."""
    return _write_file(encoded)


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
