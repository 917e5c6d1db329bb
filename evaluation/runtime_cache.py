"""Per-process caches of loaded models and catalogue indexes for the generation workers.

A GPU worker handles many chunks of many runs; loading a checkpoint or embedding the whole
catalogue per chunk would dominate the work. So:

- models are cached in memory per process, keyed by model version and checkpoint file name (a
  version's checkpoint never changes once stored, so the key never goes stale);
- the catalogue index of an embedder version is built once and saved on disk under
  ``VAR_DIR/index_cache/``, keyed by the embedder version and a fingerprint of the catalogue
  (product ids, image hashes, categories, genders). A new product changes the fingerprint, so the
  next run builds a fresh index instead of retrieving from a stale one. Builders on one machine
  take a file lock so two workers do not embed the catalogue at the same time; the index file is
  written to a temporary name and renamed, so a reader never sees half a file.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from evaluation.models import ModelVersion
from labeling.models import Product
from labeling.services.images import image_open_stored
from models_runtime.detector import Detector
from models_runtime.embedder import Embedder
from models_runtime.pipeline import build_catalog_index
from models_runtime.retrieval import BinaryIndex

INDEX_CACHE_DIRNAME = "index_cache"
EMPTY_CATALOGUE_ERROR = "the catalogue has no products to retrieve from; import products first"

_lock = threading.Lock()
_detectors: dict[tuple[int, str], Detector] = {}
_embedders: dict[tuple[int, str], Embedder] = {}
_indexes: dict[tuple[int, str], BinaryIndex] = {}


def _checkpoint_path(version: ModelVersion) -> str:
    return version.checkpoint.path


def _loaded(cache: dict, version: ModelVersion, load):
    # Keyed by checkpoint name too: re-uploading a version's file must not serve the old weights.
    key = (version.pk, version.checkpoint.name)
    with _lock:
        if key not in cache:
            cache[key] = load(_checkpoint_path(version))
        return cache[key]


def detector_for(version: ModelVersion) -> Detector:
    return _loaded(_detectors, version, Detector.from_checkpoint)


def embedder_for(version: ModelVersion) -> Embedder:
    return _loaded(_embedders, version, Embedder.from_checkpoint)


@dataclass(frozen=True)
class CatalogueSnapshot:
    product_ids: np.ndarray
    image_names: list[str]
    categories: list[str]
    genders: list[str]
    fingerprint: str


def catalogue_snapshot() -> CatalogueSnapshot:
    """The catalogue as the index sees it, in one query."""
    rows = list(Product.objects.order_by("pk").values_list("pk", "image__file", "image__sha256",
                                                            "category__slug", "gender"))
    digest = hashlib.sha256()
    for pk, _, sha, category, gender in rows:
        digest.update(f"{pk}:{sha}:{category}:{gender};".encode())
    return CatalogueSnapshot(
        product_ids=np.asarray([r[0] for r in rows], dtype=np.int64),
        image_names=[r[1] for r in rows],
        categories=[r[3] for r in rows],
        genders=[r[4] for r in rows],
        fingerprint=digest.hexdigest()[:16],
    )


def index_cache_dir() -> Path:
    return Path(settings.VAR_DIR) / INDEX_CACHE_DIRNAME


def index_path_for(version: ModelVersion, fingerprint: str) -> Path:
    return index_cache_dir() / f"embedder-{version.pk}-{fingerprint}.npz"


def _product_images(image_names: list[str]):
    for name in image_names:
        yield image_open_stored(name=name)


def catalogue_index_for(version: ModelVersion) -> BinaryIndex:
    """The catalogue index of ``version``: from memory, else from disk, else built and saved."""
    snapshot = catalogue_snapshot()
    if snapshot.product_ids.size == 0:
        raise ValueError(EMPTY_CATALOGUE_ERROR)
    key = (version.pk, snapshot.fingerprint)
    with _lock:
        if key in _indexes:
            return _indexes[key]
    path = index_path_for(version, snapshot.fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if path.exists():
                index = BinaryIndex.load(path)
            else:
                index = build_catalog_index(
                    embedder_for(version), _product_images(snapshot.image_names), snapshot.product_ids,
                    fields={"category": snapshot.categories, "gender": snapshot.genders})
                partial = path.with_suffix(f".{os.getpid()}.partial")
                index.save(partial)
                os.replace(partial, path)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    with _lock:
        _indexes[key] = index
    return index


def runtime_cache_clear() -> None:
    """Forget every loaded model and index of this process (tests; a worker never needs it)."""
    with _lock:
        _detectors.clear()
        _embedders.clear()
        _indexes.clear()
