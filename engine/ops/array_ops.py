"""Constants, placeholders and shape manipulation ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import errors
from engine.graph import Operation, Tensor, get_default_graph, make_op
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import as_shape_tuple, compatible, fmt

__all__ = ["constant", "ones_like", "placeholder", "placeholder_with_default", "zeros_like"]


@register
class Const(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        value = op.attrs["value"]
        return [(value.shape, _dtypes.as_dtype(value.dtype))]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        value = ctx.backend.from_host(op.attrs["value"])
        return lambda: value


@register
class Placeholder(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.attrs["shape"], op.attrs["dtype"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        def unfed() -> Any:
            shape = op.attrs["shape"]
            raise errors.InvalidArgumentError(
                None, op,
                f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                f"{op.attrs['dtype'].name}" + ("" if shape is None else f" and shape {fmt(shape)}")
                + f" (feed_dict={{{op.name}: ...}}).",
            )

        return unfed


@register
class PlaceholderWithDefault(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        return [(op.attrs["shape"], op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda x: x

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [dy]


def constant(value: Any, dtype: Any = None, shape: Any = None, name: str = "Const",
             verify_shape: bool = False) -> Tensor:
    """A tensor holding `value` (python or numpy), optionally cast to `dtype` and shaped."""
    if isinstance(value, Tensor):
        raise TypeError(f"tf.constant expects a python or numpy value, got tensor {value.name}.")
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.infer_dtype(value)
    try:
        array = np.array(value, dtype=dt.np)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Cannot convert {value!r} to a {dt.name} tensor: {e}") from None
    if shape is not None:
        target = as_shape_tuple(shape)
        if target is None or any(d is None for d in target):
            raise ValueError(f"tf.constant needs a fully defined shape, got {shape!r}.")
        size = int(np.prod(target))
        if array.size == size:
            array = array.reshape(target)
        elif array.size == 1 and not verify_shape:
            array = np.full(target, array.reshape(()), dtype=dt.np)
        elif array.size < size and array.ndim <= 1 and not verify_shape:
            array = np.concatenate([array.reshape(-1),
                                    np.full(size - array.size, array.reshape(-1)[-1])])
            array = array.astype(dt.np).reshape(target)
        else:
            raise TypeError(
                f"Expected Tensor's shape: {tuple(target)}, got {array.shape}: a {array.size}-"
                f"element value can't fill shape {fmt(target)}."
            )
    array.setflags(write=False)
    graph = get_default_graph()
    return graph.create_op("Const", [], {"value": array, "dtype": dt}, name).outputs[0]


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """A tensor whose value must be fed at `Session.run` time."""
    dt = _dtypes.as_dtype(dtype)
    attrs = {"dtype": dt, "shape": as_shape_tuple(shape)}
    return get_default_graph().create_op("Placeholder", [], attrs, name or "Placeholder").outputs[0]


def placeholder_with_default(input: Any, shape: Any, name: str | None = None) -> Tensor:  # noqa: A002
    """Like placeholder, but yields `input` when not fed."""
    op = make_op("PlaceholderWithDefault", [input], {"shape": as_shape_tuple(shape)},
                 name or "PlaceholderWithDefault")
    default = op.inputs[0].static_shape
    if not compatible(op.attrs["shape"], default):
        raise ValueError(
            f"Default value of shape {fmt(default)} is not compatible with the placeholder "
            f"shape {fmt(op.attrs['shape'])}."
        )
    return op.outputs[0]


@register
class OnesLike(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return ctx.xp.ones_like


@register
class ZerosLike(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return ctx.xp.zeros_like


@register
class BroadcastToShapeOf(OpDef):
    """Broadcast input 0 to the runtime shape of input 1 (gradient of SumToShapeOf)."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x, like: xp.broadcast_to(x, like.shape)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        from engine.ops.math_ops import sum_to

        return [sum_to(dy, op.inputs[0]), None]


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    return make_op("OnesLike", [tensor], name=name or "ones_like").outputs[0]


def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    return make_op("ZerosLike", [tensor], name=name or "zeros_like").outputs[0]


def broadcast_to_like(x: Tensor, like: Tensor) -> Tensor:
    return make_op("BroadcastToShapeOf", [x, like]).outputs[0]
