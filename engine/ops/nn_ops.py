"""Neural-net ops (`tf.nn`): activations, softmax, fused cross-entropies, dropout, moments.

Following TF, each activation's gradient is one dedicated op (ReluGrad, SoftmaxGrad, ...) rather
than a chain of math ops: a single pass over the data per step, independent of which math ops
exist. The cross-entropy ops are fused and emit their own backprop as a second output, so the
gradient is one multiply.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Any

from engine import errors
from engine.graph import Operation, Tensor, convert_to_tensor, graph_of, make_op
from engine.ops import math_ops
from engine.ops.array_ops import (
    broadcast_to,
    check_int,
    expand_dims,
    gather,
    int_arg,
    ints_arg,
    scalar_arg,
    shape,
    zeros_like,
)
from engine.ops.control_flow_ops import stop_gradient
from engine.ops.math_ops import (
    NUMERIC,
    add,
    add_n,
    broadcast_shapes,
    check_kind,
    check_same_dtype,
    equal,
    exp,
    floordiv,
    floormod,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    maximum,
    multiply,
    negative,
    rsqrt,
    shape_error,
    square,
    subtract,
    sum_to,
    where,
)
from engine.ops.reduction_ops import reduce_sum
from engine.registry import ExecContext, Kernel, OpDef, Spec, register
from engine.shapes import Shape, compatible, fmt, merge

__all__ = [
    "batch_normalization", "bias_add", "dropout", "elu", "embedding_lookup", "fused_batch_norm",
    "in_top_k", "l2_loss", "l2_normalize", "leaky_relu", "log_poisson_loss", "log_softmax",
    "moments", "relu", "relu6", "selu", "sigmoid", "sigmoid_cross_entropy_with_logits",
    "softmax", "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
    "softplus", "softsign", "sparse_softmax_cross_entropy_with_logits", "tanh", "top_k",
    "weighted_cross_entropy_with_logits",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def check_float(op: Operation, t: Tensor, arg: str = "features") -> None:
    """TF's type error for a float-only op given another dtype (shared with conv_ops)."""
    if not t.dtype.is_floating:
        raise TypeError(f"Value passed to parameter '{arg}' of '{op.type}' has DataType "
                        f"{t.dtype.name} not in list of allowed values: float16, float32, float64")


def _axis(op: Operation, shape: Shape, axis: int) -> None:
    """Reject an axis outside [-rank, rank) of a known-rank tensor."""
    if shape is not None and not -len(shape) <= axis < len(shape):
        raise shape_error(op, f"axis (={axis}) must be in range [{-len(shape)}, {len(shape)})")


def _op(op_type: str, inputs: Sequence[Any], attrs: dict[str, Any] | None = None,
        name: str | None = None) -> Operation:
    return make_op(op_type, inputs, attrs, name=name or op_type)


# -- activations ----------------------------------------------------------------------------------
class _Activation(OpDef):
    """Elementwise op: output has the input's shape and dtype. `grad_op` names the gradient op,
    which takes (dy, saved) with `saved` the input or, when `grad_from_output`, the output;
    `saved_first` swaps that order (TF's SigmoidGrad and TanhGrad take (y, dy))."""

    grad_op = ""
    grad_from_output = False
    saved_first = False

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        check_float(op, x)
        return [(x.static_shape, x.dtype)]

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        saved = op.outputs[0] if self.grad_from_output else op.inputs[0]
        inputs = [saved, dy] if self.saved_first else [dy, saved]
        return [_op(self.grad_op, inputs, op.attrs).outputs[0]]


class _ActivationGrad(OpDef):
    """(dy, saved) -> dx for one activation; both inputs have the activation's shape."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        dy, saved = op.inputs
        try:
            shape = merge(dy.static_shape, saved.static_shape)
        except ValueError:
            raise shape_error(op, "Incompatible shapes") from None
        return [(shape, dy.dtype)]


@register
class Relu(_Activation):
    grad_op, grad_from_output = "ReluGrad", True
    fresh_output = True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        # max(0, x): no python frame per call; keeps -0.0 and NaN as TF's cwiseMax(0) does
        return functools.partial(ctx.xp.maximum, 0)

    def in_place(self, op: Operation, ctx: ExecContext) -> Kernel:
        maximum, array = ctx.xp.maximum, ctx.xp.ndarray
        return lambda x: maximum(0, x, out=x) if x.__class__ is array else maximum(0, x)


@register
class ReluGrad(_ActivationGrad):
    fresh_output = True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda dy, y: dy * (y > 0)  # a bool multiply beats xp.where several times over

    def in_place(self, op: Operation, ctx: ExecContext) -> Kernel:
        multiply, array = ctx.xp.multiply, ctx.xp.ndarray
        return lambda dy, y: multiply(dy, y > 0, out=dy) if dy.__class__ is array and \
            dy.shape == y.shape else dy * (y > 0)


@register
class Relu6(_Activation):
    grad_op, grad_from_output = "Relu6Grad", True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x: xp.clip(x, 0, 6)


@register
class Relu6Grad(_ActivationGrad):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda dy, y: dy * ((y > 0) & (y < 6))


@register
class LeakyRelu(_Activation):
    grad_op = "LeakyReluGrad"

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, alpha = ctx.xp, op.attrs["alpha"]
        return lambda x: xp.where(x > 0, x, x * alpha)


@register
class LeakyReluGrad(_ActivationGrad):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, alpha = ctx.xp, op.attrs["alpha"]
        return lambda dy, x: xp.where(x > 0, dy, dy * alpha)


@register
class Elu(_Activation):
    grad_op, grad_from_output = "EluGrad", True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x: xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)))


@register
class EluGrad(_ActivationGrad):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda dy, y: xp.where(y > 0, dy, dy * (y + 1))


@register
class Selu(_Activation):
    grad_op, grad_from_output = "SeluGrad", True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x: xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * _SELU_ALPHA) * _SELU_SCALE


@register
class SeluGrad(_ActivationGrad):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda dy, y: dy * xp.where(y > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)


@register
class Sigmoid(_Activation):
    grad_op, grad_from_output, saved_first = "SigmoidGrad", True, True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp

        def sigmoid(x: Any) -> Any:
            y = x * 0.5  # 0.5 * (1 + tanh(x / 2)) never overflows, unlike 1 / (1 + exp(-x))
            xp.tanh(y, out=y)
            y *= 0.5
            y += 0.5
            return y

        return sigmoid


@register
class SigmoidGrad(_ActivationGrad):
    """TF's input order: (y, dy)."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda y, dy: dy * y * (1 - y)


