"""Backends own the array module: numpy on the CPU, CuPy on a CUDA GPU when installed.

Kernels get `ctx.xp` and never import numpy or cupy for math themselves, so one kernel serves
both devices. Host <-> device copies happen only at feeds, fetches and explicit placements.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from engine.errors import InvalidArgumentError

_DEVICE = re.compile(r"^(?:/job:[^/]+)?(?:/replica:\d+)?(?:/task:\d+)?"
                     r"(?:/device)?(?:/?(cpu|gpu)(?::(\d+|\*))?)?$", re.IGNORECASE)


class Backend:
    """An array module plus the copies between it and the host (numpy)."""

    def __init__(self, name: str, xp: Any) -> None:
        self.name = name
        self.xp = xp
        # Reductions for hot kernels: numpy's ufunc reductions skip ndarray.sum/max's Python
        # wrappers (microseconds a call on small arrays); CuPy's own functions elsewhere.
        self.sum = xp.add.reduce if xp is np else xp.sum
        self.max = xp.maximum.reduce if xp is np else xp.max

    def from_host(self, array: np.ndarray) -> Any:
        return array if self.xp is np else self.xp.asarray(array)

    def to_host(self, array: Any) -> np.ndarray:
        return array if isinstance(array, np.ndarray | np.generic) else array.get()

    def is_native(self, array: Any) -> bool:
        return isinstance(array, self.xp.ndarray)

    def __repr__(self) -> str:
        return f"Backend({self.name})"


CPU = Backend("cpu", np)


def canonical_device(spec: str | None) -> str:
    """Normalise '/gpu:0', '/device:GPU:0', 'gpu', '' into '', '/cpu:0' or '/gpu:N'."""
    if not spec:
        return ""
    if not isinstance(spec, str):
        raise TypeError(f"A device specification must be a string like '/cpu:0', got {spec!r}.")
    m = _DEVICE.match(spec.strip())
    if m is None:
        raise ValueError(f"Unknown device specification '{spec}': use '/cpu:0' or '/gpu:0'.")
    kind, index = m.group(1), m.group(2)
    if kind is None:
        return ""
    index = "0" if index in (None, "*") else index
    return f"/{kind.lower()}:{index}"


@functools.cache
def _gpu(index: int) -> Backend:
    try:
        import cupy
    except ImportError:
        raise InvalidArgumentError(
            None, None,
            f"Cannot place ops on /gpu:{index}: CuPy is not installed. Install it with "
            f"`pip install 'kumo[gpu]'` on a machine with a CUDA GPU, or use '/cpu:0'.",
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA raises its own error types when no driver is present
        count, reason = 0, str(e)
    else:
        reason = f"{count} CUDA device(s) visible"
    if index >= count:
        raise InvalidArgumentError(
            None, None, f"Cannot place ops on /gpu:{index}: no such CUDA device ({reason})."
        )
    cupy.cuda.Device(index).use()
    return Backend(f"gpu:{index}", cupy)


def backend_for(device: str) -> Backend:
    """The backend that runs ops placed on `device` ('' and '/cpu:N' mean numpy)."""
    if device.startswith("/gpu:"):
        return _gpu(int(device.split(":")[1]))
    return CPU


def gpu_available() -> bool:
    try:
        backend_for("/gpu:0")
    except InvalidArgumentError:
        return False
    return True
