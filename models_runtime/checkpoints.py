"""Checkpoints: a state dict saved together with the config that rebuilds its model.

One file (``torch.save`` of a dict) so a model version is a single artefact the platform can
store; ``kind`` says which builder reads the config (``detector`` or ``embedder``).

Loading never runs code from the file: ``torch.load(..., weights_only=True)`` unpickles only
tensors and plain containers, and a file that needs anything else (a pickled class, a function
call) is refused with ``CHECKPOINT_NEEDS_CODE``. Before unpickling, the zip archive itself is
checked: ``torch.save`` writes its entries uncompressed, so a compressed entry (the way a zip
bomb inflates) is refused. After unpickling, the structure is checked key by key: a checkpoint
is ``{"format", "kind", "config": dict, "state_dict": {str: Tensor}, "meta": dict}`` with finite
tensors and JSON-plain config and meta. ``checkpoint_validation.checkpoint_validate`` goes
further and builds the model, loads it strictly and runs it once.
"""
from __future__ import annotations

import json
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
KINDS = ("detector", "embedder")
CHECKPOINT_KEYS = ("format", "kind", "config", "state_dict", "meta")
# A config is a few dozen settings (the shipped ones are under 1 KB); meta carries a training
# record (a few KB). The caps keep a hostile file from smuggling megabytes of "settings" into the
# database and into the model builders.
CONFIG_MAX_JSON_BYTES = 64 * 1024
META_MAX_JSON_BYTES = 1024 * 1024
PLAIN_DATA_MAX_DEPTH = 32
NAMES_SHOWN = 5
INT64_LIMIT = 2 ** 63

CHECKPOINT_NOT_FOUND = "the checkpoint file does not exist."
CHECKPOINT_NOT_ZIP = ("the file is not a PyTorch checkpoint: torch.save (PyTorch 1.6 or later) writes a zip "
                      "archive, and this file is not one.")
CHECKPOINT_COMPRESSED = ("the checkpoint archive holds compressed entries; torch.save stores them uncompressed, "
                         "so this file was not written by torch.save.")
CHECKPOINT_NEEDS_CODE = ("the checkpoint needs more than tensors and plain data to load (it pickles code or "
                         "objects), and such files are never unpickled here. Save a state dict of tensors with "
                         "models_runtime.checkpoints.save_checkpoint.")
CHECKPOINT_UNREADABLE = "the checkpoint could not be read as a PyTorch file: {reason}"
CHECKPOINT_NOT_A_DICT = "the checkpoint holds a {type}, not a dict with the keys " + ", ".join(CHECKPOINT_KEYS) + "."
CHECKPOINT_MISSING_KEYS = "the checkpoint is missing the key(s) {keys}; it needs " + ", ".join(CHECKPOINT_KEYS) + "."
CHECKPOINT_FORMAT_UNKNOWN = "the checkpoint format is {format}; this platform reads format " + str(FORMAT_VERSION) + "."
CHECKPOINT_KIND_UNKNOWN = "the checkpoint kind is {kind}; expected one of " + ", ".join(KINDS) + "."
CHECKPOINT_KIND_MISMATCH = "the file holds a {found!r} checkpoint, not a {expected!r} one."
CHECKPOINT_FIELD_NOT_DICT = "the checkpoint's '{key}' must be a dict, not a {type}."
CHECKPOINT_FIELD_NOT_PLAIN = ("the checkpoint's '{key}' must hold plain JSON data (objects with string keys, lists, "
                              "strings, finite numbers, booleans, null) nested at most "
                              + str(PLAIN_DATA_MAX_DEPTH) + " deep; it holds {problem}.")
CHECKPOINT_FIELD_TOO_LARGE = "the checkpoint's '{key}' is {size} bytes as JSON, over the limit of {limit}."
STATE_DICT_EMPTY = "the state dict is empty: a checkpoint must carry the model's weights."
STATE_DICT_KEYS_NOT_STR = "every state dict key must be a string; found {count} that are not."
STATE_DICT_VALUES_NOT_TENSORS = "every state dict value must be a tensor; {count} are not: {names}."
STATE_DICT_TENSORS_UNSUPPORTED = "state dict tensors must be dense CPU tensors; {count} are not: {names}."
STATE_DICT_NOT_FINITE = "{count} state dict tensor(s) hold NaN or infinite values: {names}."


class CheckpointError(ValueError):
    pass