@register
class Tanh(_Activation):
    grad_op, grad_from_output, saved_first = "TanhGrad", True, True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return ctx.xp.tanh


@register
class TanhGrad(_ActivationGrad):
    """TF's input order: (y, dy)."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        return lambda y, dy: dy * (1 - y * y)


@register
class Softplus(_Activation):
    grad_op = "SoftplusGrad"

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x: xp.logaddexp(x, 0)


@register
class SoftplusGrad(_ActivationGrad):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda dy, x: dy * (xp.tanh(x * 0.5) * 0.5 + 0.5)


@register
class Softsign(_Activation):
    grad_op = "SoftsignGrad"

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda x: x / (1 + xp.abs(x))


@register
class SoftsignGrad(_ActivationGrad):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda dy, x: dy / xp.square(1 + xp.abs(x))


def _activation(op_type: str, x: Any, name: str | None, **attrs: Any) -> Tensor:
    return _op(op_type, [x], attrs, name).outputs[0]


def relu(features: Any, name: str | None = None) -> Tensor:
    return _activation("Relu", features, name)


def relu6(features: Any, name: str | None = None) -> Tensor:
    return _activation("Relu6", features, name)


def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> Tensor:
    return _activation("LeakyRelu", features, name, alpha=float(scalar_arg(alpha, "alpha")))


def elu(features: Any, name: str | None = None) -> Tensor:
    return _activation("Elu", features, name)


def selu(features: Any, name: str | None = None) -> Tensor:
    return _activation("Selu", features, name)


def sigmoid(x: Any, name: str | None = None) -> Tensor:
    return _activation("Sigmoid", x, name)


def tanh(x: Any, name: str | None = None) -> Tensor:
    return _activation("Tanh", x, name)


def softplus(features: Any, name: str | None = None) -> Tensor:
    return _activation("Softplus", features, name)


def softsign(features: Any, name: str | None = None) -> Tensor:
    return _activation("Softsign", features, name)


# -- softmax --------------------------------------------------------------------------------------
class _AlongAxis(OpDef):
    """Same shape and dtype out as input 0; attr `axis` names the class axis."""

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        check_float(op, x, "logits")
        _axis(op, x.static_shape, op.attrs["axis"])
        return [(x.static_shape, x.dtype)]


def _shifted(x: Any, axis: int) -> Any:
    """x minus its max along `axis`: exp of it cannot overflow. A fresh array."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"The class axis {axis} is out of range for logits of shape "
                         f"{tuple(x.shape)}: they need rank >= 1.")
    return x - x.max(axis=axis, keepdims=True)


