"""Reductions (reduce_sum, reduce_mean, ...), argmax/argmin, and the ops their gradients use.

Reduction axes are fixed when the graph is built (python ints or constant tensors), so each
kernel binds them once. They are made non-negative when the input's rank is known; otherwise
they go to numpy as given. A reduction's gradient spreads the output gradient back over the
reduced axes; the counts it divides by (mean) or the positions it routes to (max/min) are found
at run time, so unknown dims such as a None batch size work.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine.graph import Operation, Tensor, _is_tensorlike, convert_to_tensor, graph_of, make_op
from engine.ops.math_ops import (
    BOOL,
    FLOAT,
    NUMERIC,
    cast,
    check_kind,
    exp,
    multiply,
    not_equal,
    shape_error,
    subtract,
)
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import Shape

__all__ = [
    "argmax", "argmin", "count_nonzero", "reduce_all", "reduce_any", "reduce_logsumexp",
    "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum",
]

Axes = tuple[int, ...] | None  # None: every axis


# -- axes -----------------------------------------------------------------------------------------
def _axes(op: Operation, x: Tensor) -> Axes:
    """The op's `axis` attr for input `x`: sorted and non-negative when x's rank is known."""
    axes, shape = op.attrs["axis"], x.static_shape
    if axes is None or shape is None:
        return axes
    rank = len(shape)
    for a in axes:
        if not -rank <= a < rank:
            raise shape_error(op, f"Invalid reduction dimension {a} for input with {rank} "
                                  f"dimensions")
    return tuple(sorted({a % rank for a in axes}))


def _reduced_shape(shape: Shape, axes: Axes, keepdims: bool) -> Shape:
    if shape is None:
        return () if axes is None and not keepdims else None
    if axes is None:
        axes = tuple(range(len(shape)))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _same(value: Any) -> Any:
    return value


def _expander(op: Operation, xp: Any) -> Callable[[Any], Any]:
    """Puts back the reduced axes of a reduction result as size-1 dims, so that it broadcasts
    against the input (a no-op for keepdims results and for reductions to a scalar)."""
    axes = _axes(op, op.inputs[1])
    if op.attrs["keepdims"] or axes is None:
        return _same
    return lambda v: xp.expand_dims(v, axes)


def _build_time(value: Any, what: str) -> Any:
    """An axis argument as a python value: given directly or as a constant tensor."""
    if _is_tensorlike(value):
        from engine.ops.array_ops import constant_value  # array_ops imports math_ops

        known = constant_value(convert_to_tensor(value))
        if known is None:
            raise TypeError(f"'{what}' must be known when the graph is built; got a computed "
                            f"tensor.")
        value = known
    try:
        return np.asarray(value)
    except ValueError:
        raise TypeError(f"'{what}' must be an int or a list of ints, got {value!r}.") from None


def _axis_attr(axis: Any) -> Axes:
    """TF's `axis` argument (None, an int, or a list/array/constant of ints) as an attr."""
    if axis is None:
        return None
    values = _build_time(axis, "axis")
    if values.size and (values.dtype.kind not in "iu" or values.ndim > 1):
        raise TypeError(f"axis must be an int or a list of ints, got {axis!r}.")
    return tuple(dict.fromkeys(int(a) for a in values.reshape(-1)))


def _alias(name: str, value: Any, old_name: str, old_value: Any) -> Any:
    """TF 1.x's deprecated argument names (reduction_indices, keep_dims, dimension)."""
    if value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{name}' and '{old_name}'.")
    return value if value is not None else old_value


