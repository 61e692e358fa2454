"""`tf.py_func` and `tf.numpy_function`: a Python function called on the host as a graph op.

The op holds the function itself, so it is stateful (never merged with a twin or run ahead of
time), has no gradient, as in TF, and is never servable: a snapshot must not run code.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import errors
from engine.graph import Operation, make_op
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["numpy_function", "py_func"]


@register
class PyFunc(OpDef):
    """attr func called on the inputs as numpy arrays; it returns one array per dtype in attr
    Tout (a single array or a list/tuple). Outputs have unknown shapes, as in TF."""

    differentiable = False
    stateful = True

    def infer(self, op: Operation) -> list[Spec]:
        return [(None, dtype) for dtype in op.attrs["Tout"]]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        func, tout = op.attrs["func"], op.attrs["Tout"]
        to_host, from_host = ctx.backend.to_host, ctx.backend.from_host
        where = f"[[node {op.name} (op: {op.type})]]"

        def call(*arrays: Any) -> Any:
            # copies where the host array is the engine's own, which func may change in place
            args = [host.copy() if host is array else host
                    for array, host in ((a, to_host(a)) for a in arrays)]
            try:
                result = func(*(a[()] if a.ndim == 0 else a for a in args))
            except Exception as e:
                raise errors.UnknownError(
                    None, op, f"{type(e).__name__}: {e}\n{traceback.format_exc()}\t {where}") from e
            values = [] if result is None else [_to_numpy(v) for v in (
                result if isinstance(result, list | tuple) else [result])]
            if len(values) != len(tout):
                raise errors.InvalidArgumentError(
                    None, op, f"{op.name} returns {len(values)} values, but expects to see "
                              f"{len(tout)} values. {where}")
            for i, (value, dtype) in enumerate(zip(values, tout, strict=True)):
                if value.dtype != dtype.np:
                    raise errors.InvalidArgumentError(
                        None, op, f"{i}-th value returned by {op.name} is {_name(value)}, but "
                                  f"expects {dtype.name} {where}")
            outputs = [v if v.dtype == object else from_host(v) for v in values]
            return outputs[0] if len(outputs) == 1 else tuple(outputs) or None

        return call


def _to_numpy(value: Any) -> np.ndarray:
    """A returned value as TF converts it: an array of its own dtype (Python floats are
    float64), text as byte-string objects."""
    array = np.asarray(value)
    if array.dtype.kind == "U":
        return np.char.encode(array, "utf-8").astype(object)
    return array.astype(object) if array.dtype.kind == "S" else array


def _name(array: np.ndarray) -> str:
    """The dtype of a returned array as the error names it (numpy's name if not an engine's)."""
    try:
        return _dtypes.as_dtype(array.dtype).name
    except TypeError:
        return str(array.dtype)


def py_func(func: Callable[..., Any], inp: Any, Tout: Any, stateful: bool = True,
            name: str | None = None) -> Any:
    """func(*inputs as numpy arrays) as an op: a list of tensors for a list `Tout`, one tensor
    for a single dtype (the op itself for an empty list). `stateful=False` is accepted, but
    the op is treated as stateful anyway: the engine cannot see what func depends on."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {func!r}.")
    if not isinstance(inp, list | tuple):
        raise TypeError(f"Expected list for 'input' argument to 'PyFunc' Op, not {inp!r}.")
    many = isinstance(Tout, list | tuple)
    tout = tuple(_dtypes.as_dtype(t) for t in (Tout if many else [Tout]))
    op = make_op("PyFunc", list(inp), {"func": func, "Tout": tout}, name or "PyFunc")
    if not many:
        return op.outputs[0]
    return list(op.outputs) if op.outputs else op


def numpy_function(func: Callable[..., Any], inp: Any, Tout: Any,
                   name: str | None = None) -> Any:
    """`py_func` under its later name."""
    return py_func(func, inp, Tout, name=name)

