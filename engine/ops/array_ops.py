"""Constants, placeholders, shape manipulation, indexing and tensor construction ops.

Shape-like arguments (reshape's shape, tile's multiples, slice bounds, ...) are int tensor inputs
as in TF, so they may be computed at run time. `constant_value` / `shape_value` recover them
when the graph is built, for static shapes; `host_reader` lets kernels read constant ones once
per plan instead of every step (on a GPU each read would be a device -> host copy).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import errors
from engine.graph import (
    Operation,
    Tensor,
    _is_tensorlike,
    convert_to_tensor,
    get_default_graph,
    make_op,
)
from engine.ops.math_ops import (
    BOOL,
    NUMERIC,
    check_kind,
    check_same_dtype,
    shape_error,
    sum_to,
)
from engine.registry import ExecContext, Kernel, OpDef, Spec, lookup, register
from engine.shapes import (
    Dimension,
    Shape,
    TensorShape,
    as_shape_tuple,
    compatible,
    fmt,
    merge,
    num_elements,
)

__all__ = [
    "boolean_mask", "broadcast_to", "concat", "constant", "expand_dims", "fill", "gather",
    "gather_nd", "lin_space",
    "linspace", "newaxis", "one_hot", "ones", "ones_like", "pad", "placeholder",
    "placeholder_with_default", "range", "rank", "reshape", "reverse", "shape", "size", "slice",
    "split", "squeeze", "stack", "strided_slice", "tile", "transpose", "unstack", "zeros",
    "zeros_like",
]

newaxis = None


# -- build-time values of int inputs ---------------------------------------------------------------
def constant_value(t: Tensor) -> np.ndarray | None:
    """The value of `t` when it is known at build time (TF's tensor_util.constant_value).

    Op types that can be folded define `fold(op)`: constants, shapes of fully known tensors, and
    packs, concatenations and slices of foldable values. Stateful ops never define it.
    """
    fold = getattr(lookup(t.op.type), "fold", None)
    return None if fold is None else fold(t.op)


def shape_value(t: Tensor) -> list[int | None] | None:
    """The elements of a 1-D int tensor known at build time, None where unknown; None overall
    when even its length is unknown (TF's constant_value_as_shape)."""
    value = constant_value(t)
    if value is not None:
        return [int(v) for v in value.reshape(-1)]
    partial = getattr(lookup(t.op.type), "partial", None)
    known = None if partial is None else partial(t.op)
    if known is not None:
        return known
    s = t.static_shape
    return [None] * s[0] if s is not None and len(s) == 1 and s[0] is not None else None


def static_dims(op: Operation, t: Tensor) -> Shape:
    """A shape given as the int tensor `t` (fill, random ops), checked to be non-negative."""
    dims = shape_value(t)
    if dims is None:
        return None
    for d in dims:
        if d is not None and d < 0:
            raise shape_error(op, f"Dimension {d} must be >= 0")
    return tuple(dims)


def check_int(op: Operation, t: Tensor, param: str) -> None:
    if not t.dtype.is_integer:
        raise TypeError(
            f"Value passed to parameter '{param}' has DataType {t.dtype.name} not in list of "
            f"allowed values: int32, int64 (op '{op.name}' of type {op.type})."
        )


def check_int_vector(op: Operation, t: Tensor, param: str) -> None:
    """An int input holding a list of values (a shape, multiples, slice bounds): rank 1."""
    check_int(op, t, param)
    s = t.static_shape
    if s is not None and len(s) != 1:
        raise shape_error(op, f"Shape must be rank 1 but is rank {len(s)} for input '{param}'")


def shape_arg(value: Any) -> Any:
    """A shape/index argument ready for make_op: tensors pass through, a TensorShape or list of
    ints becomes an int array, and a list holding scalar tensors is stacked (TF's auto-packing)."""
    if isinstance(value, TensorShape):
        value = value.as_list()
    if not isinstance(value, list | tuple):
        return value
    items = [v.value if isinstance(v, Dimension) else v for v in value]
    tensors = [v for v in items if _is_tensorlike(v)]
    if tensors:
        dt = convert_to_tensor(tensors[0]).dtype.np
        return stack([v if _is_tensorlike(v) else np.asarray(v, dt) for v in items])
    try:
        array = np.asarray(items)
    except ValueError:
        raise ValueError(f"Can't convert non-rectangular Python sequence to Tensor: "
                         f"{value!r}") from None
    return array.astype(np.int32) if array.size == 0 else array


def host_reader(ctx: ExecContext, t: Tensor) -> Callable[[Any], Any]:
    """Reads an int input as python values: constants once per plan, others at every step."""
    value = constant_value(t)
    if value is not None:
        fixed = value.tolist()
        return lambda _: fixed
    to_host = ctx.backend.to_host
    return lambda array: to_host(array).tolist()


def _static(value: Any, what: str) -> Any:
    """A build-time argument (axis, perm, depth, ...): a python value or a constant tensor."""
    if isinstance(value, Dimension):
        value = value.value
    if _is_tensorlike(value):
        t = convert_to_tensor(value)
        known = constant_value(t)
        if known is None:
            raise TypeError(f"'{what}' must be known when the graph is built; got the computed "
                            f"tensor {t.name}.")
        value = known
    try:
        return np.asarray(value).tolist()
    except ValueError:
        raise TypeError(f"'{what}' must be a number or a rectangular list of numbers, got "
                        f"{value!r}.") from None


def int_arg(value: Any, what: str) -> int:
    """A build-time int argument (axis, depth, num, ...); a TypeError naming it otherwise."""
    value = _static(value, what)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"'{what}' must be an int, got {value!r}.")
    return value


def ints_arg(value: Any, what: str) -> tuple[int, ...]:
    """A build-time int or list of ints (perm, axes, sizes) as a tuple."""
    values = _static(value, what)
    items = values if isinstance(values, list) else [values]
    if any(not isinstance(v, int) or isinstance(v, bool) for v in items):
        raise TypeError(f"'{what}' must be an int or a list of ints, got {value!r}.")
    return tuple(items)


def scalar_arg(value: Any, what: str) -> Any:
    """A build-time number (a fill value): a python/numpy scalar or a constant 0-d tensor."""
    value = _static(value, what)
    if not isinstance(value, bool | int | float):
        raise TypeError(f"'{what}' must be a scalar number, got {value!r}.")
    return value


def _axis(op: Operation, axis: int, rank: int | None, extra: int = 0) -> int:
    """`axis` made non-negative for a rank-`rank` input; `extra` = 1 for ops adding a dim."""
    if rank is None:
        return axis
    n = rank + extra
    if not -n <= axis < n:
        raise shape_error(op, f"Expected axis in the range [{-n}, {n}), but got {axis}")
    return axis % n


def _outputs(parts: Sequence[Any]) -> Any:
    """A multi-output kernel's result: the Session expects a bare array when there is one."""
    return parts[0] if len(parts) == 1 else tuple(parts)


def _dense(op: Operation, grads: Sequence[Tensor | None]) -> list[Tensor]:
    """Output gradients with the missing ones (unused outputs) made explicit zeros."""
    return [zeros_like(o) if g is None else g for g, o in zip(grads, op.outputs, strict=True)]


# -- constants and placeholders --------------------------------------------------------------------
@register
class Const(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        value = op.attrs["value"]
        return [(value.shape, _dtypes.as_dtype(value.dtype))]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        value = ctx.backend.from_host(op.attrs["value"])
        return lambda: value

    def fold(self, op: Operation) -> np.ndarray:
        return op.attrs["value"]


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
    if value is None:
        raise ValueError("None values not supported: tf.constant needs a number, a bool or a "
                         "nested list of them.")
    dt = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.infer_dtype(value)
    if ((dt.is_integer or dt.is_bool) and not isinstance(value, np.ndarray | np.generic)
            and _dtypes.infer_dtype(value).is_floating):
        raise TypeError(f"Expected {dt.name}, got {value!r} of type float instead: a python "
                        f"float can't become a {dt.name} tensor; round or cast it first.")
    try:
        array = np.array(value, dtype=dt.np)
    except (TypeError, ValueError, OverflowError) as e:
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
                f"Expected Tensor's shape: {tuple(target)}, got {array.shape}: a "
                f"{array.size}-element value can't fill shape {fmt(target)}."
            )
    array.setflags(write=False)
    graph = get_default_graph()
    return graph.create_op("Const", [], {"value": array, "dtype": dt}, name).outputs[0]


def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """A tensor whose value must be fed at `Session.run` time."""
    dt = _dtypes.as_dtype(dtype)
    attrs = {"dtype": dt, "shape": as_shape_tuple(shape)}
    return get_default_graph().create_op("Placeholder", [], attrs, name or "Placeholder").outputs[0]


def placeholder_with_default(input: Any, shape: Any, name: str | None = None) -> Tensor:
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


# -- filled tensors ------------------------------------------------------------------------------
class _FilledLike(OpDef):
    """zeros_like / ones_like: `fn` names the xp function; attr dtype overrides the input's."""

    differentiable = False
    fn = ""

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        return [(x.static_shape, op.attrs.get("dtype") or x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        fn, dtype = getattr(ctx.xp, self.fn), op.outputs[0].dtype.np
        return lambda x: fn(x, dtype=dtype)


@register
class OnesLike(_FilledLike):
    fn = "ones_like"


@register
class ZerosLike(_FilledLike):
    fn = "zeros_like"


@register
class Fill(OpDef):
    """A tensor of shape `dims` (input 0) with every element equal to scalar input 1."""

    def infer(self, op: Operation) -> list[Spec]:
        dims, value = op.inputs
        check_int_vector(op, dims, "dims")
        if value.static_shape not in (None, ()):
            raise shape_error(op, f"Shape must be rank 0 but is rank {len(value.static_shape)}")
        return [(static_dims(op, dims), value.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, dims_of, dtype = ctx.xp, host_reader(ctx, op.inputs[0]), op.inputs[1].dtype.np

        def fill(dims: Any, value: Any) -> Any:
            out = xp.empty(dims_of(dims), dtype)
            out[...] = value
            return out

        return fill

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [None, sum_to(dy, op.inputs[1])]


def fill(dims: Any, value: Any, name: str | None = None) -> Tensor:
    return make_op("Fill", [shape_arg(dims), value], name=name or "Fill").outputs[0]


def zeros(shape: Any, dtype: Any = _dtypes.float32, name: str | None = None) -> Tensor:
    return _filled(shape, dtype, 0, name or "zeros")


def ones(shape: Any, dtype: Any = _dtypes.float32, name: str | None = None) -> Tensor:
    return _filled(shape, dtype, 1, name or "ones")


def _filled(shape: Any, dtype: Any, value: int, name: str) -> Tensor:
    scalar = np.asarray(value, _dtypes.as_dtype(dtype).np)
    return make_op("Fill", [shape_arg(shape), scalar], name=name).outputs[0]


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None,
              optimize: bool = True) -> Tensor:
    return _like("OnesLike", tensor, dtype, name or "ones_like")


def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None,
               optimize: bool = True) -> Tensor:
    return _like("ZerosLike", tensor, dtype, name or "zeros_like")


def _like(op_type: str, tensor: Any, dtype: Any, name: str) -> Tensor:
    attrs = {"dtype": None if dtype is None else _dtypes.as_dtype(dtype)}
    return make_op(op_type, [tensor], attrs, name).outputs[0]


# -- shape queries -------------------------------------------------------------------------------
class _ShapeQuery(OpDef):
    """Shape / Size / Rank: a measure of the input's runtime shape, folded when static."""

    differentiable = False
    needs_dims = True  # whether folding needs every dim known, or only the rank

    def measure(self, shape: tuple[int, ...]) -> Any:
        raise NotImplementedError

    def infer(self, op: Operation) -> list[Spec]:
        return [((), op.attrs["out_type"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, dtype, measure = ctx.xp, op.attrs["out_type"].np, self.measure
        return lambda x: xp.asarray(measure(x.shape), dtype=dtype)

    def fold(self, op: Operation) -> np.ndarray | None:
        s = op.inputs[0].static_shape
        if s is None or (self.needs_dims and None in s):
            return None
        return np.asarray(self.measure(s), dtype=op.attrs["out_type"].np)  # type: ignore[arg-type]


@register
class ShapeOf(_ShapeQuery):
    type = "Shape"  # the class name would shadow the `Shape` annotation alias

    def measure(self, shape: tuple[int, ...]) -> Any:
        return shape

    def infer(self, op: Operation) -> list[Spec]:
        s = op.inputs[0].static_shape
        return [((None if s is None else len(s),), op.attrs["out_type"])]

    def partial(self, op: Operation) -> list[int | None] | None:
        s = op.inputs[0].static_shape
        return None if s is None else list(s)


@register
class Size(_ShapeQuery):
    def measure(self, shape: tuple[int, ...]) -> Any:
        return math.prod(shape)


@register
class Rank(_ShapeQuery):
    needs_dims = False

    def measure(self, shape: tuple[int, ...]) -> Any:
        return len(shape)


def shape(input: Any, name: str | None = None, out_type: Any = _dtypes.int32) -> Tensor:
    return _query("Shape", input, name, out_type)


def size(input: Any, name: str | None = None, out_type: Any = _dtypes.int32) -> Tensor:
    return _query("Size", input, name, out_type)


def rank(input: Any, name: str | None = None) -> Tensor:
    return _query("Rank", input, name, _dtypes.int32)


def _query(op_type: str, input: Any, name: str | None, out_type: Any) -> Tensor:
    attrs = {"out_type": _dtypes.as_dtype(out_type)}
    if attrs["out_type"] not in (_dtypes.int32, _dtypes.int64):
        raise TypeError(f"Value passed to parameter 'out_type' has DataType "
                        f"{attrs['out_type'].name} not in list of allowed values: int32, int64")
    return make_op(op_type, [input], attrs, name or op_type).outputs[0]


# -- reshaping -----------------------------------------------------------------------------------
class _Reshaping(OpDef):
    """Ops that keep x's elements in order and only change its shape: dy is reshaped back."""

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        back = reshape(dy, shape(op.inputs[0]))
        return [back] + [None] * (len(op.inputs) - 1)


@register
class Reshape(_Reshaping):
    def infer(self, op: Operation) -> list[Spec]:
        x, target = op.inputs
        check_int_vector(op, target, "shape")
        dims = shape_value(target)
        if dims is None:
            return [(None, x.dtype)]
        wild = [i for i, d in enumerate(dims) if d == -1]
        if len(wild) > 1:
            raise shape_error(op, f"Only one input size may be -1, not both {wild[0]} and "
                                  f"{wild[1]}")
        for i, d in enumerate(dims):
            if d is not None and d < -1:
                raise shape_error(op, f"Size {i} must be non-negative, not {d}")
        n_in = num_elements(x.static_shape)
        known = math.prod(d for d in dims if d is not None and d != -1)
        if None in dims or n_in is None:
            return [(tuple(None if d == -1 else d for d in dims), x.dtype)]
        if wild:
            if not known and n_in:
                raise shape_error(op, f"Cannot reshape a tensor with {n_in} elements to shape "
                                      f"{fmt(tuple(dims))}: -1 can't be inferred next to a 0")
            if known and n_in % known:
                raise shape_error(op, f"Dimension size must be evenly divisible by {known} but "
                                      f"is {n_in}")
            fill_in = n_in // known if known else None
            return [(tuple(fill_in if d == -1 else d for d in dims), x.dtype)]
        if n_in != known:
            raise shape_error(op, f"Cannot reshape a tensor with {n_in} elements to shape "
                                  f"{fmt(tuple(dims))} ({known} elements)")
        return [(tuple(dims), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        dims_of = host_reader(ctx, op.inputs[1])
        return lambda x, dims: x.reshape(dims_of(dims))


@register
class ExpandDims(_Reshaping):
    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        s = x.static_shape
        if s is None:
            return [(None, x.dtype)]
        axis = _axis(op, op.attrs["axis"], len(s), extra=1)
        return [((*s[:axis], 1, *s[axis:]), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]
        return lambda x: xp.expand_dims(x, axis)


@register
class Squeeze(_Reshaping):
    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        s, axes = x.static_shape, op.attrs["axis"]
        if s is None or (not axes and None in s):
            return [(None, x.dtype)]
        drop = {_axis(op, a, len(s)) for a in axes} or {i for i, d in enumerate(s) if d == 1}
        for a in drop:
            if s[a] not in (None, 1):
                raise shape_error(op, f"Can not squeeze dim[{a}], expected a dimension of 1, "
                                      f"got {s[a]}")
        return [(tuple(d for i, d in enumerate(s) if i not in drop), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        axes = op.attrs["axis"] or None
        return lambda x: x.squeeze(axes)


def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    return make_op("Reshape", [tensor, shape_arg(shape)], name=name or "Reshape").outputs[0]


def expand_dims(input: Any, axis: Any = None, name: str | None = None,
                dim: Any = None) -> Tensor:
    """Insert a size-1 dimension at `axis` (`dim` is its deprecated name)."""
    if (axis is None) == (dim is None):
        raise ValueError("Pass exactly one of 'axis' and its deprecated alias 'dim' to "
                         "tf.expand_dims().")
    axis = int_arg(dim if axis is None else axis, "axis")
    return make_op("ExpandDims", [input], {"axis": axis}, name or "ExpandDims").outputs[0]


def squeeze(input: Any, axis: Any = None, name: str | None = None,
            squeeze_dims: Any = None) -> Tensor:
    """Remove size-1 dimensions: those in `axis` (old name `squeeze_dims`), else all of them."""
    if axis is not None and squeeze_dims is not None:
        raise ValueError("Cannot specify both 'squeeze_dims' and 'axis'.")
    axes = squeeze_dims if axis is None else axis
    axes = () if axes is None else ints_arg(axes, "axis")
    return make_op("Squeeze", [input], {"axis": axes}, name or "Squeeze").outputs[0]


# -- permuting and reversing -----------------------------------------------------------------------
@register
class Transpose(OpDef):
    """Permute dimensions; attr perm None reverses them (for inputs of any rank)."""

    def infer(self, op: Operation) -> list[Spec]:
        x, perm = op.inputs[0], op.attrs["perm"]
        s = x.static_shape
        if s is None:
            return [(None if perm is None else (None,) * len(perm), x.dtype)]
        if perm is None:
            return [(s[::-1], x.dtype)]
        if len(perm) != len(s):
            raise shape_error(op, f"Dimension must be {len(s)} but is {len(perm)}")
        if sorted(perm) != list(builtins.range(len(s))):
            raise shape_error(op, f"{list(perm)} is not a permutation of 0..{len(s) - 1}")
        return [(tuple(s[p] for p in perm), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, perm = ctx.xp, op.attrs["perm"]
        return lambda x: xp.transpose(x, perm)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        perm = op.attrs["perm"]
        return [transpose(dy, None if perm is None else np.argsort(perm))]


@register
class ReverseV2(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        s = x.static_shape
        axes = [_axis(op, a, None if s is None else len(s)) for a in op.attrs["axis"]]
        if len(set(axes)) != len(axes):
            raise shape_error(op, f"axis {list(op.attrs['axis'])} names a dimension twice")
        return [(s, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axes = ctx.xp, op.attrs["axis"]
        return lambda x: xp.flip(x, axes)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [reverse(dy, op.attrs["axis"])]


def transpose(a: Any, perm: Any = None, name: str = "transpose",
              conjugate: bool = False) -> Tensor:
    attrs = {"perm": None if perm is None else ints_arg(perm, "perm")}
    return make_op("Transpose", [a], attrs, name or "transpose").outputs[0]


def reverse(tensor: Any, axis: Any, name: str | None = None) -> Tensor:
    axes = ints_arg(axis, "axis")
    return make_op("ReverseV2", [tensor], {"axis": axes}, name or "ReverseV2").outputs[0]


# -- joining and splitting -----------------------------------------------------------------------
@register
class ConcatV2(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        dtype, axis = op.inputs[0].dtype, op.attrs["axis"]
        shapes = [t.static_shape for t in op.inputs]
        known = [s for s in shapes if s is not None]
        if not known:
            return [(None, dtype)]
        first = known[0]
        axis = _axis(op, axis, len(first))
        out = list(first)
        for s in known[1:]:
            if len(s) != len(first):
                raise shape_error(op, f"Shape must be rank {len(first)} but is rank {len(s)}")
            for i, (a, b) in enumerate(zip(out, s, strict=True)):
                if i == axis:
                    continue
                if a is not None and b is not None and a != b:
                    raise shape_error(
                        op, f"Dimension {i} in both shapes must be equal, but are {a} and {b}. "
                            f"Shapes are {fmt(first)} and {fmt(s)}.")
                out[i] = a if a is not None else b
        along = [s[axis] for s in shapes] if len(known) == len(shapes) else [None]
        out[axis] = None if None in along else sum(along)  # type: ignore[arg-type]
        return [(tuple(out), dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]
        return lambda *xs: xp.concatenate(xs, axis)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        attrs = {"axis": op.attrs["axis"]}
        return list(make_op("SplitToShapesOf", [dy, *op.inputs], attrs).outputs)

    def fold(self, op: Operation) -> np.ndarray | None:
        values = [constant_value(t) for t in op.inputs]
        if any(v is None for v in values):
            return None
        return np.concatenate(values, op.attrs["axis"])

    def partial(self, op: Operation) -> list[int | None] | None:
        if op.attrs["axis"] not in (0, -1):
            return None
        parts = [shape_value(t) for t in op.inputs]
        return None if any(p is None for p in parts) else [d for p in parts for d in p]


class _Split(OpDef):
    """Ops with one output per piece of input 0 along attr axis; the gradient concatenates."""

    def grad(self, op: Operation, *grads: Tensor | None) -> list[Tensor | None]:
        joined = concat(_dense(op, grads), op.attrs["axis"])
        return [joined] + [None] * (len(op.inputs) - 1)


def _split_sizes(total: int | None, num: int | None,
                 sizes: Sequence[int] | None) -> list[int | None]:
    """The pieces' lengths along the split axis (one size may be -1); checks that they cover
    the axis exactly, which numpy's split would not."""
    if num is not None:
        if total is not None and total % num:
            raise ValueError(f"Dimension size must be evenly divisible by {num} but is {total}")
        return [None if total is None else total // num] * num
    assert sizes is not None
    if total is None:
        return [None if s == -1 else s for s in sizes]
    known = sum(s for s in sizes if s != -1)
    if known > total or (known != total and -1 not in sizes):
        raise ValueError(
            "Determined shape must either match input shape along split_dim exactly if fully "
            "specified, or be less than the size of the input along split_dim if not fully "
            f"specified.  Got: {known} vs. {total}")
    return [total - known if s == -1 else s for s in sizes]


@register
class SplitV(_Split):
    """Split into attr num equal pieces, or pieces of attr sizes (one of which may be -1)."""

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        num, sizes = op.attrs["num"], op.attrs["sizes"]
        count = num if num is not None else len(sizes)
        s = x.static_shape
        if s is None:
            return [(None, x.dtype)] * count
        axis = _axis(op, op.attrs["axis"], len(s))
        try:
            pieces = _split_sizes(s[axis], num, sizes)
        except ValueError as e:
            raise shape_error(op, str(e)) from None
        return [((*s[:axis], p, *s[axis + 1:]), x.dtype) for p in pieces]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis, num, sizes = ctx.xp, op.attrs["axis"], op.attrs["num"], op.attrs["sizes"]

        def split(x: Any) -> Any:
            if not -x.ndim <= axis < x.ndim:
                raise ValueError(f"axis {axis} is out of range for an input of shape "
                                 f"{tuple(x.shape)}")
            pieces = _split_sizes(x.shape[axis], num, sizes)
            return _outputs(xp.split(x, list(accumulate(pieces[:-1])), axis))

        return split


@register
class SplitToShapesOf(_Split):
    """Split input 0 along attr axis into pieces shaped like inputs 1.. (gradient of concat)."""

    def infer(self, op: Operation) -> list[Spec]:
        dtype = op.inputs[0].dtype
        return [(t.static_shape, dtype) for t in op.inputs[1:]]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]

        def split(x: Any, *likes: Any) -> Any:
            points = list(accumulate(like.shape[axis] for like in likes[:-1]))
            return _outputs(xp.split(x, points, axis))

        return split


@register
class Pack(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        s: Shape = None
        for t in op.inputs:
            try:
                s = merge(s, t.static_shape)
            except ValueError as e:
                raise shape_error(op, str(e)) from None
        if s is None:
            return [(None, op.inputs[0].dtype)]
        axis = _axis(op, op.attrs["axis"], len(s), extra=1)
        return [((*s[:axis], len(op.inputs), *s[axis:]), op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]
        return lambda *xs: xp.stack(xs, axis)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return unstack(dy, num=len(op.inputs), axis=op.attrs["axis"])

    def fold(self, op: Operation) -> np.ndarray | None:
        values = [constant_value(t) for t in op.inputs]
        if any(v is None for v in values):
            return None
        return np.stack(values, op.attrs["axis"])

    def partial(self, op: Operation) -> list[int | None] | None:
        if any(t.static_shape != () for t in op.inputs):
            return None
        values = [constant_value(t) for t in op.inputs]
        return [None if v is None else int(v) for v in values]


@register
class Unpack(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        x, num = op.inputs[0], op.attrs["num"]
        s = x.static_shape
        if s is None:
            return [(None, x.dtype)] * num
        axis = _axis(op, op.attrs["axis"], len(s))
        if s[axis] is not None and s[axis] != num:
            raise shape_error(op, f"Dimension {axis} has size {s[axis]}, not num = {num}")
        return [((*s[:axis], *s[axis + 1:]), x.dtype)] * num

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis, num = ctx.xp, op.attrs["axis"], op.attrs["num"]

        def unstack(x: Any) -> Any:
            if x.shape[axis] != num:
                raise ValueError(f"Input shape axis {axis} must equal {num}, got {x.shape}")
            return _outputs(list(xp.moveaxis(x, axis, 0)))

        return unstack

    def grad(self, op: Operation, *grads: Tensor | None) -> list[Tensor | None]:
        return [stack(_dense(op, grads), op.attrs["axis"])]


def concat(values: Sequence[Any], axis: Any, name: str = "concat") -> Tensor:
    if not isinstance(values, list | tuple):
        values = [values]  # TF: concatenating a single tensor gives it back
    if not values:
        raise ValueError("tf.concat needs at least one tensor to concatenate.")
    attrs = {"axis": int_arg(axis, "axis")}
    return make_op("ConcatV2", list(values), attrs, name or "concat").outputs[0]


def stack(values: Sequence[Any], axis: int = 0, name: str = "stack") -> Tensor:
    if not isinstance(values, list | tuple):
        raise TypeError(f"tf.stack needs a list of tensors, got {values!r}.")
    if not values:
        raise ValueError("tf.stack needs at least one value.")
    attrs = {"axis": int_arg(axis, "axis")}
    return make_op("Pack", list(values), attrs, name or "stack").outputs[0]


def unstack(value: Any, num: int | None = None, axis: int = 0,
            name: str = "unstack") -> list[Tensor]:
    """Split `value` along `axis` into `num` tensors of one rank less."""
    value = convert_to_tensor(value)
    axis = int_arg(axis, "axis")
    s = value.static_shape
    if s is not None and not -len(s) <= axis < len(s):
        raise ValueError(f"axis = {axis} not in [{-len(s)}, {len(s)}) for tf.unstack of "
                         f"{value.name} with shape {fmt(s)}")
    if num is None:
        num = None if s is None else s[axis]
        if num is None:
            raise ValueError(f"Cannot infer num from shape {fmt(s)}")
    attrs = {"num": int_arg(num, "num"), "axis": axis}
    if attrs["num"] < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    return list(make_op("Unpack", [value], attrs, name or "unstack").outputs)


def split(value: Any, num_or_size_splits: Any, axis: Any = 0, num: int | None = None,
          name: str = "split") -> list[Tensor]:
    """Split along `axis` into that many equal pieces (an int) or pieces of the given sizes."""
    spec = _static(num_or_size_splits, "num_or_size_splits")
    if not isinstance(spec, list):
        spec = int_arg(spec, "num_or_size_splits")
        if spec < 1:
            raise ValueError(f"num_or_size_splits must be >= 1, got {spec}")
        attrs: dict[str, Any] = {"num": spec, "sizes": None}
    else:
        sizes = ints_arg(spec, "num_or_size_splits")
        if sizes.count(-1) > 1 or any(s < -1 for s in sizes) or not sizes:
            raise ValueError(f"size_splits must be non-negative sizes, with at most one -1; "
                             f"got {list(sizes)}")
        attrs = {"num": None, "sizes": sizes}
    attrs["axis"] = int_arg(axis, "axis")
    return list(make_op("SplitV", [value], attrs, name or "split").outputs)


# -- tiling, padding, broadcasting ---------------------------------------------------------------
@register
class Tile(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        x, multiples = op.inputs
        check_int_vector(op, multiples, "multiples")
        reps, s = shape_value(multiples), x.static_shape
        if s is None:
            return [(None if reps is None else (None,) * len(reps), x.dtype)]
        reps = [None] * len(s) if reps is None else reps
        if len(reps) != len(s):
            raise shape_error(op, f"Expected multiples argument to be a vector of length "
                                  f"{len(s)} but got length {len(reps)}")
        out = [None if d is None or r is None else d * r for d, r in zip(s, reps, strict=True)]
        return [(tuple(out), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, reps_of = ctx.xp, host_reader(ctx, op.inputs[1])

        def tile(x: Any, reps: Any) -> Any:
            reps = reps_of(reps)
            if len(reps) != x.ndim:
                raise ValueError(f"Expected multiples argument to be a vector of length "
                                 f"{x.ndim} but got length {len(reps)}")
            return xp.tile(x, reps)

        return tile

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [make_op("SumTiles", [dy, *op.inputs]).outputs[0], None]


@register
class SumTiles(OpDef):
    """Gradient of Tile: sums the tiles of input 0 into the shape of input 1 (multiples 2)."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        reps_of = host_reader(ctx, op.inputs[2])

        def sum_tiles(dy: Any, x: Any, reps: Any) -> Any:
            split = [n for pair in zip(reps_of(reps), x.shape, strict=True) for n in pair]
            return dy.reshape(split).sum(axis=tuple(builtins.range(0, len(split), 2)))

        return sum_tiles

    def grad(self, op: Operation, g: Tensor | None) -> list[Tensor | None]:
        return [tile(g, op.inputs[2]), None, None]


@register
class Pad(OpDef):
    """Constant padding; paddings (input 1) is an int [rank, 2] matrix of before/after sizes."""

    def infer(self, op: Operation) -> list[Spec]:
        x, paddings = op.inputs
        check_int(op, paddings, "paddings")
        s, p = x.static_shape, constant_value(paddings)
        if p is None:
            rows = paddings.static_shape
            rank = len(s) if s is not None else None if rows is None else rows[0]
            return [(None if rank is None else (None,) * rank, x.dtype)]
        if p.ndim != 2 or p.shape[1] != 2 or (s is not None and p.shape[0] != len(s)):
            raise shape_error(op, f"paddings must be a matrix of shape [rank,2], got "
                                  f"{fmt(p.shape)}")
        if (p < 0).any():
            raise shape_error(op, f"paddings must be non-negative: {p.tolist()}")
        dims = s if s is not None else (None,) * len(p)
        out = [None if d is None else d + a + b for d, (a, b) in zip(dims, p.tolist(),
                                                                      strict=True)]
        return [(tuple(out), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, pads_of, value = ctx.xp, host_reader(ctx, op.inputs[1]), op.attrs["constant_values"]

        def pad(x: Any, pads: Any) -> Any:
            pads = pads_of(pads)
            if len(pads) != x.ndim or any(
                    not isinstance(p, list) or len(p) != 2 or min(p) < 0 for p in pads):
                raise ValueError(f"paddings must be a non-negative matrix of shape "
                                 f"[{x.ndim},2] for an input of shape {fmt(x.shape)}, got {pads}")
            return xp.pad(x, pads, constant_values=value)

        return pad

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        x, paddings = op.inputs
        return [slice(dy, paddings[:, 0], shape(x)), None]


@register
class BroadcastTo(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        x, target = op.inputs
        check_int_vector(op, target, "shape")
        dims, s = static_dims(op, target), x.static_shape
        if dims is None or s is None:
            return [(dims, x.dtype)]
        if len(s) > len(dims):
            raise shape_error(op, f"Rank of input ({len(s)}) must be no greater than rank of "
                                  f"output shape ({len(dims)})")
        out = list(dims)
        for i, d in enumerate(s, start=len(dims) - len(s)):
            if d is None or d == 1:
                continue
            if out[i] is None:
                out[i] = d
            elif out[i] != d:
                raise shape_error(op, f"Incompatible shapes: {fmt(s)} vs. {fmt(dims)}")
        return [(tuple(out), x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, dims_of = ctx.xp, host_reader(ctx, op.inputs[1])
        return lambda x, dims: xp.broadcast_to(x, dims_of(dims))

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [sum_to(dy, op.inputs[0]), None]


@register
class BroadcastToShapeOf(OpDef):
    """Broadcast input 0 to the runtime shape of input 1 (gradient of SumToShapeOf)."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x, like: xp.broadcast_to(x, like.shape)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [sum_to(dy, op.inputs[0]), None]


def tile(input: Any, multiples: Any, name: str | None = None) -> Tensor:
    return make_op("Tile", [input, shape_arg(multiples)], name=name or "Tile").outputs[0]


def pad(tensor: Any, paddings: Any, mode: str = "CONSTANT", name: str | None = None,
        constant_values: Any = 0) -> Tensor:
    """Pad with `constant_values`; `paddings[i] = [before, after]` for dimension i."""
    if not isinstance(mode, str) or mode.upper() != "CONSTANT":
        raise ValueError(f"pad mode {mode!r} is not supported; only 'CONSTANT' is.")
    attrs = {"constant_values": scalar_arg(constant_values, "constant_values")}
    return make_op("Pad", [tensor, shape_arg(paddings)], attrs, name or "Pad").outputs[0]


def broadcast_to(input: Any, shape: Any, name: str | None = None) -> Tensor:
    return make_op("BroadcastTo", [input, shape_arg(shape)],
                   name=name or "BroadcastTo").outputs[0]


def broadcast_to_like(x: Tensor, like: Tensor) -> Tensor:
    return make_op("BroadcastToShapeOf", [x, like]).outputs[0]


# -- indexing --------------------------------------------------------------------------------------
class _Unknown:
    """Stands for an index value not known at build time inside a static indexing key."""

    def __repr__(self) -> str:
        return "?"


_UNKNOWN = _Unknown()


def _slice_length(s: builtins.slice, d: int | None) -> int | None:
    if d is None or _UNKNOWN in (s.start, s.stop, s.step):
        whole = s.start is None and s.stop is None and s.step in (None, 1, -1)
        return d if whole else None
    return len(builtins.range(*s.indices(d)))


def _indexed_shape(s: Shape, key: tuple[Any, ...]) -> Shape:
    """Static shape of x[key] for a numpy basic-indexing key (ints, slices, None, Ellipsis)."""
    if s is None:
        return None
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if used > len(s):
        raise ValueError(f"Index out of range using input dim {len(s)}; input has only "
                         f"{len(s)} dims")
    fill = (builtins.slice(None),) * (len(s) - used)
    at = next((i for i, k in enumerate(key) if k is Ellipsis), len(key))
    key = (*key[:at], *fill, *key[at + 1:])
    out: list[int | None] = []
    dims = iter(enumerate(s))
    for k in key:
        if k is None:
            out.append(1)
            continue
        i, d = next(dims)
        if isinstance(k, builtins.slice):
            out.append(_slice_length(k, d))
        elif k is not _UNKNOWN and d is not None and not -d <= k < d:
            raise ValueError(f"slice index {k} of dimension {i} out of bounds")
    return tuple(out)


class _Indexing(OpDef):
    """x[key]: inputs 1.. are int vectors from which `key` builds a numpy basic-indexing key.

    The gradient is IndexGrad, which writes dy into zeros shaped like x through the same key.
    """

    index_names: tuple[str, ...] = ()

    def key(self, op: Operation, values: list[list[Any]], s: Shape) -> tuple[Any, ...]:
        """The key for index values `values` (None = unknown) and input shape `s`."""
        raise NotImplementedError

    def out_shape(self, op: Operation, values: list[list[Any]], s: Shape) -> Shape:
        return _indexed_shape(s, self.key(op, values, s))

    def infer(self, op: Operation) -> list[Spec]:
        x, *index = op.inputs
        for t, param in zip(index, self.index_names, strict=True):
            check_int_vector(op, t, param)
        values = [shape_value(t) for t in index]
        if any(v is None for v in values):
            return [(None, x.dtype)]
        try:
            return [(self.out_shape(op, values, x.static_shape), x.dtype)]  # type: ignore[arg-type]
        except ValueError as e:
            raise shape_error(op, str(e)) from None

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        key_of = _key_reader(op, ctx, self, op.inputs[1:])
        return lambda x, *index: x[key_of(x.shape, index)]

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        x, *index = op.inputs
        attrs = {**op.attrs, "forward": op.type}
        scattered = make_op("IndexGrad", [x, dy, *index], attrs).outputs[0]
        return [scattered] + [None] * len(index)

    def fold(self, op: Operation) -> np.ndarray | None:
        values = [constant_value(t) for t in op.inputs]
        if any(v is None for v in values):
            return None
        x, *index = values
        return np.asarray(x[self.key(op, [v.tolist() for v in index], x.shape)])


def _key_reader(op: Operation, ctx: ExecContext, forward: _Indexing,
                index: Sequence[Tensor]) -> Callable[[Any, Sequence[Any]], Any]:
    readers = [host_reader(ctx, t) for t in index]

    def key_of(s: tuple[int, ...], arrays: Sequence[Any]) -> Any:
        return forward.key(op, [r(a) for r, a in zip(readers, arrays, strict=True)], s)

    return key_of


_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


@register
class StridedSlice(_Indexing):
    """TF's strided slice: begin/end/strides vectors plus bit masks, one bit per key entry."""

    index_names = ("begin", "end", "strides")

    def key(self, op: Operation, values: list[list[Any]], s: Shape) -> tuple[Any, ...]:
        begin, end, strides = values
        if not len(begin) == len(end) == len(strides):
            raise ValueError("Expected begin, end, and strides to be 1D equal size tensors")
        masks = [op.attrs[m] for m in _MASKS]
        if bin(masks[2]).count("1") > 1:
            raise ValueError("Multiple ellipses in slice spec not allowed")
        key: list[Any] = []
        for j, (b, e, step) in enumerate(zip(begin, end, strides, strict=True)):
            begin_bit, end_bit, ellipsis, new_axis, shrink = (m >> j & 1 for m in masks)
            if ellipsis:
                key.append(Ellipsis)
            elif new_axis:
                key.append(None)
            elif shrink:  # end and stride are ignored, as in TF
                key.append(_UNKNOWN if b is None else b)
            elif step == 0:
                raise ValueError(f"strides[{j}] must be non-zero")
            else:
                key.append(builtins.slice(None if begin_bit else _known(b),
                                          None if end_bit else _known(e), _known(step)))
        return tuple(key)


def _known(v: int | None) -> Any:
    return _UNKNOWN if v is None else v


@register
class Slice(_Indexing):
    """tf.slice: `size[i]` elements from `begin[i]` (-1: all the rest); no clamping."""

    index_names = ("begin", "size")

    def key(self, op: Operation, values: list[list[Any]], s: Shape) -> tuple[Any, ...]:
        begin, size = values
        if len(size) != len(begin) or (s is not None and len(s) != len(begin)):
            raise ValueError(f"Expected begin and size arguments to be 1-D tensors of size "
                             f"{len(begin) if s is None else len(s)}, but got shapes "
                             f"[{len(begin)}] and [{len(size)}] instead.")
        dims = s if s is not None else (None,) * len(begin)
        key = []
        for i, (b, n, d) in enumerate(zip(begin, size, dims, strict=True)):
            if b is not None and d is not None and not 0 <= b <= d:
                raise ValueError(f"Expected begin[{i}] in [0, {d}], but got {b}")
            if None not in (b, n, d) and n != -1 and not 0 <= n <= d - b:
                raise ValueError(f"Expected size[{i}] in [0, {d - b}], but got {n}")
            stop = None if n == -1 else (_UNKNOWN if b is None or n is None else b + n)
            key.append(builtins.slice(_known(b), stop))
        return tuple(key)

    def out_shape(self, op: Operation, values: list[list[Any]], s: Shape) -> Shape:
        key = self.key(op, values, s)  # validates
        dims = s if s is not None else (None,) * len(key)
        return tuple(
            n if n not in (None, -1) else _slice_length(k, d)
            for n, k, d in zip(values[1], key, dims, strict=True))


@register
class IndexGrad(OpDef):
    """Gradient of an indexing op (attr forward): zeros shaped like input 0 with
    x[key] = dy (input 1), the key built from inputs 2.. as the forward op builds it."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[1].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        forward = lookup(op.attrs["forward"])
        assert isinstance(forward, _Indexing)
        xp, key_of = ctx.xp, _key_reader(op, ctx, forward, op.inputs[2:])

        def scatter(x: Any, dy: Any, *index: Any) -> Any:
            out = xp.zeros(x.shape, dy.dtype)
            out[key_of(x.shape, index)] = dy
            return out

        return scatter

    def grad(self, op: Operation, g: Tensor | None) -> list[Tensor | None]:
        attrs = {k: v for k, v in op.attrs.items() if k != "forward"}
        sliced = make_op(op.attrs["forward"], [g, *op.inputs[2:]], attrs).outputs[0]
        return [None, sliced] + [None] * (len(op.inputs) - 2)


def strided_slice(input_: Any, begin: Any, end: Any, strides: Any = None, begin_mask: int = 0,
                  end_mask: int = 0, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                  shrink_axis_mask: int = 0, var: Any = None,
                  name: str | None = None) -> Tensor:
    begin, end = shape_arg(begin), shape_arg(end)
    if strides is None:
        strides = ones_like(begin) if _is_tensorlike(begin) else np.ones_like(begin)
    attrs = dict(zip(_MASKS, (begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                              shrink_axis_mask), strict=True))
    inputs = [input_, begin, end, shape_arg(strides)]
    return make_op("StridedSlice", inputs, attrs, name or "strided_slice").outputs[0]


def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:
    inputs = [input_, shape_arg(begin), shape_arg(size)]
    return make_op("Slice", inputs, name=name or "Slice").outputs[0]


def slice_helper(tensor: Tensor, key: Any) -> Tensor:
    """`tensor[key]`: ints and scalar int tensors, slices (any step), `...` and tf.newaxis."""
    items = key if isinstance(key, tuple) else (key,)
    begin: list[Any] = []
    end: list[Any] = []
    strides: list[Any] = []
    masks = dict.fromkeys(_MASKS, 0)
    for j, k in enumerate(items):
        bit = 1 << j
        b: Any = 0
        e: Any = 0
        step: Any = 1
        if k is Ellipsis:
            masks["ellipsis_mask"] |= bit
        elif k is None:
            masks["new_axis_mask"] |= bit
        elif isinstance(k, builtins.slice):
            b, e, step = k.start, k.stop, 1 if k.step is None else k.step
            if b is None:
                masks["begin_mask"] |= bit
                b = 0
            if e is None:
                masks["end_mask"] |= bit
                e = 0
        elif _is_index(k):
            masks["shrink_axis_mask"] |= bit
            b = k
        else:
            raise TypeError(
                "Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and scalar "
                f"tf.int32/tf.int64 tensors are valid indices, got {k!r}")
        begin.append(b)
        end.append(e)
        strides.append(step)
    return strided_slice(tensor, begin, end, strides, **masks)


def _is_index(k: Any) -> bool:
    if _is_tensorlike(k):
        t = convert_to_tensor(k)
        return t.dtype.is_integer and t.static_shape in (None, ())
    return isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_)


# -- gathering -------------------------------------------------------------------------------------
@register
class GatherV2(OpDef):
    def infer(self, op: Operation) -> list[Spec]:
        params, indices = op.inputs
        check_int(op, indices, "indices")
        p, i = params.static_shape, indices.static_shape
        if p is None or i is None:
            return [(None, params.dtype)]
        axis = _axis(op, op.attrs["axis"], len(p))
        return [((*p[:axis], *i, *p[axis + 1:]), params.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]

        def gather(params: Any, indices: Any) -> Any:
            if not -params.ndim <= axis < params.ndim:
                raise ValueError(f"axis {axis} is out of range for params of shape "
                                 f"{tuple(params.shape)}")
            n = params.shape[axis]
            if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n):
                flat = indices.reshape(-1)
                i = int(xp.argmax((flat < 0) | (flat >= n)))
                raise errors.InvalidArgumentError(
                    None, op, f"indices[{i}] = {int(flat[i])} is not in [0, {n}) for "
                    f"'{op.name}' (op: {op.type}) gathering along axis {axis}")
            return xp.take(params, indices, axis=axis)

        return gather

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        params, indices = op.inputs
        attrs = {"axis": op.attrs["axis"]}
        return [make_op("GatherGrad", [params, indices, dy], attrs).outputs[0], None]


class _ScatterAddGrad(OpDef):
    """Gradient of a gathering op `forward` (inputs: params, index, dy): dy scatter-added
    (repeated positions accumulate) into zeros shaped like params at the positions the forward
    op read. Dense, unlike TF's IndexedSlices; its own gradient gathers again."""

    forward = ""

    def key(self, op: Operation, xp: Any, index: Any, ndim: int) -> tuple[Any, ...]:
        """The advanced-indexing key of the positions `forward` read from a rank-`ndim` input."""
        raise NotImplementedError

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, key = ctx.xp, self.key

        def scatter_add(params: Any, index: Any, dy: Any) -> Any:
            out = xp.zeros(params.shape, dy.dtype)
            xp.add.at(out, key(op, xp, index, params.ndim), dy)
            return out

        return scatter_add

    def grad(self, op: Operation, g: Tensor | None) -> list[Tensor | None]:
        return [None, None, make_op(self.forward, [g, op.inputs[1]], op.attrs).outputs[0]]


@register
class GatherGrad(_ScatterAddGrad):
    forward = "GatherV2"

    def key(self, op: Operation, xp: Any, index: Any, ndim: int) -> tuple[Any, ...]:
        return (builtins.slice(None),) * (op.attrs["axis"] % ndim) + (index,)


@register
class GatherNd(OpDef):
    """params[indices[..., :]]: each innermost index vector picks an element (or, when shorter
    than params' rank, a slice) of params."""

    def infer(self, op: Operation) -> list[Spec]:
        params, indices = op.inputs
        check_int(op, indices, "indices")
        p, i = params.static_shape, indices.static_shape
        if i is not None and not i:
            raise shape_error(op, "indices must be at least a vector (rank >= 1)")
        if p is None or i is None or i[-1] is None:
            return [(None, params.dtype)]
        if not 0 < i[-1] <= len(p):
            raise shape_error(op, f"indices.shape[-1] must be in [1, params.rank], but saw indices "
                                  f"shape: {fmt(i)} and params shape: {fmt(p)}")
        return [((*i[:-1], *p[i[-1]:]), params.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp

        def gather_nd(params: Any, indices: Any) -> Any:
            if indices.ndim == 0 or not 0 < indices.shape[-1] <= params.ndim:
                raise ValueError(f"indices must be at least a vector whose last dimension is "
                                 f"in [1, params.rank = {params.ndim}], got shape "
                                 f"{fmt(indices.shape)}")
            depth = indices.shape[-1]
            bounds = xp.asarray(params.shape[:depth])
            bad = ((indices < 0) | (indices >= bounds)).any(axis=-1)
            if bad.any():
                at = tuple(int(j) for j in xp.argwhere(bad)[0])
                raise errors.InvalidArgumentError(
                    None, op, f"indices{list(at)} = {indices[at].tolist()} does not index into "
                    f"param shape {fmt(params.shape)} in '{op.name}' (op: GatherNd)")
            return params[tuple(xp.moveaxis(indices, -1, 0))]

        return gather_nd

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        params, indices = op.inputs
        return [make_op("GatherNdGrad", [params, indices, dy]).outputs[0], None]


@register
class GatherNdGrad(_ScatterAddGrad):
    forward = "GatherNd"

    def key(self, op: Operation, xp: Any, index: Any, ndim: int) -> tuple[Any, ...]:
        return tuple(xp.moveaxis(index, -1, 0))


@register
class BooleanMask(OpDef):
    """tensor[mask] with the k-D bool mask applied to dims axis .. axis+k-1, which become one
    dim holding the selected entries in row-major order (unknown until run time)."""

    def infer(self, op: Operation) -> list[Spec]:
        tensor, mask = op.inputs
        check_kind(op, mask, BOOL, "mask")
        s, m, axis = tensor.static_shape, mask.static_shape, op.attrs["axis"]
        if m is None:
            raise shape_error(op, "Number of mask dimensions must be specified, even if some "
                                  "dimensions are None")
        if not m:
            raise shape_error(op, "mask cannot be scalar")
        if s is None:
            return [(None, tensor.dtype)]
        if axis < 0 or axis + len(m) > len(s):
            raise shape_error(op, f"mask of rank {len(m)} at axis {axis} does not fit a "
                                  f"tensor of rank {len(s)}")
        if not compatible(s[axis:axis + len(m)], m):
            raise shape_error(op, f"Shapes {fmt(s[axis:axis + len(m)])} and {fmt(m)} are "
                                  f"incompatible: the mask must match the masked dims")
        return [((*s[:axis], None, *s[axis + len(m):]), tensor.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        attr_axis = op.attrs["axis"]  # negative only when the rank was unknown at build time

        def boolean_mask(tensor: Any, mask: Any) -> Any:
            axis = _mask_axis(attr_axis, tensor.ndim)
            if axis < 0 or tensor.shape[axis:axis + mask.ndim] != mask.shape:
                raise ValueError(f"mask of shape {fmt(mask.shape)} does not match dims "
                                 f"{axis}..{axis + mask.ndim - 1} of the tensor of shape "
                                 f"{fmt(tensor.shape)}")
            return tensor[(builtins.slice(None),) * axis + (mask,)]

        return boolean_mask

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        tensor, mask = op.inputs
        return [make_op("BooleanMaskGrad", [tensor, mask, dy], op.attrs).outputs[0], None]


@register
class BooleanMaskGrad(_ScatterAddGrad):
    forward = "BooleanMask"

    def key(self, op: Operation, xp: Any, index: Any, ndim: int) -> tuple[Any, ...]:
        axis = _mask_axis(op.attrs["axis"], ndim)
        return (builtins.slice(None),) * axis + tuple(xp.nonzero(index))


def _mask_axis(axis: int, ndim: int) -> int:
    """boolean_mask's first masked dim in a rank-`ndim` tensor: a negative `axis` (kept when
    the rank was unknown at build time) counts from the end, so it must be resolved per run
    rather than read as 0."""
    return axis + ndim if axis < 0 else axis


@register
class OneHot(OpDef):
    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        indices = op.inputs[0]
        check_int(op, indices, "indices")
        s, depth = indices.static_shape, op.attrs["depth"]
        if s is None:
            return [(None, op.attrs["dtype"])]
        axis = _axis(op, op.attrs["axis"], len(s), extra=1)
        return [((*s[:axis], depth, *s[axis:]), op.attrs["dtype"])]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis, dtype = ctx.xp, op.attrs["axis"], op.attrs["dtype"].np
        on, off = (xp.asarray(op.attrs[k], dtype) for k in ("on_value", "off_value"))
        classes = xp.arange(op.attrs["depth"])

        def one_hot(indices: Any) -> Any:
            out = xp.where(indices[..., None] == classes, on, off)
            return out if axis == -1 else xp.moveaxis(out, -1, axis)

        return one_hot


def gather(params: Any, indices: Any, validate_indices: Any = None, name: str | None = None,
           axis: Any = 0) -> Tensor:
    attrs = {"axis": int_arg(axis, "axis")}
    return make_op("GatherV2", [params, indices], attrs, name or "GatherV2").outputs[0]


def gather_nd(params: Any, indices: Any, name: str | None = None) -> Tensor:
    """Slices of params at the index vectors in the last dim of `indices`."""
    return make_op("GatherNd", [params, indices], name=name or "GatherNd").outputs[0]


def boolean_mask(tensor: Any, mask: Any, name: str = "boolean_mask", axis: Any = None) -> Tensor:
    """The entries of `tensor` where the bool `mask` (matching dims axis.. of tensor) is true,
    flattened into one dim at `axis`."""
    tensor = convert_to_tensor(tensor)
    axis = 0 if axis is None else int_arg(axis, "axis")
    if axis < 0 and tensor.static_shape is not None:
        axis += len(tensor.static_shape)
    attrs = {"axis": axis}
    return make_op("BooleanMask", [tensor, mask], attrs, name or "boolean_mask").outputs[0]


def one_hot(indices: Any, depth: Any, on_value: Any = None, off_value: Any = None,
            axis: int | None = None, dtype: Any = None, name: str | None = None) -> Tensor:
    """One-hot vectors along `axis` (default last); out-of-range indices give all off_value.
    dtype defaults to that of on_value/off_value when given, else float32."""
    given = next((v for v in (on_value, off_value) if v is not None), None)
    if dtype is not None:
        dt = _dtypes.as_dtype(dtype)
    elif given is not None:
        dt = (convert_to_tensor(given).dtype if _is_tensorlike(given)
              else _dtypes.infer_dtype(given))
    else:
        dt = _dtypes.float32
    attrs = {
        "depth": int_arg(depth, "depth"), "axis": -1 if axis is None else int_arg(axis, "axis"),
        "dtype": dt, "on_value": 1 if on_value is None else scalar_arg(on_value, "on_value"),
        "off_value": 0 if off_value is None else scalar_arg(off_value, "off_value"),
    }
    if attrs["depth"] < 0:
        raise ValueError(f"depth must be non-negative, got {attrs['depth']}")
    return make_op("OneHot", [indices], attrs, name or "one_hot").outputs[0]


# -- sequences -------------------------------------------------------------------------------------
class _Sequence(OpDef):
    """A 1-D sequence from scalar inputs read on the host (Range, LinSpace)."""

    differentiable = False

    def length(self, values: list[Any]) -> int:
        """The sequence's length; raises ValueError for invalid arguments."""
        raise NotImplementedError

    def generate(self, xp: Any, values: list[Any], dtype: np.dtype) -> Any:
        raise NotImplementedError

    def infer(self, op: Operation) -> list[Spec]:
        for t in op.inputs:
            if t.static_shape not in (None, ()):
                raise shape_error(op, f"Shape must be rank 0 but is rank {len(t.static_shape)}")
        values = [constant_value(t) for t in op.inputs]
        n = None
        if all(v is not None for v in values):
            try:
                n = self.length([v.item() for v in values])  # type: ignore[union-attr]
            except ValueError as e:
                raise shape_error(op, str(e)) from None
        return [((n,), op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        readers = [host_reader(ctx, t) for t in op.inputs]
        xp, dtype = ctx.xp, op.outputs[0].dtype.np

        def sequence(*arrays: Any) -> Any:
            values = [r(a) for r, a in zip(readers, arrays, strict=True)]
            if any(isinstance(v, list) for v in values):
                raise ValueError(f"{op.type} needs scalar arguments, got {values}")
            self.length(values)
            return self.generate(xp, values, dtype)

        return sequence


@register
class Range(_Sequence):
    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        check_kind(op, op.inputs[0], NUMERIC, "start")
        return super().infer(op)

    def length(self, values: list[Any]) -> int:
        start, limit, delta = values
        if delta == 0:
            raise ValueError("Requires delta != 0")
        if (delta > 0 and start > limit) or (delta < 0 and start < limit):
            raise ValueError(f"Requires start {'<=' if delta > 0 else '>='} limit when delta "
                             f"{'>' if delta > 0 else '<'} 0: {start}/{limit}")
        return math.ceil((limit - start) / delta)

    def generate(self, xp: Any, values: list[Any], dtype: np.dtype) -> Any:
        return xp.arange(*values, dtype=dtype)


@register
class LinSpace(_Sequence):
    def length(self, values: list[Any]) -> int:
        if values[2] <= 0:
            raise ValueError(f"Requires num > 0: {values[2]}")
        return int(values[2])

    def generate(self, xp: Any, values: list[Any], dtype: np.dtype) -> Any:
        return xp.linspace(*values, dtype=dtype)


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None,
          name: str = "range") -> Tensor:
    """[start, start + delta, ...) up to `limit` (tf.range(n) counts from 0 to n - 1)."""
    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    if dtype is not None:
        dt = _dtypes.as_dtype(dtype)
    else:
        kinds = [convert_to_tensor(a).dtype if _is_tensorlike(a) else _dtypes.infer_dtype(a)
                 for a in args]
        dt = next((k for k in kinds if k.is_floating), kinds[0])
    inputs = [a if _is_tensorlike(a) else np.asarray(a, dt.np) for a in args]
    return make_op("Range", inputs, name=name or "range").outputs[0]


def linspace(start: Any, stop: Any, num: Any, name: str | None = None) -> Tensor:
    """`num` evenly spaced values from `start` to `stop`, both included."""
    ends = [v if _is_tensorlike(v) else np.asarray(scalar_arg(v, what), np.float32)
            for v, what in ((start, "start"), (stop, "stop"))]
    num = num if _is_tensorlike(num) else np.asarray(int_arg(num, "num"), np.int32)
    return make_op("LinSpace", [*ends, num], name=name or "LinSpace").outputs[0]


lin_space = linspace
