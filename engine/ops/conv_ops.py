"""2-D convolution and pooling over NHWC images, with TF's exact SAME/VALID padding arithmetic.

Speed comes from doing the arithmetic in a few large BLAS calls instead of per-pixel loops:

- Conv2D is im2col: an `as_strided` window view of the padded input, copied once into a
  [N*OH*OW, KH*KW*C] matrix, times the [KH*KW*C, O] filter in one GEMM.
- Conv2DBackpropFilter is the transposed GEMM on the same matrix.
- Conv2DBackpropInput, MaxPoolGrad and AvgPoolGrad add one window-sized piece per kernel offset
  (KH*KW strided slice-adds) into a zero-padded buffer ("col2im"), never looping over pixels.

The gradient ops take the forward input itself where TF takes its shape (as `SumToShapeOf`
does), so no shape op is needed when the batch size is only known at run time.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from engine.graph import Operation, Tensor, make_op
from engine.ops.math_ops import check_same_dtype, shape_error
from engine.ops.nn_ops import check_float
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["avg_pool", "conv2d", "max_pool"]

_PADDINGS = ("SAME", "VALID")
Index = tuple[slice, slice, slice]


# -- window geometry ------------------------------------------------------------------------------
def _out_size(size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """TF's output size and (before, after) padding along one spatial dimension."""
    span = (k - 1) * dilation + 1
    if padding == "VALID":
        return (size - span) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


class _Geometry(NamedTuple):
    """Where every kernel offset's window lands in the padded input, for one input size."""

    out: tuple[int, int]
    padded: tuple[int, int]
    crop: Index | None  # the unpadded input inside the padded one; None when there is no padding
    offsets: tuple[tuple[int, int, Index], ...]  # (kh, kw, slice of the padded input per output)
    overlapping: bool  # whether one input pixel can fall in several windows


@functools.lru_cache(maxsize=512)
def _geometry(h: int, w: int, kh: int, kw: int, strides: tuple[int, int],
              dilations: tuple[int, int], padding: str) -> _Geometry:
    (sh, sw), (dh, dw) = strides, dilations
    for size, k, d in ((h, kh, dh), (w, kw, dw)):
        if padding == "VALID" and size < (k - 1) * d + 1:
            raise ValueError(f"Computed output size would be negative: the {k}-wide window "
                             f"(dilation {d}) does not fit the input's {size} rows/columns "
                             f"with VALID padding")
    oh, top, bottom = _out_size(h, kh, sh, dh, padding)
    ow, left, right = _out_size(w, kw, sw, dw, padding)
    whole = slice(None)
    offsets = tuple(
        (i, j, (whole, slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)))
        for i in range(kh) for j in range(kw)
    )
    padded = top or bottom or left or right
    crop = (whole, slice(top, top + h), slice(left, left + w)) if padded else None
    overlapping = (kh - 1) * dh + 1 > sh or (kw - 1) * dw + 1 > sw
    return _Geometry((oh, ow), (h + top + bottom, w + left + right), crop, offsets, overlapping)


def _pad(xp: Any, x: Any, g: _Geometry, value: float = 0.0) -> Any:
    """`x` inside a border of `value`, copied once; `x` itself when there is no border."""
    if g.crop is None:
        return x
    out = xp.full((x.shape[0], *g.padded, x.shape[3]), value, dtype=x.dtype)
    out[g.crop] = x
    return out


def _im2col(xp: Any, x: Any, g: _Geometry, kh: int, kw: int, strides: tuple[int, int],
            dilations: tuple[int, int]) -> Any:
    """The [N*OH*OW, KH*KW*C] patch matrix: a strided window view, copied by one reshape."""
    xpad = _pad(xp, x, g)
    n, _, _, c = xpad.shape
    s0, s1, s2, s3 = xpad.strides
    windows = xp.lib.stride_tricks.as_strided(
        xpad, (n, *g.out, kh, kw, c),
        (s0, s1 * strides[0], s2 * strides[1], s1 * dilations[0], s2 * dilations[1], s3))
    return windows.reshape(n * g.out[0] * g.out[1], kh * kw * c)


def _col2im(xp: Any, g: _Geometry, like: Any, dtype: Any,
            pieces: Iterator[tuple[Index, Any]]) -> Any:
    """Sum window-shaped pieces back into a zero-padded input of `like`'s shape, then crop."""
    n, _, _, c = like.shape
    out = xp.zeros((n, *g.padded, c), dtype=dtype)
    for index, piece in pieces:
        if g.overlapping:
            out[index] += piece
        else:
            out[index] = piece
    return out if g.crop is None else out[g.crop]


