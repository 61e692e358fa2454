"""Constants, limits and low-level checks shared by snapshot export and loading.

Snapshots come from outside (an upload, an object store), so every value read from one is
checked against a fixed vocabulary and bounded size before the engine sees it; one exception
type, `SnapshotError`, reports what is wrong and where.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from engine import dtypes as _dtypes
from engine.shapes import Shape

FORMAT = "kumo-snapshot"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
SAFETENSORS_FILE = "variables.safetensors"
NPZ_FILE = "variables.npz"
WEIGHT_FILES = (SAFETENSORS_FILE, NPZ_FILE)

MAX_JSON_BYTES = 64 << 20
MAX_JSON_DEPTH = 64
MAX_RANK = 32
MAX_DIM = 2**31  # also the bound on a tensor's element count and on int attrs
MAX_ITEMS = 1 << 16  # nodes' inputs and outputs, list attrs
MAX_NAME = 256

# The dtypes a snapshot may use, by name (no strings: those are host-only summary values).
DTYPES = {d.name: d for d in (_dtypes.float16, _dtypes.float32, _dtypes.float64, _dtypes.int8,
                              _dtypes.int16, _dtypes.int32, _dtypes.int64, _dtypes.uint8,
                              _dtypes.bool)}

NODE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*")  # the engine's op names
WEIGHT_NAME = re.compile(r"[A-Za-z0-9_\-]+")  # keys inside the weights file, never paths
SIGNATURE_KEY = re.compile(r"[^\x00-\x1f\x7f]+")


class SnapshotError(ValueError):
    """A snapshot is malformed, hostile or inconsistent; the message says what and where."""


def parse_json(data: bytes, where: str) -> Any:
    """Strict JSON: UTF-8, bounded size and nesting, no NaN/Infinity, no duplicate keys."""
    if len(data) > MAX_JSON_BYTES:
        raise SnapshotError(f"{where}: {len(data)} bytes is over the {MAX_JSON_BYTES} byte limit")
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys,
                           parse_constant=_no_constant)
    except RecursionError:
        raise SnapshotError(f"{where}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise SnapshotError(f"{where}: not valid JSON ({e})") from None
    _check_depth(value, where)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _check_depth(value: Any, where: str) -> None:
    """Walk without recursion, so hostile nesting below json's own limit is still bounded."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise SnapshotError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """`value` if it has JSON type `kind` (bools are not ints here), else a SnapshotError."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return value
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer",
             bool: "a boolean", float: "a number"}
    wanted = " or ".join(names.get(k, k.__name__) for k in kinds
                         if not (k is int and float in kinds))  # "a number" covers ints
    raise SnapshotError(f"{where}: expected {wanted}, got {describe(value)}")


def expect_keys(obj: Any, keys: set[str], where: str) -> dict:
    """`obj` as an object with exactly the given keys."""
    expect(obj, dict, where)
    missing = sorted(keys - obj.keys())
    if missing:
        raise SnapshotError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
    extra = sorted(obj.keys() - keys)
    if extra:
        shown = ", ".join(describe(k) for k in extra[:5]) + (", ..." if len(extra) > 5 else "")
        raise SnapshotError(f"{where}: unknown key(s) {shown}")
    return obj


def expect_name(value: Any, pattern: re.Pattern[str], where: str) -> str:
    expect(value, str, where)
    if not 0 < len(value) <= MAX_NAME or not pattern.fullmatch(value):
        raise SnapshotError(f"{where}: {describe(value)} is not a valid name")
    return value


def dtype_of(value: Any, where: str) -> _dtypes.DType:
    expect(value, str, where)
    if value not in DTYPES:
        raise SnapshotError(f"{where}: unknown dtype {describe(value)}; expected one of "
                            f"{', '.join(DTYPES)}")
    return DTYPES[value]


def shape_of(value: Any, where: str, *, exact: bool = False) -> Shape:
    """A declared shape: null (unknown rank) or a list of dims, each a non-negative int or
    null; rank and element count bounded. `exact` demands every dim known."""
    if value is None and not exact:
        return None
    expect(value, list, where)
    if len(value) > MAX_RANK:
        raise SnapshotError(f"{where}: rank {len(value)} is over the limit of {MAX_RANK}")
    for i, d in enumerate(value):
        if d is None and not exact:
            continue
        expect(d, int, f"{where}[{i}]")
        if d < 0:
            raise SnapshotError(f"{where}: negative dimension {d}")
    known = math.prod(d for d in value if d is not None)
    if known > MAX_DIM:
        raise SnapshotError(f"{where}: {known} elements is over the limit of {MAX_DIM}")
    return tuple(value)


def shape_json(shape: Shape) -> list[int | None] | None:
    return None if shape is None else list(shape)


def describe(value: Any) -> str:
    """A short rendering of a value read from a file, for error messages."""
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else \
        type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."