def save_checkpoint(path: str | Path, *, kind: str, config: dict[str, Any],
                    state_dict: dict[str, torch.Tensor], meta: dict[str, Any] | None = None,
                    half: bool = False) -> Path:
    """Save ``state_dict`` with its ``config``. ``half`` stores float tensors as float16 to ship small files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (t.detach().cpu().half() if half and t.is_floating_point() else t.detach().cpu())
        for name, t in state_dict.items()
    }
    torch.save({"format": FORMAT_VERSION, "kind": kind, "config": config, "state_dict": tensors,
                "meta": meta or {}}, path)
    return path


def load_checkpoint(path: str | Path, *, kind: str | None = None) -> tuple[dict, dict, dict]:
    """Return ``(config, state_dict, meta)``; float16 tensors come back as float32.

    Raises ``CheckpointError`` (with one of this module's messages) for anything that is not a
    well-formed models_runtime checkpoint of ``kind``; never unpickles code.
    """
    blob = _unpickle_weights_only(Path(path))
    found_kind = _check_structure(blob)
    if kind is not None and found_kind != kind:
        raise CheckpointError(CHECKPOINT_KIND_MISMATCH.format(found=found_kind, expected=kind))
    config = _plain_data(blob["config"], key="config", limit=CONFIG_MAX_JSON_BYTES)
    meta = _plain_data(blob["meta"], key="meta", limit=META_MAX_JSON_BYTES)
    state = _checked_state_dict(blob["state_dict"])
    return config, state, meta


def _unpickle_weights_only(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(CHECKPOINT_NOT_FOUND)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(CHECKPOINT_NOT_ZIP)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(CHECKPOINT_UNREADABLE.format(reason=error)) from error
    if any(entry.compress_type != zipfile.ZIP_STORED for entry in entries):
        raise CheckpointError(CHECKPOINT_COMPRESSED)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # The weights-only unpickler refuses every global outside its allow-list (a class, a
        # function such as os.system) before calling it; that is the whole point of the mode.
        raise CheckpointError(CHECKPOINT_NEEDS_CODE) from error
    except Exception as error:  # noqa: BLE001 - a hostile archive can break the reader in many ways
        raise CheckpointError(CHECKPOINT_UNREADABLE.format(reason=_short(error))) from error


def _check_structure(blob: Any) -> str:
    if not isinstance(blob, dict):
        raise CheckpointError(CHECKPOINT_NOT_A_DICT.format(type=type(blob).__name__))
    missing = [key for key in CHECKPOINT_KEYS if key not in blob]
    if missing:
        raise CheckpointError(CHECKPOINT_MISSING_KEYS.format(keys=", ".join(missing)))
    # ``type(...) is int``: a bool is an int, and a tensor would compare element-wise.
    if type(blob["format"]) is not int or blob["format"] != FORMAT_VERSION:
        raise CheckpointError(CHECKPOINT_FORMAT_UNKNOWN.format(format=_describe(blob["format"])))
    if not isinstance(blob["kind"], str) or blob["kind"] not in KINDS:
        raise CheckpointError(CHECKPOINT_KIND_UNKNOWN.format(kind=_describe(blob["kind"])))
    for key in ("config", "state_dict", "meta"):
        if not isinstance(blob[key], dict):
            raise CheckpointError(CHECKPOINT_FIELD_NOT_DICT.format(key=key, type=type(blob[key]).__name__))
    return blob["kind"]


def _plain_data(value: dict, *, key: str, limit: int) -> dict:
    """``value`` as plain JSON data (tuples become lists), or ``CheckpointError``.

    Walks with an explicit stack: a small pickle can nest containers far deeper than Python's
    recursion limit, and ``json.dumps`` would overflow on it.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > PLAIN_DATA_MAX_DEPTH:
            raise CheckpointError(CHECKPOINT_FIELD_NOT_PLAIN.format(key=key, problem="data nested too deep"))
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                raise CheckpointError(CHECKPOINT_FIELD_NOT_PLAIN.format(key=key, problem="a key that is not a string"))
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise CheckpointError(CHECKPOINT_FIELD_NOT_PLAIN.format(key=key, problem="a NaN or infinite number"))
        elif isinstance(item, int) and not -INT64_LIMIT <= item < INT64_LIMIT:
            raise CheckpointError(CHECKPOINT_FIELD_NOT_PLAIN.format(key=key, problem="an integer outside 64 bits"))
        elif not (item is None or isinstance(item, (str, int, bool))):
            raise CheckpointError(CHECKPOINT_FIELD_NOT_PLAIN.format(key=key, problem=f"a {type(item).__name__}"))
    text = json.dumps(value)
    if len(text) > limit:
        raise CheckpointError(CHECKPOINT_FIELD_TOO_LARGE.format(key=key, size=len(text), limit=limit))
    return json.loads(text)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def _checked_state_dict(state_dict: dict) -> dict[str, torch.Tensor]:
    if not state_dict:
        raise CheckpointError(STATE_DICT_EMPTY)
    not_str = [name for name in state_dict if not isinstance(name, str)]
    if not_str:
        raise CheckpointError(STATE_DICT_KEYS_NOT_STR.format(count=len(not_str)))
    not_tensors = [name for name, value in state_dict.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(STATE_DICT_VALUES_NOT_TENSORS.format(count=len(not_tensors), names=_names(not_tensors)))
    unsupported = [name for name, t in state_dict.items()
                   if t.layout != torch.strided or t.device.type != "cpu" or t.is_quantized or t.is_complex()]
    if unsupported:
        raise CheckpointError(STATE_DICT_TENSORS_UNSUPPORTED.format(count=len(unsupported), names=_names(unsupported)))
    state = {name: (t.float() if t.dtype == torch.float16 else t) for name, t in state_dict.items()}
    not_finite = [name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if not_finite:
        raise CheckpointError(STATE_DICT_NOT_FINITE.format(count=len(not_finite), names=_names(not_finite)))
    return state


def _describe(value: Any) -> str:
    """A short description of a value read from a hostile file (never a repr of a container,
    which can nest deep enough to overflow the stack)."""
    if isinstance(value, int) and not -INT64_LIMIT <= value < INT64_LIMIT:
        return "a very large integer"
    if isinstance(value, str):
        return _short(repr(value[:200]))
    if value is None or isinstance(value, (int, float, bool)):
        return repr(value)
    return f"a {type(value).__name__}"


def _short(value: Any, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."