# -- attribute validation (public functions) ------------------------------------------------------
def _spatial(values: Any, field: str, what: str) -> list[int]:
    """A 4-element NHWC attribute whose batch and depth entries must be 1."""
    try:
        values = [operator.index(v) for v in values]
    except TypeError:
        raise TypeError(f"Sliding window {field} must be a list of 4 ints, got {values!r}.") \
            from None
    if len(values) != 4:
        raise ValueError(f"Sliding window {field} field must specify 4 dimensions")
    if values[0] != 1 or values[3] != 1:
        raise ValueError(f"{what} is not yet supported in the batch and depth dimensions "
                         f"({field}={values}).")
    if min(values) < 1:
        raise ValueError(f"Sliding window {field} must be positive, got {values}.")
    return values


def _check_layout(padding: str, data_format: str) -> None:
    if not isinstance(padding, str) or padding not in _PADDINGS:
        raise ValueError(f"Value for attr 'padding' of \"{padding}\" is not in the list of "
                         f"allowed values: \"SAME\", \"VALID\"")
    if data_format != "NHWC":
        raise ValueError(f"Only data_format='NHWC' is supported on the CPU, got {data_format!r}.")


# -- shape rules ----------------------------------------------------------------------------------
def _check_rank4(x: Any) -> None:
    """Run-time check of an input whose rank was unknown when the graph was built."""
    if x.ndim != 4:
        raise ValueError(f"input must be 4-dimensional (NHWC), got shape {tuple(x.shape)}")


def _rank4(op: Operation, t: Tensor) -> tuple[int | None, ...]:
    shape = t.static_shape
    if shape is None:
        return (None,) * 4
    if len(shape) != 4:
        raise shape_error(op, f"Shape must be rank 4 but is rank {len(shape)}")
    return shape


def _hw(attr: Sequence[int]) -> tuple[int, int]:
    return int(attr[1]), int(attr[2])


def _static_out(op: Operation, size: int | None, k: int | None, stride: int, dilation: int,
                padding: str) -> int | None:
    if size is None or k is None:
        return None
    span = (k - 1) * dilation + 1
    if padding == "VALID" and size < span:
        raise shape_error(op, f"Negative dimension size caused by subtracting {span} from {size}")
    return _out_size(size, k, stride, dilation, padding)[0]


def _pooled_shape(op: Operation, x: tuple[int | None, ...], k: tuple[int | None, int | None],
                  dilations: tuple[int, int] = (1, 1)) -> tuple[int | None, int | None]:
    (sh, sw), padding = _hw(op.attrs["strides"]), op.attrs["padding"]
    return (_static_out(op, x[1], k[0], sh, dilations[0], padding),
            _static_out(op, x[2], k[1], sw, dilations[1], padding))


# -- convolution ----------------------------------------------------------------------------------
class _ConvOp(OpDef):
    """Shared attribute handling of Conv2D and its two gradient ops."""

    @staticmethod
    def window(op: Operation) -> tuple[tuple[int, int], tuple[int, int], str]:
        return _hw(op.attrs["strides"]), _hw(op.attrs["dilations"]), op.attrs["padding"]


def _conv_like(op_type: str, inputs: list[Tensor], like: Operation) -> Tensor:
    """A Conv2D-family op with the same window attributes as `like`."""
    attrs = {k: like.attrs[k] for k in ("strides", "dilations", "padding")}
    return make_op(op_type, inputs, attrs, name=op_type).outputs[0]