# -- reductions -----------------------------------------------------------------------------------
class Reduce(OpDef):
    """x -> x reduced over attr `axis` (None = all), reduced dims kept as 1 when `keepdims`.

    `method` names the ndarray method; `widens` marks sums/products, which numpy would widen
    from small int types to int64, so the kernel pins the dtype.
    """

    method = ""
    kinds = NUMERIC
    widens = False

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        check_kind(op, x, self.kinds, "input")
        shape = _reduced_shape(x.static_shape, _axes(op, x), op.attrs["keepdims"])
        return [(shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        x = op.inputs[0]
        kwargs: dict[str, Any] = {"axis": _axes(op, x), "keepdims": op.attrs["keepdims"]}
        if self.widens and x.dtype.is_integer:
            kwargs["dtype"] = x.dtype.np
        return operator.methodcaller(self.method, **kwargs)


def _spread(dy: Tensor, op: Operation, mean: bool = False) -> Tensor:
    """The gradient `dy` of reduction `op` broadcast back over its input's shape."""
    attrs = {"axis": op.attrs["axis"], "keepdims": op.attrs["keepdims"], "mean": mean}
    return make_op("BroadcastReduced", [dy, op.inputs[0]], attrs).outputs[0]


@register
class Sum(Reduce):
    method, widens = "sum", True

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [_spread(dy, op)]


@register
class Mean(Reduce):
    """Integer means truncate toward zero, as in TF."""

    method, widens = "mean", True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        x = op.inputs[0]
        if not x.dtype.is_floating or x.dtype.np.itemsize < 4:
            return super().kernel(op, ctx)  # ints truncate; float16 sums in float32
        axes, keepdims = _axes(op, x), op.attrs["keepdims"]
        add, divide = ctx.backend.sum, ctx.xp.true_divide

        def mean(x: Any) -> Any:  # as ndarray.mean computes it, without its Python frames
            total = add(x, axis=axes, keepdims=keepdims)
            return divide(total, x.size // max(total.size, 1))

        return mean

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [_spread(dy, op, mean=True)]


@register
class Prod(Reduce):
    method, widens = "prod", True

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        attrs = {"axis": op.attrs["axis"], "keepdims": op.attrs["keepdims"]}
        return [make_op("ReduceProdGrad", [dy, op.inputs[0]], attrs).outputs[0]]


class _MaxOrMin(Reduce):
    """Max / Min: the gradient goes to the elements equal to the result, split among ties."""

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        attrs = {"axis": op.attrs["axis"], "keepdims": op.attrs["keepdims"]}
        return [make_op("ReduceExtremumGrad", [dy, op.inputs[0], op.outputs[0]],
                        attrs).outputs[0]]


@register
class Max(_MaxOrMin):
    method = "max"


@register
class Min(_MaxOrMin):
    method = "min"


@register
class ReduceAll(Reduce):
    type, method, kinds, differentiable = "All", "all", BOOL, False


@register
class ReduceAny(Reduce):
    type, method, kinds, differentiable = "Any", "any", BOOL, False


@register
class ReduceLogSumExp(Reduce):
    """log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m the finite max."""

    kinds = FLOAT

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axes, keep = ctx.xp, _axes(op, op.inputs[0]), op.attrs["keepdims"]

        def logsumexp(x: Any) -> Any:
            m = x.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)  # all -inf stays -inf, an inf gives inf
            total = xp.exp(x - m).sum(axis=axes, keepdims=keep)
            return xp.log(total) + m.reshape(total.shape)

        return logsumexp

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        x, y = op.inputs[0], op.outputs[0]
        return [multiply(_spread(dy, op), exp(subtract(x, _spread(y, op))))]


# -- gradient ops: (g, x, ...) with g a reduction result of x; output has x's shape ----------------
class _ReductionGrad(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[0].dtype)]


@register
class BroadcastReduced(_ReductionGrad):
    """(g, x) -> g spread over x's shape; divided by the number of elements reduced into each
    result (counted at run time) when attr `mean`."""

    shape_only_inputs = (1,)

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        broadcast, expand = ctx.xp.broadcast_to, _expander(op, ctx.xp)
        if op.attrs["mean"]:
            return lambda g, x: broadcast(expand(g / (x.size // max(g.size, 1))), x.shape)
        return lambda g, x: broadcast(expand(g), x.shape)

    def grad(self, op: Operation, dz: Tensor | None) -> list[Tensor | None]:
        reduce = reduce_mean if op.attrs["mean"] else reduce_sum
        return [reduce(dz, op.attrs["axis"], op.attrs["keepdims"]), None]


@register
class ReduceExtremumGrad(_ReductionGrad):
    """(g, x, y) -> g at the elements of x equal to their reduction result y, split among ties
    (TF's rule for max and min)."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        expand, axes, dtype = _expander(op, ctx.xp), _axes(op, op.inputs[1]), op.outputs[0].dtype.np

        def extremum_grad(g: Any, x: Any, y: Any) -> Any:
            hits = (x == expand(y)).astype(dtype)
            return hits * (expand(g) / hits.sum(axis=axes, keepdims=True))

        return extremum_grad


@register
class ReduceProdGrad(_ReductionGrad):
    """(g, x) -> g times the product of the other reduced elements, found with exclusive
    cumulative products from both ends, so zeros in x are handled exactly (no division)."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, expand, static_axes = ctx.xp, _expander(op, ctx.xp), _axes(op, op.inputs[1])

        def prod_grad(g: Any, x: Any) -> Any:
            ndim = x.ndim
            axes = range(ndim) if static_axes is None else {a % ndim for a in static_axes}
            kept = [i for i in range(ndim) if i not in axes]
            perm = kept + sorted(axes)
            moved = xp.transpose(x, perm)
            rows = moved.reshape(*moved.shape[:len(kept)], math.prod(moved.shape[len(kept):]))
            ones = xp.ones_like(rows[..., :1])
            before = xp.cumprod(xp.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
            after = xp.cumprod(xp.concatenate([ones, rows[..., :0:-1]], axis=-1), axis=-1)
            others = (before * after[..., ::-1]).reshape(moved.shape)
            return xp.transpose(others, sorted(range(ndim), key=perm.__getitem__)) * expand(g)

        return prod_grad


def _reduce(op_type: str, input_tensor: Any, axis: Any, keepdims: bool | None, name: str | None,
            reduction_indices: Any, keep_dims: bool | None) -> Tensor:
    attrs = {
        "axis": _axis_attr(_alias("axis", axis, "reduction_indices", reduction_indices)),
        "keepdims": bool(_alias("keepdims", keepdims, "keep_dims", keep_dims)),
    }
    return make_op(op_type, [input_tensor], attrs, name or op_type).outputs[0]


def reduce_sum(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
               name: str | None = None, reduction_indices: Any = None,
               keep_dims: bool | None = None) -> Tensor:
    return _reduce("Sum", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_mean(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
                name: str | None = None, reduction_indices: Any = None,
                keep_dims: bool | None = None) -> Tensor:
    return _reduce("Mean", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_prod(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
                name: str | None = None, reduction_indices: Any = None,
                keep_dims: bool | None = None) -> Tensor:
    return _reduce("Prod", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_max(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
               name: str | None = None, reduction_indices: Any = None,
               keep_dims: bool | None = None) -> Tensor:
    return _reduce("Max", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_min(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
               name: str | None = None, reduction_indices: Any = None,
               keep_dims: bool | None = None) -> Tensor:
    return _reduce("Min", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_all(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
               name: str | None = None, reduction_indices: Any = None,
               keep_dims: bool | None = None) -> Tensor:
    return _reduce("All", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_any(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
               name: str | None = None, reduction_indices: Any = None,
               keep_dims: bool | None = None) -> Tensor:
    return _reduce("Any", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_logsumexp(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
                     name: str | None = None, reduction_indices: Any = None,
                     keep_dims: bool | None = None) -> Tensor:
    return _reduce("ReduceLogSumExp", input_tensor, axis, keepdims, name, reduction_indices,
                   keep_dims)


def count_nonzero(input_tensor: Any, axis: Any = None, keepdims: bool | None = None,
                  dtype: Any = _dtypes.int64, name: str | None = None,
                  reduction_indices: Any = None, keep_dims: bool | None = None) -> Tensor:
    """The number of non-zero elements along `axis`, as TF composes it."""
    graph = graph_of([input_tensor])
    with graph.name_scope(name or "count_nonzero"):
        nonzero = cast(not_equal(convert_to_tensor(input_tensor, graph=graph), 0), _dtypes.int64)
        counts = reduce_sum(nonzero, axis, keepdims, None, reduction_indices, keep_dims)
        return cast(counts, dtype)


# -- argmax / argmin ------------------------------------------------------------------------------
class _ArgReduce(OpDef):
    """The index of the largest/smallest element along attr `axis` (the first one among ties),
    as attr `output_type` (int32 or int64)."""

    differentiable = False
    method = ""

    def infer(self, op: Operation) -> list[Spec]:
        x, axis, out = op.inputs[0], op.attrs["axis"], op.attrs["output_type"]
        check_kind(op, x, NUMERIC, "input")
        if out not in (_dtypes.int32, _dtypes.int64):
            raise TypeError(f"Value passed to parameter 'output_type' has DataType {out.name} "
                            f"not in list of allowed values: int32, int64")
        shape = x.static_shape
        if shape is None:
            return [(None, out)]
        if not -len(shape) <= axis < len(shape):
            raise shape_error(op, f"Expected dimension in the range [{-len(shape)}, "
                                  f"{len(shape)}), but got {axis}")
        axis %= len(shape)
        return [(shape[:axis] + shape[axis + 1:], out)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        reduce = operator.methodcaller(self.method, axis=op.attrs["axis"])
        convert = operator.methodcaller("astype", op.attrs["output_type"].np, copy=False)
        return lambda x: convert(reduce(x))


@register
class ArgMax(_ArgReduce):
    method = "argmax"


@register
class ArgMin(_ArgReduce):
    method = "argmin"


def _arg_reduce(op_type: str, input: Any, axis: Any, dimension: Any,
                output_type: Any, name: str | None) -> Tensor:
    """TF 1.x: axis (or its old name `dimension`) defaults to 0."""
    axis = _alias("axis", axis, "dimension", dimension)
    value = 0 if axis is None else _build_time(axis, "axis")
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "iu":
        raise TypeError(f"axis must be a scalar int, got {axis!r}.")
    attrs = {"axis": int(value), "output_type": _dtypes.as_dtype(output_type)}
    return make_op(op_type, [input], attrs, name or op_type).outputs[0]


def argmax(input: Any, axis: Any = None, name: str | None = None,
           dimension: Any = None, output_type: Any = _dtypes.int64) -> Tensor:
    return _arg_reduce("ArgMax", input, axis, dimension, output_type, name)


def argmin(input: Any, axis: Any = None, name: str | None = None,
           dimension: Any = None, output_type: Any = _dtypes.int64) -> Tensor:
    return _arg_reduce("ArgMin", input, axis, dimension, output_type, name)
