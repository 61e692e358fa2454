"""2-D convolution and pooling over NHWC images, with TF's exact SAME/VALID padding arithmetic.

Speed comes from doing the arithmetic in a few large BLAS calls instead of per-pixel loops:

- Conv2D is im2col: an `as_strided` window view of the padded input, copied once into a
  [N*OH*OW, KH*KW*C] matrix, times the [KH*KW*C, O] filter in one GEMM.
- Conv2DBackpropFilter is the transposed GEMM on the same matrix.
- Conv2DBackpropInput, MaxPoolGrad and AvgPoolGrad add one window-sized piece per kernel offset
  (KH*KW strided slice-adds) into a zero-padded buffer ("col2im"), never looping over pixels.
- Stride-1 convolutions with large kernels and many channels (e.g. 5x5x32x64) on the CPU take
  the spectral path instead (see `_Spectral`): the same linear map written as small real DFT
  matrices (exact up to rounding; no FFT library, no complex dtype), so the channel mixing is
  one small GEMM per frequency, about a third of im2col's multiply-adds. Its two gradient ops
  are the exact transposes of the forward pipeline, matrix by matrix. `_use_spectral` picks the
  path per call from a multiply-add count of both.

The gradient ops take the forward input itself where TF takes its shape (as `SumToShapeOf`
does), so no shape op is needed when the batch size is only known at run time.
`conv2d_transpose` is Conv2DBackpropInput itself, given a zero-strided view of the wanted output
shape as that input, so it shares the kernels above and its gradients are the ones already
defined: Conv2D for the value, Conv2DBackpropFilter for the filter.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from engine.graph import Operation, Tensor, convert_to_tensor, graph_of, make_op
from engine.ops.array_ops import broadcast_to, shape_arg, shape_value
from engine.ops.math_ops import check_same_dtype, shape_error
from engine.ops.nn_ops import check_float
from engine.registry import ExecContext, Kernel, OpDef, Spec, register

__all__ = ["avg_pool", "conv2d", "conv2d_transpose", "max_pool"]

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


# -- spectral convolution (stride 1) -------------------------------------------------------------
# A stride-1 convolution is a correlation of the padded input with the filter, so in the
# frequency domain of a length P >= OH + span - 1 (no wrap-around reaches a kept output) it is a
# product per frequency: Y[k] = X[k] * conj(Wf[k]), summed over input channels. Along H only the
# non-negative half of the frequencies is kept (the outputs are real), along W all of them.
# Complex numbers are (re, im) pairs in a real array and every transform is a small real matrix,
# so all the work is float GEMMs:
#   x (N,H,W,C) --ah--> (N, Fh, [2,W], C) --bw--> X (N, Fh*Pw, [2,C])          rows (kh, part)
#   w (KH,KW,C,O) --awh,bww--> B (Fh*Pw, [2,C], [2,O]), the complex product as a 2x2 real block
#   X @ B per frequency -> Y (N, Fh*Pw, [2,O]) --cw--> (N, Fh, [2,OW], O) --g--> y (N,OH,OW,O)
# The gradient ops run the same matrices transposed (exact adjoints of the forward map).
SPECTRAL = "auto"  # "auto": by multiply-add count; "always"/"never": for tests and benchmarks


class _Spectral(NamedTuple):
    fh: int  # frequencies kept along H (0..P_h/2)
    pw: int  # frequencies along W
    out: tuple[int, int]
    ah: Any  # (2Fh, H): x along H, real -> half spectrum, shifted by the top padding
    bw: Any  # (2Pw, 2W): along W, complex -> complex, shifted by the left padding
    awh: Any  # (2Fh, KH): the filter along H (conjugated: e^{+i...}), dilated taps
    bww: Any  # (2Pw, 2KW): the filter along W (conjugated)
    cw: Any  # (2OW, 2Pw): inverse along W, kept outputs only
    g: Any  # (OH, 2Fh): inverse along H of a Hermitian half spectrum -> real, kept outputs


def _complex_block(p: int, positions: Any, sign: float, rows: Any) -> Any:
    """[k, part_out, j, part_in]: multiplying by e^{sign*2*pi*i*k*pos_j/p} as a real 2x2 block."""
    import numpy as np  # host-side constants only (matrices are built once per geometry)

    angle = 2 * np.pi * np.outer(rows, positions) / p
    cos, sin = np.cos(angle), sign * np.sin(angle)
    block = np.empty((len(rows), 2, len(positions), 2))
    block[:, 0, :, 0], block[:, 0, :, 1] = cos, -sin
    block[:, 1, :, 0], block[:, 1, :, 1] = sin, cos
    return block


@functools.lru_cache(maxsize=64)
def _spectral(h: int, w: int, kh: int, kw: int, dilations: tuple[int, int], padding: str,
              dtype: str) -> _Spectral:
    import numpy as np

    (dh, dw) = dilations
    g = _geometry(h, w, kh, kw, (1, 1), dilations, padding)
    (oh, ow), top, left = g.out, 0, 0
    if g.crop is not None:
        top, left = g.crop[1].start, g.crop[2].start
    ph, pw = oh + (kh - 1) * dh, ow + (kw - 1) * dw
    fh = ph // 2 + 1
    k = np.arange(fh)
    angle = 2 * np.pi * np.outer(k, np.arange(h) + top) / ph
    ah = np.stack([np.cos(angle), -np.sin(angle)], 1).reshape(2 * fh, h)
    bw = _complex_block(pw, np.arange(w) + left, -1, np.arange(pw)).transpose(0, 1, 3, 2)
    angle = 2 * np.pi * np.outer(k, np.arange(kh) * dh) / ph
    awh = np.stack([np.cos(angle), np.sin(angle)], 1).reshape(2 * fh, kh)
    bww = _complex_block(pw, np.arange(kw) * dw, 1, np.arange(pw)).transpose(0, 1, 3, 2)
    cw = _complex_block(pw, np.arange(pw), 1, np.arange(ow)).transpose(1, 0, 2, 3) / pw
    # a real signal from half its spectrum: the frequencies 1..P/2-1 stand for their mirror too
    weight = np.where((k == 0) | (2 * k == ph), 1.0, 2.0) / ph
    angle = 2 * np.pi * np.outer(np.arange(oh), k) / ph
    g_ = (np.stack([np.cos(angle), -np.sin(angle)], 2) * weight[:, None]).reshape(oh, 2 * fh)
    mats = [np.ascontiguousarray(m.reshape(rows, -1), dtype=dtype)
            for m, rows in ((ah, 2 * fh), (bw, 2 * pw), (awh, 2 * fh), (bww, 2 * pw),
                            (cw, 2 * ow), (g_, oh))]
    return _Spectral(fh, pw, (oh, ow), *mats)


def _use_spectral(xp: Any, x_shape: tuple[int, ...], w_shape: tuple[int, ...], dtype: Any,
                  strides: tuple[int, int], dilations: tuple[int, int], padding: str) -> bool:
    """Whether the spectral path does the job in clearly fewer multiply-adds than im2col."""
    if SPECTRAL == "never" or strides != (1, 1) or xp.__name__ != "numpy" \
            or xp.dtype(dtype).name not in ("float32", "float64"):
        return False
    n, h, w, c = x_shape
    kh, kw, _, o = w_shape
    g = _geometry(h, w, kh, kw, (1, 1), dilations, padding)
    if SPECTRAL == "always":
        return True
    (oh, ow) = g.out
    pw = ow + (kw - 1) * dilations[1]
    fh = (oh + (kh - 1) * dilations[0]) // 2 + 1
    freqs = fh * pw
    spectral = (n * c * (2 * fh * h * w + 4 * freqs * w) + 4 * freqs * n * c * o
                + n * o * (4 * freqs * ow + 2 * oh * fh * ow)
                + c * o * (2 * fh * kh * kw + 4 * freqs * kw + 4 * freqs))
    direct = n * oh * ow * kh * kw * c * o
    return 2 * spectral < direct  # its GEMMs are smaller, so it must win by a clear margin


class _Work:
    """The temporaries of one spectral op call, taken from the session's scratch arrays
    (`ExecContext.scratch`) and given back when the call ends: a training step then reuses
    the same ~10 MB per convolution instead of allocating (and page-faulting) it anew. Results
    that leave the op never come from here."""

    __slots__ = ("dtype", "scratch", "taken", "xp")

    def __init__(self, ctx: ExecContext, dtype: Any) -> None:
        self.xp, self.scratch, self.dtype, self.taken = ctx.xp, ctx.scratch, dtype, []

    def empty(self, shape: tuple[int, ...]) -> Any:
        out = self.scratch.take(shape, self.dtype)
        self.taken.append(out)
        return out

    def matmul(self, a: Any, b: Any, shape: tuple[int, ...]) -> Any:
        return self.xp.matmul(a, b, out=self.empty(shape))

    def __enter__(self) -> _Work:
        return self

    def __exit__(self, *exc: object) -> None:
        self.scratch.give(self.taken)


def _spectral_input(work: _Work, s: _Spectral, x: Any) -> Any:
    """x (N,H,W,C) -> its spectrum (N, Fh*Pw, 2C), in scratch."""
    n, h, w, c = x.shape
    half = work.matmul(s.ah, x.reshape(n, h, w * c), (n, 2 * s.fh, w * c))
    spec = work.matmul(s.bw, half.reshape(n * s.fh, 2 * w, c), (n * s.fh, 2 * s.pw, c))
    return spec.reshape(n, s.fh * s.pw, 2 * c)


def _spectral_input_t(work: _Work, s: _Spectral, spectrum: Any, like: Any) -> Any:
    """The transpose of `_spectral_input`: (N, Fh*Pw, 2C) -> a new (N,H,W,C) array."""
    n, h, w, c = like.shape
    half = work.matmul(s.bw.T, spectrum.reshape(n * s.fh, 2 * s.pw, c), (n * s.fh, 2 * w, c))
    return (s.ah.T @ half.reshape(n, 2 * s.fh, w * c)).reshape(n, h, w, c)


def _spectral_filter(work: _Work, s: _Spectral, f: Any) -> Any:
    """The filter as one real (2C, 2O) block per frequency: (Fh*Pw, 2C, 2O), in scratch."""
    kh, kw, c, o = f.shape
    freqs = s.fh * s.pw
    half = work.matmul(s.awh, f.reshape(kh, kw * c * o), (2 * s.fh, kw * c * o))
    spec = work.matmul(s.bww, half.reshape(s.fh, 2 * kw, c * o), (s.fh, 2 * s.pw, c * o))
    spec = spec.reshape(freqs, 2, c, o)
    block = work.empty((freqs, 2, c, 2, o))
    block[:, 0, :, 0] = spec[:, 0]  # [re, im] @ [[a, b], [-b, a]] = (re + i im)(a + i b)
    block[:, 1, :, 1] = spec[:, 0]
    block[:, 0, :, 1] = spec[:, 1]
    work.xp.negative(spec[:, 1], out=block[:, 1, :, 0])
    return block.reshape(freqs, 2 * c, 2 * o)


def _spectral_filter_t(work: _Work, s: _Spectral, block: Any, like: Any) -> Any:
    """The transpose of `_spectral_filter`: (Fh*Pw, 2C, 2O) -> a new (KH, KW, C, O) array."""
    kh, kw, c, o = like.shape
    block = block.reshape(-1, 2, c, 2, o)
    spec = work.empty((block.shape[0], 2, c, o))
    work.xp.add(block[:, 0, :, 0], block[:, 1, :, 1], out=spec[:, 0])
    work.xp.subtract(block[:, 0, :, 1], block[:, 1, :, 0], out=spec[:, 1])
    half = work.matmul(s.bww.T, spec.reshape(s.fh, 2 * s.pw, c * o), (s.fh, 2 * kw, c * o))
    return (s.awh.T @ half.reshape(2 * s.fh, kw * c * o)).reshape(kh, kw, c, o)


def _spectral_output(work: _Work, s: _Spectral, spectrum: Any, o: int) -> Any:
    """(N, Fh*Pw, 2O) -> the real output, a new (N, OH, OW, O) array."""
    n, (oh, ow) = spectrum.shape[0], s.out
    half = work.matmul(s.cw, spectrum.reshape(n * s.fh, 2 * s.pw, o), (n * s.fh, 2 * ow, o))
    return (s.g @ half.reshape(n, 2 * s.fh, ow * o)).reshape(n, oh, ow, o)


def _spectral_output_t(work: _Work, s: _Spectral, dy: Any) -> Any:
    """The transpose of `_spectral_output`: (N, OH, OW, O) -> (N, Fh*Pw, 2O), in scratch."""
    n, oh, ow, o = dy.shape
    half = work.matmul(s.g.T, dy.reshape(n, oh, ow * o), (n, 2 * s.fh, ow * o))
    spec = work.matmul(s.cw.T, half.reshape(n * s.fh, 2 * ow, o), (n * s.fh, 2 * s.pw, o))
    return spec.reshape(n, s.fh * s.pw, 2 * o)


def _per_frequency(work: _Work, a: Any, b: Any) -> Any:
    """(N, F, I) @ (F, I, J) -> (N, F, J) in scratch: one GEMM per frequency, in place."""
    n, freqs, _ = a.shape
    out = work.empty((n, freqs, b.shape[2]))
    work.xp.matmul(a.transpose(1, 0, 2), b, out=out.transpose(1, 0, 2))
    return out


def _spectral_conv(ctx: ExecContext, s: _Spectral, x: Any, f: Any) -> Any:
    with _Work(ctx, x.dtype) as work:
        block = _spectral_filter(work, s, f)
        spectrum = _per_frequency(work, _spectral_input(work, s, x), block)
        return _spectral_output(work, s, spectrum, f.shape[3])


def _spectral_backprop_input(ctx: ExecContext, s: _Spectral, x: Any, f: Any, dy: Any) -> Any:
    with _Work(ctx, dy.dtype) as work:
        block = _spectral_filter(work, s, f)
        dspec = _per_frequency(work, _spectral_output_t(work, s, dy), block.transpose(0, 2, 1))
        return _spectral_input_t(work, s, dspec, x)


def _spectral_backprop_filter(ctx: ExecContext, s: _Spectral, x: Any, f: Any,
                              dy: Any) -> Any:
    with _Work(ctx, dy.dtype) as work:
        spec = _spectral_input(work, s, x).transpose(1, 2, 0)  # (F, 2C, N)
        dspec = _spectral_output_t(work, s, dy).transpose(1, 0, 2)  # (F, N, 2O)
        dblock = work.matmul(spec, dspec, (spec.shape[0], spec.shape[1], dspec.shape[2]))
        return _spectral_filter_t(work, s, dblock, f)


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
    fresh_output = True

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
            if _use_spectral(xp, x.shape, w.shape, x.dtype, strides, dilations, padding):
                s = _spectral(x.shape[1], x.shape[2], kh, kw, dilations, padding, str(x.dtype))
                return _spectral_conv(ctx, s, x, w)
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

    fresh_output, shape_only_inputs = True, (0,)

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, (strides, dilations, padding) = ctx.xp, self.window(op)

        def backprop_input(x: Any, w: Any, dy: Any) -> Any:
            _check_rank4(x)
            n, h, wd, c = x.shape
            kh, kw, _, o = w.shape
            g = _geometry(h, wd, kh, kw, strides, dilations, padding)
            if dy.shape != (n, *g.out, o) or c != w.shape[2]:
                raise ValueError(f"Conv2DBackpropInput: out_backprop has shape "
                                 f"{tuple(dy.shape)}, but a convolution of an input of shape "
                                 f"{tuple(x.shape)} by a filter of shape {tuple(w.shape)} gives "
                                 f"{(n, *g.out, o)}")
            if _use_spectral(xp, x.shape, w.shape, dy.dtype, strides, dilations, padding):
                s = _spectral(h, wd, kh, kw, dilations, padding, str(dy.dtype))
                return _spectral_backprop_input(ctx, s, x, w, dy)
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

    fresh_output, shape_only_inputs = True, (1,)

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[1].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, (strides, dilations, padding) = ctx.xp, self.window(op)

        def backprop_filter(x: Any, w: Any, dy: Any) -> Any:
            kh, kw, _, o = w.shape
            g = _geometry(x.shape[1], x.shape[2], kh, kw, strides, dilations, padding)
            if _use_spectral(xp, x.shape, w.shape, dy.dtype, strides, dilations, padding):
                s = _spectral(x.shape[1], x.shape[2], kh, kw, dilations, padding, str(dy.dtype))
                return _spectral_backprop_filter(ctx, s, x, w, dy)
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


def conv2d_transpose(value: Any, filter: Any, output_shape: Any, strides: Sequence[int],
                     padding: str = "SAME", data_format: str = "NHWC",
                     name: str | None = None) -> Tensor:
    """The transpose of conv2d ("deconvolution"): conv2d's gradient with respect to an input of
    shape `output_shape`, applied to `value`. `filter` is HWIO as for that conv2d, so its
    shape is [height, width, output_channels, value_channels]."""
    _check_layout(padding, data_format)
    attrs = {"strides": _spatial(strides, "strides", "Striding"), "dilations": [1, 1, 1, 1],
             "padding": padding}
    graph = graph_of([value, filter, output_shape])
    with graph.name_scope(name or "conv2d_transpose") as scope:
        value = convert_to_tensor(value, name="value", graph=graph)
        filter = convert_to_tensor(filter, name="filter", graph=graph)
        sizes = convert_to_tensor(shape_arg(output_shape), name="output_shape", graph=graph)
        _check_transpose(value, filter, sizes, attrs)
        # Conv2DBackpropInput reads only the shape of its first input: a zero-strided view
        like = broadcast_to(convert_to_tensor(0, value.dtype, graph=graph), sizes)
        op = graph.create_op("Conv2DBackpropInput", [like, filter, value], attrs, scope[:-1],
                             exact_name=True)
    return op.outputs[0]


def _check_transpose(value: Tensor, filter: Tensor, sizes: Tensor, attrs: dict[str, Any]) -> None:
    """TF's build-time checks of conv2d_transpose, plus that `value` has the spatial size a
    conv2d of `output_shape` would give (TF finds that only at run time)."""
    if not value.dtype.is_floating or filter.dtype != value.dtype:
        raise TypeError(f"conv2d_transpose needs float value and filter of one dtype, got "
                        f"{value.dtype.name} and {filter.dtype.name}.")
    if not sizes.dtype.is_integer or sizes.static_shape not in (None, (4,)):
        raise ValueError(f"output_shape must be 4 ints (NHWC), got a {sizes.dtype.name} tensor "
                         f"of shape {sizes.shape}.")
    v, f, out = value.static_shape, filter.static_shape, shape_value(sizes)
    for t, what in ((v, "value"), (f, "filter")):
        if t is not None and len(t) != 4:
            raise ValueError(f"{what} must be 4-dimensional, got shape {list(t)}.")
    if v is not None and f is not None and None not in (v[3], f[3]) and v[3] != f[3]:
        raise ValueError(f"input channels does not match filter's input channels, "
                         f"{v[3]} != {f[3]}")
    if out is None or f is None:
        return
    if None not in (out[3], f[2]) and out[3] != f[2]:
        raise ValueError(f"output_shape does not match filter's output channels, "
                         f"{out[3]} != {f[2]}")
    (sh, sw), padding = _hw(attrs["strides"]), attrs["padding"]
    for i, stride in ((1, sh), (2, sw)):
        if v is None or None in (out[i], f[i - 1], v[i]):
            continue
        if padding == "VALID" and out[i] < f[i - 1]:
            raise ValueError(f"conv2d_transpose: output_shape {out} is smaller than the "
                             f"{f[i - 1]}-wide filter in dimension {i} with VALID padding.")
        want = _out_size(out[i], f[i - 1], stride, 1, padding)[0]
        if want != v[i]:
            raise ValueError(f"conv2d_transpose: value has size {v[i]} in dimension {i}, but a "
                             f"conv2d of output_shape {out} with this filter, strides and "
                             f"{padding} padding gives {want}; fix output_shape or value.")


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
    fresh_output = True

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

    fresh_output = True

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

    fresh_output = True

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

    fresh_output, shape_only_inputs = True, (0,)

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