@register
class Conv2D(_ConvOp):
    def infer(self, op: Operation) -> list[Spec]:
        check_float(op, op.inputs[0], "input")
        check_same_dtype(op)
        x, w = (_rank4(op, t) for t in op.inputs)
        if x[3] is not None and w[2] is not None and x[3] != w[2]:
            raise shape_error(op, f"Dimensions must be equal, but are {x[3]} and {w[2]}")
        oh, ow = _pooled_shape(op, x, (w[0], w[1]), _hw(op.attrs["dilations"]))
        return [((x[0], oh, ow, w[3]), op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, (strides, dilations, padding) = ctx.xp, self.window(op)

        def conv2d(x: Any, w: Any) -> Any:
            _check_rank4(x)
            _check_rank4(w)
            if x.shape[3] != w.shape[2]:
                raise ValueError(f"input depth must equal filter depth: {x.shape[3]} vs "
                                 f"{w.shape[2]} (input shape {tuple(x.shape)}, filter shape "
                                 f"{tuple(w.shape)})")
            kh, kw, _, o = w.shape
            g = _geometry(x.shape[1], x.shape[2], kh, kw, strides, dilations, padding)
            cols = _im2col(xp, x, g, kh, kw, strides, dilations)
            return (cols @ w.reshape(-1, o)).reshape(x.shape[0], *g.out, o)

        return conv2d

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        x, w = op.inputs
        return [_conv_like("Conv2DBackpropInput", [x, w, dy], op),
                _conv_like("Conv2DBackpropFilter", [x, w, dy], op)]


@register
class Conv2DBackpropInput(_ConvOp):
    """d(conv2d)/d(input); inputs (input, filter, out_backprop), only input's shape is read."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, (strides, dilations, padding) = ctx.xp, self.window(op)

        def backprop_input(x: Any, w: Any, dy: Any) -> Any:
            n, h, wd, c = x.shape
            kh, kw, _, o = w.shape
            g = _geometry(h, wd, kh, kw, strides, dilations, padding)
            dy2 = dy.reshape(-1, o)
            pieces = ((index, (dy2 @ w[i, j].T).reshape(n, *g.out, c))
                      for i, j, index in g.offsets)
            return _col2im(xp, g, x, dy.dtype, pieces)

        return backprop_input

    def grad(self, op: Operation, g: Tensor | None) -> list[Tensor | None]:
        _, w, dy = op.inputs
        return [None, _conv_like("Conv2DBackpropFilter", [g, w, dy], op),
                _conv_like("Conv2D", [g, w], op)]


@register
class Conv2DBackpropFilter(_ConvOp):
    """d(conv2d)/d(filter); inputs (input, filter, out_backprop), only filter's shape is read."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, (strides, dilations, padding) = ctx.xp, self.window(op)

        def backprop_filter(x: Any, w: Any, dy: Any) -> Any:
            kh, kw, _, o = w.shape
            g = _geometry(x.shape[1], x.shape[2], kh, kw, strides, dilations, padding)
            cols = _im2col(xp, x, g, kh, kw, strides, dilations)
            return (cols.T @ dy.reshape(-1, o)).reshape(w.shape)

        return backprop_filter

    def grad(self, op: Operation, g: Tensor | None) -> list[Tensor | None]:
        x, _, dy = op.inputs
        return [_conv_like("Conv2DBackpropInput", [x, g, dy], op), None,
                _conv_like("Conv2D", [x, g], op)]


def conv2d(input: Any, filter: Any, strides: Sequence[int], padding: str,
           use_cudnn_on_gpu: bool = True, data_format: str = "NHWC",
           dilations: Sequence[int] | None = None, name: str | None = None) -> Tensor:
    """2-D convolution of NHWC `input` with an HWIO `filter` (TF's cross-correlation)."""
    _check_layout(padding, data_format)
    attrs = {"strides": _spatial(strides, "strides", "Striding"),
             "dilations": _spatial(dilations or [1, 1, 1, 1], "dilations", "Dilation"),
             "padding": padding}
    return make_op("Conv2D", [input, filter], attrs, name=name or "Conv2D").outputs[0]


# -- pooling --------------------------------------------------------------------------------------
class _PoolOp(OpDef):
    """Shared shape rule and window attributes of the pooling ops."""

    def infer(self, op: Operation) -> list[Spec]:
        check_float(op, op.inputs[0], "input")
        x = _rank4(op, op.inputs[0])
        oh, ow = _pooled_shape(op, x, _hw(op.attrs["ksize"]))
        return [((x[0], oh, ow, x[3]), op.inputs[0].dtype)]


def _pool_geometry(op: Operation) -> Callable[[Any], _Geometry]:
    """A function from an input array to the window geometry of pooling op `op`."""
    (kh, kw), strides, padding = _hw(op.attrs["ksize"]), _hw(op.attrs["strides"]), \
        op.attrs["padding"]

    def geometry(x: Any) -> _Geometry:
        _check_rank4(x)
        return _geometry(x.shape[1], x.shape[2], kh, kw, strides, (1, 1), padding)

    return geometry


def _slices(g: _Geometry, x: Any) -> Iterator[Any]:
    return (x[index] for _, _, index in g.offsets)


def _first_max_pieces(xp: Any, g: _Geometry, xpad: Any, y: Any,
                      dy: Any) -> Iterator[tuple[Index, Any]]:
    """Per offset, `dy` where that offset holds its window's first maximum, else 0."""
    free = xp.ones(y.shape, dtype=bool)  # windows whose maximum is not yet claimed
    for _, _, index in g.offsets:
        hit = xpad[index] == y
        hit &= free
        free ^= hit
        yield index, dy * hit


@register
class MaxPool(_PoolOp):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, geometry = ctx.xp, _pool_geometry(op)

        def max_pool(x: Any) -> Any:
            g = geometry(x)
            windows = _slices(g, _pad(xp, x, g, -xp.inf))
            y = next(windows).copy()
            for window in windows:
                xp.maximum(y, window, out=y)
            return y

        return max_pool

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        x = op.inputs[0]
        return [make_op("MaxPoolGrad", [x, op.outputs[0], dy], dict(op.attrs)).outputs[0]]


@register
class MaxPoolGrad(OpDef):
    """Routes each output gradient to the first (row-major) maximum of its window, like TF."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, geometry = ctx.xp, _pool_geometry(op)

        def max_pool_grad(x: Any, y: Any, dy: Any) -> Any:
            g = geometry(x)
            pieces = _first_max_pieces(xp, g, _pad(xp, x, g, -xp.inf), y, dy)
            return _col2im(xp, g, x, dy.dtype, pieces)

        return max_pool_grad


@register
class AvgPool(_PoolOp):
    """Mean over each window's in-bounds elements: SAME padding is never averaged in (TF)."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, geometry = ctx.xp, _pool_geometry(op)
        counts = _window_counts(op, ctx)

        def avg_pool(x: Any) -> Any:
            g = geometry(x)
            windows = _slices(g, _pad(xp, x, g))
            total = next(windows).copy()
            for window in windows:
                total += window
            total /= counts(x)
            return total

        return avg_pool

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        x = op.inputs[0]
        return [make_op("AvgPoolGrad", [x, dy], dict(op.attrs)).outputs[0]]


@register
class AvgPoolGrad(OpDef):
    """d(avg_pool)/d(input); inputs (input, out_backprop), only input's shape is read."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[1].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, geometry = ctx.xp, _pool_geometry(op)
        counts = _window_counts(op, ctx)

        def avg_pool_grad(x: Any, dy: Any) -> Any:
            g = geometry(x)
            share = dy / counts(x)
            return _col2im(xp, g, x, dy.dtype, ((index, share) for _, _, index in g.offsets))

        return avg_pool_grad


def _window_counts(op: Operation, ctx: ExecContext) -> Callable[[Any], Any]:
    """A function giving the [OH, OW, 1] in-bounds element counts per window, cached per size."""
    xp, cache = ctx.xp, {}
    (kh, kw), (sh, sw), padding = _hw(op.attrs["ksize"]), _hw(op.attrs["strides"]), \
        op.attrs["padding"]

    def along(size: int, k: int, stride: int) -> Any:
        out, before, _ = _out_size(size, k, stride, 1, padding)
        starts = xp.arange(out) * stride - before
        return xp.minimum(starts + k, size) - xp.maximum(starts, 0)

    def counts(x: Any) -> Any:
        key = (x.shape[1], x.shape[2], x.dtype)
        if key not in cache:
            rows, cols = along(x.shape[1], kh, sh), along(x.shape[2], kw, sw)
            cache[key] = (rows[:, None, None] * cols[None, :, None]).astype(x.dtype)
        return cache[key]

    return counts


def _pool(op_type: str, value: Any, ksize: Sequence[int], strides: Sequence[int], padding: str,
          data_format: str, name: str | None) -> Tensor:
    _check_layout(padding, data_format)
    attrs = {"ksize": _spatial(ksize, "ksize", "Pooling"),
             "strides": _spatial(strides, "strides", "Pooling"), "padding": padding}
    return make_op(op_type, [value], attrs, name=name or op_type).outputs[0]


def max_pool(value: Any, ksize: Sequence[int], strides: Sequence[int], padding: str,
             data_format: str = "NHWC", name: str | None = None) -> Tensor:
    """Maximum over each KH x KW window of an NHWC tensor."""
    return _pool("MaxPool", value, ksize, strides, padding, data_format, name)


def avg_pool(value: Any, ksize: Sequence[int], strides: Sequence[int], padding: str,
             data_format: str = "NHWC", name: str | None = None) -> Tensor:
    """Mean over each KH x KW window of an NHWC tensor (padding excluded from the mean)."""
    return _pool("AvgPool", value, ksize, strides, padding, data_format, name)

