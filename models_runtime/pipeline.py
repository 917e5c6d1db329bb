"""End-to-end shop-the-look inference: scenes in, per detected object its top-k catalogue products.

detect (batches of scenes) -> crop each box on the PIL scene -> embed (batches of crops) -> one
restricted Hamming search per distinct restriction (objects that share a restriction share a search
call, so the kernel sees a batch of queries).

Restrictions follow the seed (section 6.1): the object's detected category selects the category
partition; the embedder's predicted gender adds ``gender:<g>``, which the index widens to
``<g> OR unisex`` so products the gender classifier was unsure of are not lost. An object predicted
``unisex`` gets no gender restriction: restricting it to unisex products only would under-retrieve
for the same reason.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from models_runtime.detector import Detections, Detector
from models_runtime.embedder import Embedder
from models_runtime.retrieval import BinaryIndex
from models_runtime.retrieval.query import CATEGORY_FIELD, GENDER_FIELD, UNISEX

MESSAGE_IDS_LENGTH = "got {n_ids} ids for {n_images} catalogue images"
MESSAGE_FIELD_LENGTH = "catalogue field {field!r} has {got} values for {n_images} images"
MESSAGE_BAD_PADDING = "crop_padding must be >= 0 (a fraction of the box size), got {padding}"


@dataclass(frozen=True)
class PipelineSettings:
    k: int = 5
    score_threshold: float = 0.5
    restrict_category: bool = True
    restrict_gender: bool = False
    extra_query: str | None = None        # e.g. "price<100 AND NOT merchant:Zeta", ANDed on
    detector_batch_size: int = 8
    embedder_batch_size: int = 64
    crop_padding: float = 0.0             # fraction of the box's width/height added on each side
    search_threads: int = 1               # threads per index search (a GPU worker has spare cores)


@dataclass
class QueryObject:
    """One detected object of a scene with what the models said about it and its candidates."""

    scene_index: int
    box: np.ndarray                       # float32 [4], x0 y0 x1 y1 in scene pixels
    category: str                         # the detector's category (drives the restriction)
    score: float
    crop: Image.Image
    embedding: np.ndarray                 # float32 [d], L2-normalised
    code: np.ndarray                      # uint8 [d/8]
    predicted_category: str               # the embedder's category head
    attributes: dict[str, str]
    gender: str
    restriction: str | None               # the query the candidates were retrieved under
    candidate_ids: np.ndarray             # int64 [k], -1 where fewer than k products matched
    candidate_distances: np.ndarray       # int32 [k], Hamming distances, -1 for padding


@dataclass
class SceneResult:
    scene_index: int
    objects: list[QueryObject] = field(default_factory=list)


@dataclass
class StageTimings:
    """Wall-clock seconds per stage of the last :meth:`ShopTheLookPipeline.run`."""

    detect: float = 0.0
    crop: float = 0.0
    embed: float = 0.0
    retrieve: float = 0.0
    assemble: float = 0.0

    @property
    def total(self) -> float:
        return self.detect + self.crop + self.embed + self.retrieve + self.assemble


def quote_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def restriction_for(category: str, gender: str, settings: PipelineSettings) -> str | None:
    """The restriction query of one object under ``settings`` (None: search everything)."""
    terms = []
    if settings.restrict_category:
        terms.append(f"{CATEGORY_FIELD}:{quote_value(category)}")
    if settings.restrict_gender and gender != UNISEX:
        terms.append(f"{GENDER_FIELD}:{quote_value(gender)}")
    if settings.extra_query:
        terms.append(f"({settings.extra_query})")
    return " AND ".join(terms) if terms else None


def crop_box(image: Image.Image, box: Sequence[float], padding: float = 0.0) -> Image.Image:
    """Crop ``box`` (plus ``padding`` x its size on each side) out of ``image``, clamped to it.

    The box is widened to whole pixels outwards so a crop never loses a partial edge pixel, and is
    at least one pixel on each side so degenerate detector boxes still give a valid crop.
    """
    if padding < 0:
        raise ValueError(MESSAGE_BAD_PADDING.format(padding=padding))
    x0, y0, x1, y1 = (float(v) for v in box)
    pad_x, pad_y = (x1 - x0) * padding, (y1 - y0) * padding
    width, height = image.size
    left = min(max(int(math.floor(x0 - pad_x)), 0), width - 1)
    top = min(max(int(math.floor(y0 - pad_y)), 0), height - 1)
    right = max(min(int(math.ceil(x1 + pad_x)), width), left + 1)
    bottom = max(min(int(math.ceil(y1 + pad_y)), height), top + 1)
    return image.crop((left, top, right, bottom))


class ShopTheLookPipeline:
    """Detector + embedder + catalogue index. The models stay on the device they were built on."""

    def __init__(self, detector: Detector, embedder: Embedder, index: BinaryIndex,
                 settings: PipelineSettings | None = None):
        self.detector = detector
        self.embedder = embedder
        self.index = index
        self.settings = settings or PipelineSettings()
        self.last_timings = StageTimings()

    @classmethod
    def from_checkpoints(cls, detector_path: str | Path, embedder_path: str | Path,
                         index_path: str | Path, device: str | None = None,
                         settings: PipelineSettings | None = None) -> "ShopTheLookPipeline":
        """Load both models on ``device`` (``pick_device()`` when None) and the saved index."""
        return cls(Detector.from_checkpoint(detector_path, device=device),
                   Embedder.from_checkpoint(embedder_path, device=device),
                   BinaryIndex.load(index_path), settings)

    def run(self, scenes: Sequence[Image.Image], **overrides) -> list[SceneResult]:
        """Every scene's detected objects with their top-k candidates. ``overrides`` replace
        fields of the pipeline's :class:`PipelineSettings` for this call only."""
        settings = replace(self.settings, **overrides) if overrides else self.settings
        timings = StageTimings()

        started = time.perf_counter()
        detections: list[Detections] = self.detector.detect(
            list(scenes), score_threshold=settings.score_threshold, batch_size=settings.detector_batch_size)
        timings.detect = time.perf_counter() - started

        started = time.perf_counter()
        owners: list[tuple[int, int]] = []   # (scene index, detection index) per crop
        crops: list[Image.Image] = []
        for scene_index, (scene, found) in enumerate(zip(scenes, detections)):
            for detection_index, box in enumerate(found.boxes):
                crops.append(crop_box(scene, box, settings.crop_padding))
                owners.append((scene_index, detection_index))
        timings.crop = time.perf_counter() - started

        started = time.perf_counter()
        embedded = self.embedder.embed(crops, batch_size=settings.embedder_batch_size)
        timings.embed = time.perf_counter() - started

        started = time.perf_counter()
        restrictions = [restriction_for(detections[s].categories[d], embedded.genders[i], settings)
                        for i, (s, d) in enumerate(owners)]
        candidate_ids = np.full((len(crops), settings.k), -1, dtype=np.int64)
        candidate_distances = np.full((len(crops), settings.k), -1, dtype=np.int32)
        groups: dict[str | None, list[int]] = {}
        for crop_index, restriction in enumerate(restrictions):
            groups.setdefault(restriction, []).append(crop_index)
        for restriction, members in groups.items():
            ids, distances = self.index.search(embedded.codes[members], k=settings.k, restrict=restriction,
                                               threads=settings.search_threads)
            candidate_ids[members] = ids
            candidate_distances[members] = distances
        timings.retrieve = time.perf_counter() - started

        started = time.perf_counter()
        results = [SceneResult(scene_index=i) for i in range(len(scenes))]
        for crop_index, (scene_index, detection_index) in enumerate(owners):
            found = detections[scene_index]
            results[scene_index].objects.append(QueryObject(
                scene_index=scene_index,
                box=np.asarray(found.boxes[detection_index], dtype=np.float32),
                category=found.categories[detection_index],
                score=float(found.scores[detection_index]),
                crop=crops[crop_index],
                embedding=embedded.embeddings[crop_index],
                code=embedded.codes[crop_index],
                predicted_category=embedded.categories[crop_index],
                attributes=embedded.attributes[crop_index],
                gender=embedded.genders[crop_index],
                restriction=restrictions[crop_index],
                candidate_ids=candidate_ids[crop_index],
                candidate_distances=candidate_distances[crop_index],
            ))
        timings.assemble = time.perf_counter() - started
        self.last_timings = timings
        return results


