"""Proving that a checkpoint is a working model before the platform accepts it.

``checkpoint_validate(path, kind=...)`` does what a worker will later do with the file, in order,
and refuses it with a ``CheckpointError`` at the first step that fails:

1. load it safely (``load_checkpoint``: weights only, structure, finite tensors);
2. check the config values that set how much work one image costs (input sizes, proposal
   counts) against fixed bounds, so an accepted version cannot exhaust a worker later;
3. build the architecture the config names *on the meta device* (shapes without memory) and
   compare its state dict with the checkpoint's: every missing or unexpected key and every shape
   mismatch is named. Building on meta first means a config that describes a huge model next to
   an empty state dict costs nothing;
4. build it for real on the CPU (its size now equals the checkpoint's), load the state dict
   strictly, and run the platform's own inference wrapper (``Detector.detect`` /
   ``Embedder.embed``) once on a small dummy image, refusing non-finite outputs.

Any exception a builder raises on a hostile config (unknown architecture, a string where a
number belongs, a negative width) becomes ``CONFIG_INVALID`` with the builder's reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from models_runtime import taxonomy
from models_runtime.checkpoints import NAMES_SHOWN, CheckpointError, load_checkpoint

# The dummy scene is resized to this side for the detector's check however large the config's
# min_size is: the pass proves the weights chain together, not how the model does at full size.
DETECTOR_CHECK_SIDE = 128
EMBEDDER_CHECK_BATCH = 2
DETECTOR_MAX_CLASSES = len(taxonomy.CATEGORIES) + 1

CONFIG_INVALID = "the {kind} config does not build a model: {reason}"
CONFIG_VALUE_OUT_OF_RANGE = "the config's '{key}' must be {rule}; it is {value}."
STATE_DICT_MISSING = "the state dict lacks {count} weight(s) that the config's {arch} architecture needs: {names}."
STATE_DICT_UNEXPECTED = "the state dict has {count} weight(s) that the config's {arch} architecture does not: {names}."
STATE_DICT_WRONG_SHAPES = "{count} weight(s) do not fit the config's {arch} architecture: {names}."
STATE_DICT_WRONG_DTYPES = "{count} weight(s) have the wrong element type: {names}."
STATE_DICT_LOAD_FAILED = "the state dict does not load into the model: {reason}"
FORWARD_FAILED = "a forward pass on a dummy input failed: {reason}"
FORWARD_NOT_FINITE = "a forward pass on a dummy input gave NaN or infinite outputs."


@dataclass(frozen=True)
class Bound:
    """An allowed range for a numeric config value; ``integer`` values may also be a list of them
    when ``allow_list`` (torchvision takes several ``min_size`` values for multi-scale)."""

    low: float
    high: float
    integer: bool = True
    allow_list: bool = False

    def rule(self) -> str:
        what = "an integer" if self.integer else "a number"
        return f"{what} from {self.low:g} to {self.high:g}" + (" (or a list of them)" if self.allow_list else "")

    def admits(self, value: Any) -> bool:
        values = value if self.allow_list and isinstance(value, list) and value else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                return False
            if self.integer and not isinstance(item, int):
                return False
            if not self.low <= item <= self.high:
                return False
        return True


_PROPOSALS = Bound(1, 10_000)
DETECTOR_BOUNDS: dict[str, Bound] = {
    "min_size": Bound(32, 2048, allow_list=True),
    "max_size": Bound(32, 4096),
    "rpn_pre_nms_top_n_train": _PROPOSALS,
    "rpn_pre_nms_top_n_test": _PROPOSALS,
    "rpn_post_nms_top_n_train": _PROPOSALS,
    "rpn_post_nms_top_n_test": _PROPOSALS,
    "rpn_batch_size_per_image": _PROPOSALS,
    "box_batch_size_per_image": _PROPOSALS,
    "box_detections_per_img": Bound(1, 1000),
    "rpn_nms_thresh": Bound(0, 1, integer=False),
    "box_score_thresh": Bound(0, 1, integer=False),
    "box_nms_thresh": Bound(0, 1, integer=False),
    # Labels past the taxonomy would make every detect() call fail during generation.
    "num_classes": Bound(2, DETECTOR_MAX_CLASSES),
}
EMBEDDER_BOUNDS: dict[str, Bound] = {
    "input_size": Bound(16, 512),
    "embedding_dim": Bound(8, 8192),
    "temperature": Bound(1e-4, 100, integer=False),
    "n_instances": Bound(0, 10_000_000),
}


@dataclass(frozen=True)
class ValidatedCheckpoint:
    kind: str
    config: dict[str, Any]     # the config as stored in the file
    meta: dict[str, Any]
    architecture: str
    n_parameters: int


def checkpoint_validate(path: str | Path, *, kind: str) -> ValidatedCheckpoint:
    """Load, build, strictly load and run the checkpoint at ``path`` once; see the module docstring."""
    config, state_dict, meta = load_checkpoint(path, kind=kind)
    if kind == "detector":
        architecture = _validate_detector(config, state_dict)
    else:
        architecture = _validate_embedder(config, state_dict)
    return ValidatedCheckpoint(kind=kind, config=config, meta=meta, architecture=architecture,
                               n_parameters=int(sum(t.numel() for t in state_dict.values())))


def _guarded(kind: str, build: Callable[[], Any], *, meta: bool = False) -> Any:
    """``build()`` (on the meta device when ``meta``) with any failure reported as the config's."""
    try:
        if meta:
            with torch.device("meta"):
                return build()
        return build()
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - builders meet hostile configs; any failure is the config's
        raise CheckpointError(CONFIG_INVALID.format(kind=kind, reason=_reason(error))) from error