@register
class Softmax(_AlongAxis):
    fresh_output = True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]

        def softmax(x: Any) -> Any:
            e = _shifted(x, axis)
            xp.exp(e, out=e)
            e /= e.sum(axis=axis, keepdims=True)
            return e

        return softmax

    def in_place(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis, allocating = ctx.xp, op.attrs["axis"], self.kernel(op, ctx)
        add, maximum = ctx.backend.sum, ctx.backend.max

        def softmax_in_place(x: Any) -> Any:
            if x.__class__ is not xp.ndarray or not -x.ndim <= axis < x.ndim:
                return allocating(x)  # (which also words the axis error)
            x -= maximum(x, axis=axis, keepdims=True)
            xp.exp(x, out=x)
            x /= add(x, axis=axis, keepdims=True)
            return x

        return softmax_in_place

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [_op("SoftmaxGrad", [op.outputs[0], dy], op.attrs).outputs[0]]


@register
class SoftmaxGrad(_AlongAxis):
    """(softmax, dy) -> (dy - sum(dy * softmax)) * softmax."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        axis = op.attrs["axis"]
        return lambda y, dy: (dy - (dy * y).sum(axis=axis, keepdims=True)) * y


@register
class LogSoftmax(_AlongAxis):
    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]

        def log_softmax(x: Any) -> Any:
            s = _shifted(x, axis)
            s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
            return s

        return log_softmax

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [_op("LogSoftmaxGrad", [op.outputs[0], dy], op.attrs).outputs[0]]


@register
class LogSoftmaxGrad(_AlongAxis):
    """(log_softmax, dy) -> dy - softmax * sum(dy)."""

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]
        return lambda y, dy: dy - xp.exp(y) * dy.sum(axis=axis, keepdims=True)


def _resolve_axis(axis: int | None, dim: int | None) -> int:
    """TF 1.x accepts the class axis as `axis` or the deprecated `dim`; -1 by default."""
    if axis is not None and dim is not None and axis != dim:
        raise ValueError(f"Pass only one of axis ({axis}) and its deprecated alias dim ({dim}).")
    return int_arg(axis if axis is not None else dim if dim is not None else -1, "axis")


def softmax(logits: Any, axis: int | None = None, name: str | None = None,
            dim: int | None = None) -> Tensor:
    """exp(logits) / sum(exp(logits)) along `axis`, computed after subtracting the max."""
    return _op("Softmax", [logits], {"axis": _resolve_axis(axis, dim)}, name).outputs[0]


def log_softmax(logits: Any, axis: int | None = None, name: str | None = None,
                dim: int | None = None) -> Tensor:
    return _op("LogSoftmax", [logits], {"axis": _resolve_axis(axis, dim)}, name).outputs[0]


# -- cross-entropies ------------------------------------------------------------------------------
@register
class ScaleAlongAxis(OpDef):
    """(v, m) -> v with `axis` re-inserted, times m: a per-example loss gradient times the
    per-class backprop of a fused cross-entropy."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        return [(op.inputs[1].static_shape, op.inputs[1].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        axis = op.attrs["axis"]  # v[index] is v with a new axis there: no Python-level call
        index = (slice(None),) * axis + (None,) if axis >= 0 else \
            (Ellipsis, None) + (slice(None),) * (-axis - 1)
        return lambda v, m: v[index] * m


def _scale_along(v: Tensor, m: Tensor, axis: int) -> Tensor:
    return _op("ScaleAlongAxis", [v, m], {"axis": axis}).outputs[0]


@register
class SoftmaxCrossEntropyWithLogits(OpDef):
    """(labels, logits) -> (per-example loss, softmax - labels); attr `axis` is the class axis.
    Labels broadcast against logits."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        labels, logits = op.inputs
        check_float(op, logits, "logits")
        shape = broadcast_shapes(op, labels.static_shape, logits.static_shape)
        axis = op.attrs["axis"]
        _axis(op, shape, axis)
        loss = None if shape is None else shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
        return [(loss, logits.dtype), (shape, logits.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, axis = ctx.xp, op.attrs["axis"]
        add, maximum = ctx.backend.sum, ctx.backend.max

        def xent(labels: Any, logits: Any) -> tuple[Any, Any]:
            if not -logits.ndim <= axis < logits.ndim:
                _shifted(logits, axis)  # raises the axis error
            shifted = logits - maximum(logits, axis=axis, keepdims=True)
            e = xp.exp(shifted)
            total = add(e, axis=axis, keepdims=True)
            shifted -= xp.log(total)  # now log_softmax
            e /= total  # now softmax
            if labels.shape != e.shape:  # labels broadcast to a bigger shape
                return -add(labels * shifted, axis=axis), e - labels
            shifted *= labels
            return -add(shifted, axis=axis), xp.subtract(e, labels, out=e)

        return xent

    def grad(self, op: Operation, dloss: Tensor | None, _: Tensor | None) -> list[Tensor | None]:
        labels, logits = op.inputs
        axis = op.attrs["axis"]
        dlogits = _scale_along(dloss, op.outputs[1], axis)
        dlabels = _scale_along(negative(dloss), log_softmax(logits, axis), axis)
        return [sum_to(dlabels, labels), sum_to(dlogits, logits)]


def _ensure_named(fn: str, sentinel: Any, labels: Any, logits: Any) -> None:
    """TF forbids positional arguments here: the argument order changed between versions."""
    if sentinel is not None:
        raise ValueError(f"Only call `{fn}` with named arguments (labels=..., logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError(f"Both labels and logits must be provided to `{fn}`.")


def softmax_cross_entropy_with_logits_v2(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, dim: int | None = None,
    name: str | None = None, axis: int | None = None,
) -> Tensor:
    """Per-example -sum(labels * log_softmax(logits)); backprops into labels as well."""
    _ensure_named("softmax_cross_entropy_with_logits_v2", _sentinel, labels, logits)
    labels, logits = with_dtype_of(labels, logits)
    attrs = {"axis": _resolve_axis(axis, dim)}
    op = _op("SoftmaxCrossEntropyWithLogits", [labels, logits], attrs, name)
    return op.outputs[0]


def softmax_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, dim: int = -1,
    name: str | None = None, axis: int | None = None,
) -> Tensor:
    """The v1 op: like _v2, but labels are treated as constants (no gradient into them)."""
    _ensure_named("softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    labels, logits = with_dtype_of(labels, logits)
    return softmax_cross_entropy_with_logits_v2(
        labels=stop_gradient(labels), logits=logits, dim=dim, name=name, axis=axis)


def with_dtype_of(value: Any, main: Any) -> tuple[Tensor, Tensor]:
    """Tensors for (value, main); a python/numpy `value` takes `main`'s dtype, as TF does."""
    graph = graph_of([value, main])
    main = convert_to_tensor(main, graph=graph)
    is_tensor = isinstance(value, Tensor) or hasattr(value, "_as_graph_element")
    return convert_to_tensor(value, None if is_tensor else main.dtype, graph=graph), main


@register
class SparseSoftmaxCrossEntropyWithLogits(OpDef):
    """(logits, int labels) -> (per-example loss, softmax - onehot(labels)); classes last."""

    def infer(self, op: Operation) -> list[Spec]:
        logits, labels = op.inputs
        check_float(op, logits, "logits")
        if not labels.dtype.is_integer:
            raise TypeError(f"Value passed to parameter 'labels' has DataType "
                            f"{labels.dtype.name} not in list of allowed values: int32, int64")
        x, y = logits.static_shape, labels.static_shape
        if x is not None and not x:
            raise shape_error(op, "logits must have rank >= 1")
        if x is not None and y is not None and len(y) != len(x) - 1:
            raise ValueError(f"Rank mismatch: Rank of labels (received {len(y)}) should "
                             f"equal rank of logits minus 1 (received {len(x)}).")
        try:
            loss = y if x is None else merge(x[:-1], y)
        except ValueError:
            raise ValueError(
                f"Shape mismatch: The shape of labels (received {fmt(y)}) should equal the "
                f"shape of logits except for the last dimension (received {fmt(x)}).") from None
        return [(loss, logits.dtype), (x, logits.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp

        def xent(logits: Any, labels: Any) -> tuple[Any, Any]:
            if logits.shape[:-1] != labels.shape:
                raise errors.InvalidArgumentError(
                    None, op, f"logits and labels must have the same first dimensions, got "
                    f"logits shape {fmt(logits.shape)} and labels shape {fmt(labels.shape)} "
                    f"for '{op.name}' (op: {op.type})")
            classes = logits.shape[-1]
            flat = labels.reshape(-1)
            if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= classes):
                bad = flat[(flat < 0) | (flat >= classes)][0]
                raise errors.InvalidArgumentError(
                    None, op, f"Received a label value of {int(bad)} which is outside the valid "
                    f"range of [0, {classes}).  Label values: "
                    + " ".join(str(int(v)) for v in flat.tolist()))
            shifted = _shifted(logits, -1).reshape(-1, classes)
            e = xp.exp(shifted)
            total = e.sum(axis=1)
            rows = xp.arange(flat.size)
            loss = xp.log(total) - shifted[rows, flat]
            e /= total[:, None]
            e[rows, flat] -= 1
            return loss.reshape(labels.shape), e.reshape(logits.shape)

        return xent

    def grad(self, op: Operation, dloss: Tensor | None, _: Tensor | None) -> list[Tensor | None]:
        return [_scale_along(dloss, op.outputs[1], -1), None]


def sparse_softmax_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, name: str | None = None,
) -> Tensor:
    """Per-example cross-entropy against integer class labels (one fused op)."""
    _ensure_named("sparse_softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    op = _op("SparseSoftmaxCrossEntropyWithLogits", [logits, labels], name=name)
    return op.outputs[0]


@register
class SigmoidCrossEntropyWithLogits(OpDef):
    """(labels, logits) -> max(x, 0) - x * z + log(1 + exp(-|x|)): never overflows."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        labels, logits = op.inputs
        check_float(op, logits, "logits")
        try:
            shape = merge(labels.static_shape, logits.static_shape)
        except ValueError:
            raise ValueError(
                f"logits and labels must have the same shape ({fmt(logits.static_shape)} vs "
                f"{fmt(labels.static_shape)})") from None
        return [(shape, logits.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp

        def xent(z: Any, x: Any) -> Any:
            if z.shape != x.shape:
                raise errors.InvalidArgumentError(
                    None, op, f"logits and labels must have the same shape ({fmt(x.shape)} vs "
                    f"{fmt(z.shape)}) for '{op.name}' (op: {op.type})")
            out = xp.log1p(xp.exp(-xp.abs(x)))
            out += xp.maximum(x, 0)
            out -= x * z
            return out

        return xent

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        labels, logits = op.inputs
        return [multiply(dy, negative(logits)),
                multiply(dy, subtract(sigmoid(logits), labels))]


def sigmoid_cross_entropy_with_logits(
    _sentinel: Any = None, labels: Any = None, logits: Any = None, name: str | None = None,
) -> Tensor:
    """Elementwise logistic loss of independent binary labels."""
    _ensure_named("sigmoid_cross_entropy_with_logits", _sentinel, labels, logits)
    labels, logits = with_dtype_of(labels, logits)
    return _op("SigmoidCrossEntropyWithLogits", [labels, logits], name=name).outputs[0]


# -- bias_add, l2_loss ----------------------------------------------------------------------------
def _channel_axis(data_format: str | None, rank: int) -> int:
    return 1 if data_format == "NCHW" and rank > 2 else -1


@register
class BiasAdd(OpDef):
    """value + bias along the channel axis (last for NHWC, 1 for NCHW)."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        value, bias = (t.static_shape for t in op.inputs)
        if bias is not None and len(bias) != 1:
            raise shape_error(op, f"Shape must be rank 1 but is rank {len(bias)}")
        if value is not None:
            if len(value) < 2:
                raise shape_error(op, f"Shape must be at least rank 2 but is rank {len(value)}")
            c = value[_channel_axis(op.attrs["data_format"], len(value))]
            if c is not None and bias is not None and bias[0] is not None and c != bias[0]:
                raise shape_error(op, f"Dimensions must be equal, but are {c} and {bias[0]}")
        return [(value, op.inputs[0].dtype)]

    fresh_output = True

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        data_format = op.attrs["data_format"]
        if data_format != "NCHW":
            return operator.add  # bias along the last axis is plain broadcasting

        def bias_add(x: Any, b: Any) -> Any:
            if _channel_axis(data_format, x.ndim) == 1:
                b = b.reshape(-1, *[1] * (x.ndim - 2))
            return x + b

        return bias_add

    def in_place(self, op: Operation, ctx: ExecContext) -> Kernel | None:
        if op.attrs["data_format"] == "NCHW":
            return None
        add, array = ctx.xp.add, ctx.xp.ndarray
        return lambda x, b: add(x, b, out=x) if x.__class__ is array and x.ndim >= 1 and \
            b.shape == x.shape[-1:] else x + b

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [dy, _op("BiasAddGrad", [dy], op.attrs).outputs[0]]


@register
class BiasAddGrad(OpDef):
    """Sum of dy over every axis but the channel axis."""

    def infer(self, op: Operation) -> list[Spec]:
        dy = op.inputs[0].static_shape
        c = None if dy is None else dy[_channel_axis(op.attrs["data_format"], len(dy))]
        return [((c,), op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        data_format = op.attrs["data_format"]

        def bias_add_grad(dy: Any) -> Any:
            if _channel_axis(data_format, dy.ndim) == 1:
                return dy.sum(axis=(0, *range(2, dy.ndim)))
            return dy.reshape(-1, dy.shape[-1]).sum(axis=0)

        return bias_add_grad


def bias_add(value: Any, bias: Any, data_format: str | None = None,
             name: str | None = None) -> Tensor:
    """Add a 1-D bias along the channel axis; cheaper to differentiate than a broadcast add."""
    if data_format not in (None, "NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}.")
    bias, value = with_dtype_of(bias, value)
    return _op("BiasAdd", [value, bias], {"data_format": data_format}, name).outputs[0]


@register
class L2Loss(OpDef):
    """sum(t ** 2) / 2, a scalar."""

    def infer(self, op: Operation) -> list[Spec]:
        check_float(op, op.inputs[0], "t")
        return [((), op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp
        return lambda t: xp.asarray(xp.square(t).sum() * 0.5)

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        return [multiply(dy, op.inputs[0])]


def l2_loss(t: Any, name: str | None = None) -> Tensor:
    return _op("L2Loss", [t], name=name).outputs[0]


# -- dropout --------------------------------------------------------------------------------------
@register
class Dropout(OpDef):
    """(x, keep_prob) -> (x * mask / keep_prob, mask / keep_prob): inverted dropout.

    The mask is floor(keep_prob + U[0,1)), TF's formula, drawn on the host from the session's
    generator for this op; the scaled mask is an output so the gradient is one multiply. With
    keep_prob = 1 every mask entry is exactly 1 and the output equals the input.
    """

    stateful = True

    def infer(self, op: Operation) -> list[Spec]:
        x, keep = op.inputs
        check_float(op, x, "x")
        if keep.static_shape not in (None, ()):
            raise shape_error(op, f"keep_prob must be a scalar, got shape {fmt(keep.static_shape)}")
        noise = op.attrs["noise_shape"]
        shape = x.static_shape if noise is None else noise
        return [(x.static_shape, x.dtype), (shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, backend, rng = ctx.xp, ctx.backend, ctx.rng_for(op)
        noise = op.attrs["noise_shape"]
        host_dtype = "float64" if op.inputs[0].dtype.size > 4 else "float32"

        def dropout(x: Any, keep: Any) -> tuple[Any, Any]:
            shape = x.shape if noise is None else tuple(
                x.shape[i] if d is None else d for i, d in enumerate(noise))
            mask = backend.from_host(rng.random(shape, dtype=host_dtype))
            mask = mask.astype(x.dtype, copy=False)
            mask += keep
            xp.floor(mask, out=mask)
            mask /= keep
            return x * mask, mask

        return dropout

    def grad(self, op: Operation, dy: Tensor | None, _: Tensor | None) -> list[Tensor | None]:
        return [multiply(dy, op.outputs[1]), None]


def dropout(x: Any, keep_prob: Any = None, noise_shape: Sequence[int | None] | None = None,
            seed: int | None = None, name: str | None = None, rate: Any = None) -> Tensor:
    """Zero each element with probability 1 - keep_prob and scale the rest by 1 / keep_prob."""
    if (keep_prob is None) == (rate is None):
        raise ValueError("Pass exactly one of keep_prob and rate to dropout.")
    graph = graph_of([x, keep_prob, rate])
    x = convert_to_tensor(x, graph=graph)
    if keep_prob is None:
        keep_prob = subtract(1.0, convert_to_tensor(rate, x.dtype, graph=graph)) \
            if isinstance(rate, Tensor) else 1.0 - scalar_arg(rate, "rate")
    if not isinstance(keep_prob, Tensor) and not 0 < scalar_arg(keep_prob, "keep_prob") <= 1:
        raise ValueError(f"keep_prob must be a scalar tensor or a float in the range (0, 1], "
                         f"got {keep_prob}")
    keep = convert_to_tensor(keep_prob, x.dtype, graph=graph)
    noise = None if noise_shape is None else tuple(
        None if d is None else int(d) for d in noise_shape)
    if noise is not None and x.static_shape is not None:
        shape = x.static_shape
        if len(noise) != len(shape) or any(
                n not in (1, None, s) and s is not None for n, s in zip(noise, shape, strict=True)):
            raise ValueError(f"noise_shape {list(noise_shape)} is not broadcastable to the shape "
                             f"of x {fmt(shape)}.")
    attrs = {"noise_shape": noise, "seed": seed}
    return _op("Dropout", [x, keep], attrs, name or "dropout").outputs[0]


# -- moments, in_top_k ----------------------------------------------------------------------------
@register
class Moments(OpDef):
    """x -> (mean, variance) over `axes` in one op: the variance reuses the mean."""

    def infer(self, op: Operation) -> list[Spec]:
        x = op.inputs[0]
        check_float(op, x, "x")
        shape, axes = x.static_shape, op.attrs["axes"]
        if shape is not None:
            bad = [a for a in axes if not 0 <= a < len(shape)]
            if bad:
                raise shape_error(op, f"Invalid reduction axes {bad} for a rank-{len(shape)} input")
            shape = tuple(1 if i in axes else d for i, d in enumerate(shape)
                          if op.attrs["keep_dims"] or i not in axes)
        return [(shape, x.dtype), (shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        axes, keep, total = op.attrs["axes"], op.attrs["keep_dims"], ctx.backend.sum

        def moments(x: Any) -> tuple[Any, Any]:
            # sums over a count: an empty input gives NaN (0/0) without numpy's mean warning
            count = math.prod(x.shape[a] for a in axes)
            mean = total(x, axis=axes, keepdims=True) / count
            d = x - mean
            d *= d
            return mean if keep else mean.squeeze(axes), total(d, axis=axes,
                                                               keepdims=keep) / count

        return moments

    def grad(self, op: Operation, dmean: Tensor | None,
             dvar: Tensor | None) -> list[Tensor | None]:
        dmean = zeros_like(op.outputs[0]) if dmean is None else dmean
        dvar = zeros_like(op.outputs[1]) if dvar is None else dvar
        return [_op("MomentsGrad", [op.inputs[0], dmean, dvar], op.attrs).outputs[0]]


@register
class MomentsGrad(OpDef):
    """(x, dmean, dvar) -> (dmean + 2 * dvar * (x - mean)) / n, with mean recomputed."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        axes = op.attrs["axes"]

        def moments_grad(x: Any, dmean: Any, dvar: Any) -> Any:
            kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
            n = math.prod(x.shape[a] for a in axes)
            d = x - x.mean(axis=axes, keepdims=True)
            d *= dvar.reshape(kept) * 2
            d += dmean.reshape(kept)
            d /= n
            return d

        return moments_grad


def moments(x: Any, axes: Sequence[int], shift: Any = None, name: str | None = None,
            keep_dims: bool = False, keepdims: bool | None = None) -> tuple[Tensor, Tensor]:
    """Mean and (population) variance of `x` over `axes`."""
    x = convert_to_tensor(x)
    rank = None if x.static_shape is None else len(x.static_shape)
    axes = list(ints_arg(axes, "axes"))
    if rank is not None:
        axes = [a + rank if a < 0 else a for a in axes]
    elif any(a < 0 for a in axes):
        raise ValueError("moments needs non-negative axes when the rank of x is unknown.")
    attrs = {"axes": tuple(sorted(set(axes))),
             "keep_dims": bool(keep_dims if keepdims is None else keepdims)}
    op = _op("Moments", [x], attrs, name or "moments")
    return op.outputs[0], op.outputs[1]


@register
class InTopK(OpDef):
    """Whether each target's prediction is among the k largest of its row. As in TF, ties
    count in, and a row with a non-finite prediction or an out-of-range target gives False."""

    differentiable = False

    def infer(self, op: Operation) -> list[Spec]:
        from engine import dtypes

        check_float(op, op.inputs[0], "predictions")
        check_int(op, op.inputs[1], "targets")
        predictions, targets = (t.static_shape for t in op.inputs)
        if predictions is not None and len(predictions) != 2:
            raise shape_error(op, f"Shape must be rank 2 but is rank {len(predictions)}")
        if targets is not None and len(targets) != 1:
            raise shape_error(op, f"Shape must be rank 1 but is rank {len(targets)}")
        batch = merge(None if predictions is None else predictions[:1], targets)
        return [(batch if batch is not None else (None,), dtypes.bool)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, k = ctx.xp, op.attrs["k"]

        def in_top_k(predictions: Any, targets: Any) -> Any:
            if predictions.ndim != 2 or targets.shape != predictions.shape[:1]:
                raise ValueError(f"predictions must be a [batch, classes] matrix and targets a "
                                 f"[batch] vector, got shapes {tuple(predictions.shape)} and "
                                 f"{tuple(targets.shape)}")
            classes = predictions.shape[1]
            valid = (targets >= 0) & (targets < classes)
            rows = xp.arange(predictions.shape[0])
            target = predictions[rows, xp.where(valid, targets, 0)]
            above = (predictions > target[:, None]).sum(axis=1)
            return valid & xp.isfinite(predictions).all(axis=1) & (above < k)

        return in_top_k


def in_top_k(predictions: Any, targets: Any, k: int, name: str | None = None) -> Tensor:
    return _op("InTopK", [predictions, targets], {"k": int_arg(k, "k")}, name).outputs[0]


@register
class TopKV2(OpDef):
    """input -> (values, indices): the k largest entries of each row (last axis), largest
    first, equal values in index order as in TF; indices are int32. `sorted=False` gets the
    same sorted result, which TF allows."""

    def infer(self, op: Operation) -> list[Spec]:
        from engine import dtypes

        x, k = op.inputs[0], op.attrs["k"]
        check_kind(op, x, NUMERIC, "input")
        if k < 0:
            raise shape_error(op, f"Need k >= 0, got {k}")
        s = x.static_shape
        if s is not None:
            if not s:
                raise shape_error(op, "Shape must be at least rank 1 but is rank 0")
            if s[-1] is not None and s[-1] < k:
                raise shape_error(op, f"input must have at least k columns. Had {s[-1]}, "
                                      f"needed {k}")
            s = (*s[:-1], k)
        return [(s, x.dtype), (s, dtypes.int32)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, k = ctx.xp, op.attrs["k"]

        def top_k(x: Any) -> tuple[Any, Any]:
            if x.ndim == 0 or x.shape[-1] < k:
                raise ValueError(f"input must have at least k columns. Had "
                                 f"{x.shape[-1] if x.ndim else 0}, needed {k}")
            # a stable ascending sort of the reversed row, read backwards: largest first,
            # ties in index order (negating would overflow unsigned and minimal ints)
            ascending = xp.argsort(x[..., ::-1], axis=-1, kind="stable")
            indices = (x.shape[-1] - 1 - ascending[..., ::-1][..., :k]).astype(xp.int32)
            return xp.take_along_axis(x, indices, -1), indices

        return top_k

    def grad(self, op: Operation, dvalues: Tensor | None,
             dindices: Tensor | None) -> list[Tensor | None]:
        if dvalues is None:
            return [None]
        return [_op("TopKGrad", [op.inputs[0], op.outputs[1], dvalues]).outputs[0]]


@register
class TopKGrad(OpDef):
    """(input, indices, dvalues) -> dvalues put at the top-k positions of each row, zeros
    elsewhere (the k positions of a row are distinct)."""

    def infer(self, op: Operation) -> list[Spec]:
        return [(op.inputs[0].static_shape, op.inputs[2].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp = ctx.xp

        def top_k_grad(x: Any, indices: Any, dvalues: Any) -> Any:
            out = xp.zeros(x.shape, dvalues.dtype)
            n_rows, k = math.prod(x.shape[:-1]), indices.shape[-1]
            rows = xp.arange(n_rows)[:, None]
            out.reshape(n_rows, x.shape[-1])[rows, indices.reshape(n_rows, k)] = \
                dvalues.reshape(n_rows, k)
            return out

        return top_k_grad


def top_k(input: Any, k: Any = 1, sorted: bool = True,
          name: str | None = None) -> tuple[Tensor, Tensor]:
    """The k largest entries of each row of `input` and their int32 indices."""
    op = _op("TopKV2", [input], {"k": int_arg(k, "k")}, name)
    return op.outputs[0], op.outputs[1]


# -- fused batch norm ------------------------------------------------------------------------------
def _bn_axes(data_format: str, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(reduction axes, shape that broadcasts a per-channel vector) for NHWC or NCHW."""
    channel = 1 if data_format == "NCHW" else rank - 1
    return (tuple(a for a in range(rank) if a != channel),
            tuple(-1 if a == channel else 1 for a in range(rank)))


@register
class FusedBatchNorm(OpDef):
    """(x, scale, offset[, mean, variance]) -> (y, batch mean, batch variance, biased variance).

    Training normalises with the batch statistics (the returned variance is Bessel-corrected,
    for moving averages, as in TF); inference takes mean and variance as inputs 3 and 4.
    """

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        x = op.inputs[0]
        check_float(op, x, "x")
        shape = x.static_shape
        if shape is not None and len(shape) != 4:
            raise shape_error(op, f"Shape must be rank 4 but is rank {len(shape)}")
        channels = None if shape is None else shape[1 if op.attrs["data_format"] == "NCHW" else 3]
        for t in op.inputs[1:]:
            if t.static_shape is not None and (len(t.static_shape) != 1 or not compatible(
                    t.static_shape, (channels,))):
                raise shape_error(op, f"Per-channel inputs must have shape [{channels}]")
        stat = ((channels,), x.dtype)
        return [(shape, x.dtype), stat, stat, stat]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, eps, training = ctx.xp, op.attrs["epsilon"], op.attrs["is_training"]
        rank_axes = _bn_axes(op.attrs["data_format"], 4)

        def fused_batch_norm(x: Any, scale: Any, offset: Any, *stats: Any) -> tuple[Any, ...]:
            if x.ndim != 4:
                raise ValueError(f"x must be 4-dimensional, got shape {tuple(x.shape)}")
            axes, channel = rank_axes
            if training:
                mean, var = x.mean(axis=axes), x.var(axis=axes)
            else:
                mean, var = stats
            factor = scale / xp.sqrt(var + eps)
            y = x * factor.reshape(channel)
            y += (offset - mean * factor).reshape(channel)
            if not training:
                return y, mean, var, var
            n = x.size // mean.size
            return y, mean, var * (n / max(n - 1, 1)), var

        return fused_batch_norm

    def grad(self, op: Operation, dy: Tensor | None, *_: Tensor | None) -> list[Tensor | None]:
        x, scale = op.inputs[:2]
        if op.attrs["is_training"]:
            mean, var = op.outputs[1], op.outputs[3]
        else:
            mean, var = op.inputs[3], op.inputs[4]
        dx, dscale, doffset = _op("FusedBatchNormGrad", [dy, x, scale, mean, var],
                                  op.attrs).outputs
        return [dx, dscale, doffset] + [None] * (len(op.inputs) - 3)


@register
class FusedBatchNormGrad(OpDef):
    """(dy, x, scale, mean, biased variance) -> (dx, dscale, doffset). In training the batch
    statistics depend on x, which adds the two mean-centring terms to dx."""

    def infer(self, op: Operation) -> list[Spec]:
        x, scale = op.inputs[1], op.inputs[2]
        return [(x.static_shape, x.dtype), (scale.static_shape, x.dtype),
                (scale.static_shape, x.dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, eps, training = ctx.xp, op.attrs["epsilon"], op.attrs["is_training"]
        axes, channel = _bn_axes(op.attrs["data_format"], 4)

        def fused_batch_norm_grad(dy: Any, x: Any, scale: Any, mean: Any,
                                  var: Any) -> tuple[Any, Any, Any]:
            inv = 1 / xp.sqrt(var + eps)
            x_hat = (x - mean.reshape(channel)) * inv.reshape(channel)
            doffset = dy.sum(axis=axes)
            dscale = (dy * x_hat).sum(axis=axes)
            if training:
                n = x.size // doffset.size
                dx = dy - (x_hat * (dscale / n).reshape(channel) + (doffset / n).reshape(channel))
            else:
                dx = dy.copy()
            dx *= (scale * inv).reshape(channel)
            return dx, dscale, doffset

        return fused_batch_norm_grad


def fused_batch_norm(x: Any, scale: Any, offset: Any, mean: Any = None, variance: Any = None,
                     epsilon: float = 0.001, data_format: str = "NHWC", is_training: bool = True,
                     name: str | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Batch normalisation of a 4-D tensor in one op: (y, batch_mean, batch_variance)."""
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}.")
    if is_training and (mean is not None or variance is not None):
        raise ValueError("Both 'mean' and 'variance' must be None when is_training is True.")
    if not is_training and (mean is None or variance is None):
        raise ValueError("Both 'mean' and 'variance' must be given when is_training is False.")
    stats = [] if is_training else [mean, variance]
    attrs = {"epsilon": float(scalar_arg(epsilon, "epsilon")), "data_format": data_format,
             "is_training": bool(is_training)}
    op = _op("FusedBatchNorm", [x, scale, offset, *stats], attrs, name)
    return op.outputs[0], op.outputs[1], op.outputs[2]


# -- composed of other ops, as TF composes them (their gradients come from those ops) -------------
def l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None,
                 dim: Any = None) -> Tensor:
    """x / sqrt(max(sum(x ** 2, axis), epsilon)); `dim` is the deprecated name of `axis`."""
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and its deprecated alias 'dim'.")
    graph = graph_of([x])
    with graph.name_scope(name or "l2_normalize"):
        x = convert_to_tensor(x, graph=graph)
        square_sum = reduce_sum(square(x), axis if dim is None else dim, keepdims=True)
        epsilon = scalar_arg(epsilon, "epsilon")
        return multiply(x, rsqrt(maximum(square_sum, epsilon)))


def batch_normalization(x: Any, mean: Any, variance: Any, offset: Any, scale: Any,
                        variance_epsilon: float, name: str | None = None) -> Tensor:
    """(x - mean) * scale / sqrt(variance + variance_epsilon) + offset, with the statistics
    broadcasting against x; offset and scale may be None."""
    graph = graph_of([x, mean, variance, offset, scale])
    with graph.name_scope(name or "batchnorm"):
        x = convert_to_tensor(x, graph=graph)
        mean, variance, offset, scale = (None if t is None else with_dtype_of(t, x)[0]
                                         for t in (mean, variance, offset, scale))
        inv = rsqrt(add(variance, scalar_arg(variance_epsilon, "variance_epsilon")))
        if scale is not None:
            inv = multiply(inv, scale)
        shift = negative(multiply(mean, inv))
        return add(multiply(x, inv), shift if offset is None else add(offset, shift))


def _same_shape(what: str, a: Tensor, b: Tensor) -> None:
    if not compatible(a.static_shape, b.static_shape):
        raise ValueError(f"{what} must have the same shape ({fmt(a.static_shape)} vs "
                         f"{fmt(b.static_shape)})")


def log_poisson_loss(targets: Any, log_input: Any, compute_full_loss: bool = False,
                     name: str | None = None) -> Tensor:
    """exp(log_input) - log_input * targets, the Poisson negative log likelihood up to a
    constant; with `compute_full_loss`, Stirling's approximation of that constant is added
    for targets > 1."""
    graph = graph_of([targets, log_input])
    with graph.name_scope(name or "log_poisson_loss"):
        targets, log_input = with_dtype_of(targets, log_input)
        _same_shape("log_input and targets", log_input, targets)
        result = subtract(exp(log_input), multiply(log_input, targets))
        if not compute_full_loss:
            return result
        stirling = add(subtract(multiply(targets, log(targets)), targets),
                       multiply(0.5, log(multiply(2 * math.pi, targets))))
        small = logical_and(greater_equal(targets, 0.0), less_equal(targets, 1.0))
        return add(result, where(small, zeros_like(targets), stirling))


def weighted_cross_entropy_with_logits(targets: Any, logits: Any, pos_weight: Any,
                                       name: str | None = None) -> Tensor:
    """Sigmoid cross-entropy with the positive term weighted by `pos_weight`, in TF's stable
    form: (1 - z) * x + (1 + (q - 1) * z) * (log(1 + exp(-|x|)) + max(-x, 0))."""
    graph = graph_of([targets, logits, pos_weight])
    with graph.name_scope(name or "logistic_loss"):
        targets, logits = with_dtype_of(targets, logits)
        pos_weight, _ = with_dtype_of(pos_weight, logits)
        _same_shape("logits and targets", logits, targets)
        log_weight = add(1.0, multiply(subtract(pos_weight, 1.0), targets))
        softplus_neg = add(log1p(exp(negative(math_ops.abs(logits)))), relu(negative(logits)))
        return add(multiply(subtract(1.0, targets), logits), multiply(log_weight, softplus_neg))


def embedding_lookup(params: Any, ids: Any, partition_strategy: str = "mod",
                     name: str | None = None, validate_indices: bool = True,
                     max_norm: Any = None) -> Tensor:
    """The rows of `params` at `ids`: one tensor, or a list of shards of the table split along
    dim 0 as `partition_strategy` says ('mod': id i in shard i % n; 'div': contiguous ranges).
    The gradient scatter-adds into the table, so repeated ids accumulate. With `max_norm`, each
    looked-up embedding whose l2 norm is larger is scaled down to that norm."""
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy!r} (use 'mod' "
                         f"or 'div').")
    shards = list(params) if isinstance(params, list | tuple) else [params]
    if not shards:
        raise ValueError("Need at least one param")
    graph = graph_of([*shards, ids])
    with graph.name_scope(name or "embedding_lookup"):
        shards = [convert_to_tensor(p, graph=graph) for p in shards]
        ids = convert_to_tensor(ids, graph=graph)
        if not ids.dtype.is_integer:
            raise TypeError(f"ids must be an int32 or int64 tensor, got {ids.dtype.name}.")
        if len(shards) == 1:
            rows = gather(shards[0], ids)
        else:
            rows = _sharded_lookup(shards, ids, partition_strategy)
        if max_norm is None:
            return rows
        rank = shards[0].static_shape
        if rank is None:
            raise ValueError("embedding_lookup with max_norm needs params of known rank.")
        limit = scalar_arg(max_norm, "max_norm")
        norm_sq = reduce_sum(square(rows), list(range(1 - len(rank), 0)), keepdims=True)
        return multiply(rows, multiply(limit, rsqrt(maximum(norm_sq, limit * limit))))


def _sharded_lookup(shards: list[Tensor], ids: Tensor, strategy: str) -> Tensor:
    """Look ids up in the shard that owns them (TF's assignment): every shard gathers every id
    (ids it does not own read its row 0) and selects keep the owner's rows."""
    n, rank = len(shards), shards[0].static_shape
    if not rank:
        raise ValueError(f"embedding_lookup over shards needs params of known rank >= 1, got "
                         f"shape {fmt(rank)}.")
    if strategy == "mod":
        owner, local = floormod(ids, n), floordiv(ids, n)
    else:
        sizes = [s.static_shape[0] if s.static_shape else None for s in shards]
        if None in sizes:
            total = add_n([shape(s, out_type=ids.dtype)[0] for s in shards])
            per, extras = floordiv(total, n), floormod(total, n)
        else:
            per, extras = divmod(sum(sizes), n)  # type: ignore[arg-type]
        owner = maximum(floordiv(ids, per + 1), floordiv(subtract(ids, extras), per))
        local = where(less(owner, extras), floormod(ids, per + 1),
                      floormod(subtract(ids, extras), per))
    rows = None
    for i, shard in enumerate(shards):
        mine = equal(owner, i)
        picked = gather(shard, where(mine, local, zeros_like(local)))
        for _ in range(len(rank) - 1):
            mine = expand_dims(mine, -1)
        rows = picked if rows is None else where(broadcast_to(mine, shape(picked)), picked,
                                                 rows)
    return rows  # type: ignore[return-value]


# -- weighted loss reduction (tf.losses) -----------------------------------------------------------
# Reductions of tf.losses.Reduction that reduce to a scalar; the value names the denominator.
LOSS_DENOMINATORS = {
    "weighted_sum": "one",
    "weighted_mean": "weight_sum",
    "weighted_sum_over_batch_size": "size",
    "weighted_sum_by_nonzero_weights": "nonzero_weights",
}


def _loss_denominator(xp: Any, kind: str, weights: Any) -> Any:
    """TF's denominators; weights are already broadcast to the losses' shape."""
    if kind == "one":
        return 1
    if kind == "weight_sum":
        return weights.sum()
    if kind == "size":
        return weights.size
    return xp.count_nonzero(weights)


@register
class WeightedLoss(OpDef):
    """(losses, weights) -> sum(losses * weights) / denominator, or 0 where that is 0 (TF's
    safe division); one op so tf.losses need no reduction ops of their own."""

    def infer(self, op: Operation) -> list[Spec]:
        check_same_dtype(op)
        losses, weights = (t.static_shape for t in op.inputs)
        if losses is not None and weights is not None:
            if len(weights) > len(losses):
                raise shape_error(op, f"weights can not be broadcast to values: rank "
                                      f"{len(weights)} > {len(losses)}")
            shape = broadcast_shapes(op, weights, losses)
            try:
                merge(shape, losses)
            except ValueError:
                raise shape_error(op, "weights can not be broadcast to values") from None
        return [((), op.inputs[0].dtype)]

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, kind = ctx.xp, LOSS_DENOMINATORS[op.attrs["reduction"]]

        def weighted_loss(losses: Any, weights: Any) -> Any:
            weights = xp.broadcast_to(weights, losses.shape)
            denominator = _loss_denominator(xp, kind, weights)
            total = (losses * weights).sum()
            return xp.asarray(total / denominator if denominator else 0 * total, losses.dtype)

        return weighted_loss

    def grad(self, op: Operation, dy: Tensor | None) -> list[Tensor | None]:
        losses, weights = op.inputs
        dlosses, dweights = _op("WeightedLossGrad", [losses, weights, op.outputs[0], dy],
                                op.attrs).outputs
        return [dlosses, sum_to(dweights, weights)]


@register
class WeightedLossGrad(OpDef):
    """(losses, weights, loss, dy) -> (d/dlosses, d/dweights broadcast to the losses' shape).
    For the weighted mean the weights also move the denominator: (losses - loss) / sum(w)."""

    def infer(self, op: Operation) -> list[Spec]:
        losses = op.inputs[0]
        return [(losses.static_shape, losses.dtype)] * 2

    def kernel(self, op: Operation, ctx: ExecContext) -> Kernel:
        xp, kind = ctx.xp, LOSS_DENOMINATORS[op.attrs["reduction"]]

        def weighted_loss_grad(losses: Any, weights: Any, loss: Any, dy: Any) -> tuple[Any, Any]:
            weights = xp.broadcast_to(weights, losses.shape)
            denominator = _loss_denominator(xp, kind, weights)
            scale = xp.asarray(dy / denominator if denominator else 0 * dy, losses.dtype)
            by_weight = (losses - loss if kind == "weight_sum" else losses) * scale
            return weights * scale, by_weight

        return weighted_loss_grad


def weighted_loss(losses: Any, weights: Any, reduction: str,
                  name: str | None = None) -> Tensor:
    """The scalar reduction behind tf.losses (not part of tf.nn)."""
    weights, losses = with_dtype_of(weights, losses)
    return _op("WeightedLoss", [losses, weights], {"reduction": reduction}, name).outputs[0]
