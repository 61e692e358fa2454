"""TensorFlow-style dtypes backed by numpy dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np


class DType:
    """A tensor element type; `float32` is the default everywhere."""

    __slots__ = ("_np", "name")

    def __init__(self, name: str, np_dtype: Any) -> None:
        self.name = name
        self._np = np.dtype(np_dtype)

    @property
    def as_numpy_dtype(self) -> type:
        return self._np.type

    @property
    def np(self) -> np.dtype:
        return self._np

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def is_floating(self) -> bool:
        return self._np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self._np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self._np.kind == "b"

    @property
    def is_numeric(self) -> bool:
        return self._np.kind in "iuf"

    @property
    def min(self) -> Any:
        return np.finfo(self._np).min if self.is_floating else np.iinfo(self._np).min

    @property
    def max(self) -> Any:
        return np.finfo(self._np).max if self.is_floating else np.iinfo(self._np).max

    @property
    def size(self) -> int:
        return self._np.itemsize

    def __eq__(self, other: object) -> bool:
        if other is None:
            return False
        try:
            return as_dtype(other)._np == self._np  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self._np)

    def __repr__(self) -> str:
        return f"tf.{self.name}"


float16 = half = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = double = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
bool = DType("bool", np.bool_)
string = DType("string", np.object_)  # host-only byte strings (summaries), never on a GPU
# a value with no array form (a tf.cond's state for its gradient); not convertible to or from
variant = DType("variant", np.void)

_ALL = [float16, float32, float64, int8, int16, int32, int64, uint8, bool, string]
_BY_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL} | {"float": float32, "double": float64, "half": float16}


def as_dtype(value: Any) -> DType:
    """Convert a DType, numpy dtype, python type or name to a DType."""
    if isinstance(value, DType):
        return value
    if value is None:
        raise TypeError(f"Cannot convert None to a dtype; use one of {sorted(_BY_NAME)}.")
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if value is float:
        return float32
    if value is int:
        return int32
    try:
        key = np.dtype(value)
    except TypeError:
        key = None
    if key is not None and key in _BY_NP:
        return _BY_NP[key]
    raise TypeError(f"Cannot convert {value!r} to a dtype; use one of {sorted(_BY_NAME)}.")


def infer_dtype(value: Any) -> DType:
    """The dtype TF gives a python or numpy value: python floats are float32, ints int32."""
    if isinstance(value, np.ndarray | np.generic):
        if value.dtype == np.float64 or value.dtype.kind in "fiub":
            return as_dtype(value.dtype)
        raise TypeError(f"Unsupported numpy dtype {value.dtype} for a tensor.")
    try:
        arr = np.asarray(value)
    except ValueError:
        raise ValueError(f"Can't convert non-rectangular Python sequence to Tensor: "
                         f"{value!r}") from None
    kind = arr.dtype.kind
    if kind == "b":
        return bool
    if kind in "iu":
        return int32 if arr.size == 0 or (abs(arr).max() < 2**31) else int64
    if kind == "f":
        return float32
    raise TypeError(
        f"Cannot convert {value!r} to a tensor: expected numbers, bools or nested lists of them."
    )