def _check_bounds(config: dict[str, Any], bounds: dict[str, Bound]) -> None:
    for key, bound in bounds.items():
        if key in config and not bound.admits(config[key]):
            raise CheckpointError(CONFIG_VALUE_OUT_OF_RANGE.format(
                key=key, rule=bound.rule(), value=_short(config[key], 60)))


def _shape(tensor: torch.Tensor) -> str:
    return "[" + ", ".join(str(d) for d in tensor.shape) + "]"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    return shown + (f" and {len(items) - NAMES_SHOWN} more" if len(items) > NAMES_SHOWN else "")


def _compare_state_dicts(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], arch: str) -> None:
    missing = [name for name in expected if name not in given]
    if missing:
        raise CheckpointError(STATE_DICT_MISSING.format(count=len(missing), arch=arch, names=_names(missing)))
    unexpected = [name for name in given if name not in expected]
    if unexpected:
        raise CheckpointError(STATE_DICT_UNEXPECTED.format(count=len(unexpected), arch=arch, names=_names(unexpected)))
    wrong_shapes = [f"{name} is {_shape(given[name])}, needs {_shape(tensor)}"
                    for name, tensor in expected.items() if given[name].shape != tensor.shape]
    if wrong_shapes:
        raise CheckpointError(STATE_DICT_WRONG_SHAPES.format(count=len(wrong_shapes), arch=arch,
                                                             names=_names(wrong_shapes)))
    # load_state_dict would silently cast integers into float weights; a checkpoint like that
    # was not saved from this architecture.
    wrong_dtypes = [f"{name} is {given[name].dtype}, needs {tensor.dtype}" for name, tensor in expected.items()
                    if given[name].is_floating_point() != tensor.is_floating_point()
                    or (given[name].dtype == torch.bool) != (tensor.dtype == torch.bool)]
    if wrong_dtypes:
        raise CheckpointError(STATE_DICT_WRONG_DTYPES.format(count=len(wrong_dtypes), names=_names(wrong_dtypes)))


def _load_strict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    try:
        model.load_state_dict(state_dict, strict=True)
    except Exception as error:  # noqa: BLE001 - after the checks above this is a torch-level refusal
        raise CheckpointError(STATE_DICT_LOAD_FAILED.format(reason=_reason(error))) from error


def _dummy_image(side: int) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def _run_once(run: Callable[[], list[np.ndarray]]) -> None:
    try:
        outputs = run()
    except Exception as error:  # noqa: BLE001 - the model is hostile input too
        raise CheckpointError(FORWARD_FAILED.format(reason=_reason(error))) from error
    if not all(np.isfinite(output).all() for output in outputs):
        raise CheckpointError(FORWARD_NOT_FINITE)


def _short(value: Any, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _reason(error: Exception) -> str:
    return _short(f"{type(error).__name__}: {error}", 300)


def _validate_detector(config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    from models_runtime.detector import Detector, build_detector, resolve_config

    resolved = _guarded("detector", lambda: resolve_config(config))
    _check_bounds(resolved, DETECTOR_BOUNDS)
    arch = str(resolved["arch"])
    skeleton = _guarded("detector", lambda: build_detector(resolved), meta=True)
    _compare_state_dicts(skeleton.state_dict(), state_dict, arch)
    model = _guarded("detector", lambda: build_detector(resolved))
    _load_strict(model, state_dict)
    detector = Detector(model, resolved, torch.device("cpu"))

    def run() -> list[np.ndarray]:
        detector.model.transform.min_size = (DETECTOR_CHECK_SIDE,)
        detector.model.transform.max_size = DETECTOR_CHECK_SIDE
        found = detector.detect([_dummy_image(DETECTOR_CHECK_SIDE)], score_threshold=0.0)[0]
        return [found.boxes, found.scores]

    _run_once(run)
    return arch


def _validate_embedder(config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    from models_runtime.embedder import INSTANCE_HEAD_PREFIX, Embedder, build_embedder, full_config

    # As Embedder.from_checkpoint: shipped checkpoints may leave the training-only instance head out.
    if not any(name.startswith(INSTANCE_HEAD_PREFIX) for name in state_dict):
        config = {**config, "n_instances": 0}
    resolved = _guarded("embedder", lambda: full_config(config))
    _check_bounds(resolved, EMBEDDER_BOUNDS)
    arch = str(resolved["backbone"])
    skeleton = _guarded("embedder", lambda: build_embedder(resolved), meta=True)
    _compare_state_dicts(skeleton.state_dict(), state_dict, arch)
    model = _guarded("embedder", lambda: build_embedder(resolved))
    _load_strict(model, state_dict)

    def run() -> list[np.ndarray]:
        embedder = Embedder(model, device="cpu")
        side = int(resolved["input_size"])
        result = embedder.embed([_dummy_image(side)] * EMBEDDER_CHECK_BATCH)
        return [result.embeddings]

    _run_once(run)
    return arch