def build_catalog_index(embedder: Embedder, images: Iterable[Image.Image], ids: Sequence[int],
                        fields: Mapping[str, Sequence] | None = None, batch_size: int = 64,
                        index: BinaryIndex | None = None) -> BinaryIndex:
    """Embed catalogue product images and index their codes with ``fields``.

    ``images`` may be a lazy iterable (it is consumed in chunks, so a large catalogue never sits in
    memory as images). Where ``fields`` lacks ``category`` or ``gender`` the embedder's predictions
    fill them in, as the seed labels products with its category and gender classifiers when the
    merchant gives none. Pass ``index`` to add to an existing index.
    """
    ids = np.asarray(ids, dtype=np.int64)
    fields = {name: list(values) for name, values in (fields or {}).items()}
    for name, values in fields.items():
        if len(values) != len(ids):
            raise ValueError(MESSAGE_FIELD_LENGTH.format(field=name, got=len(values), n_images=len(ids)))
    index = index if index is not None else BinaryIndex(n_bits=embedder.embedding_dim)
    image_iterator = iter(images)
    chunk_size = batch_size * 8
    done = 0
    while True:
        chunk = list(itertools.islice(image_iterator, chunk_size))
        if not chunk:
            break
        if done + len(chunk) > len(ids):
            raise ValueError(MESSAGE_IDS_LENGTH.format(n_ids=len(ids), n_images=done + len(chunk)))
        embedded = embedder.embed(chunk, batch_size=batch_size)
        chunk_fields = {name: values[done:done + len(chunk)] for name, values in fields.items()}
        chunk_fields.setdefault(CATEGORY_FIELD, embedded.categories)
        chunk_fields.setdefault(GENDER_FIELD, embedded.genders)
        index.add(ids[done:done + len(chunk)], embedded.codes, chunk_fields)
        done += len(chunk)
    if done != len(ids):
        raise ValueError(MESSAGE_IDS_LENGTH.format(n_ids=len(ids), n_images=done))
    return index
