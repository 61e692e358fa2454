"""`tf.keras.losses`: per-sample losses `loss(y_true, y_pred) -> [batch]` by Keras name.

As in tf.keras, when `y_pred` comes straight out of a softmax (or sigmoid), the cross-entropies
take that op's input as logits and use the fused, numerically stable ops; otherwise they clip
the probabilities to [epsilon, 1 - epsilon] first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import dtypes as _dtypes
from engine.graph import Tensor
from engine.ops import array_ops, math_ops, nn_ops, reduction_ops
from engine.ops.control_flow_ops import stop_gradient

__all__ = ["binary_crossentropy", "categorical_crossentropy", "get", "mean_absolute_error",
           "mean_squared_error", "sparse_categorical_crossentropy"]

EPSILON = 1e-7  # Keras's backend.epsilon()

Loss = Callable[[Tensor, Tensor], Tensor]


def _logits(y_pred: Tensor, op_type: str) -> Tensor | None:
    """The input of the softmax/sigmoid that produced `y_pred`, or None."""
    op = y_pred.op
    if op.type != op_type or (op_type == "Softmax" and op.attrs["axis"] not in (
            -1, len(y_pred.static_shape or ()) - 1)):
        return None
    return op.inputs[0]


def _clipped(y_pred: Tensor) -> Tensor:
    return math_ops.clip_by_value(y_pred, EPSILON, 1.0 - EPSILON)


def categorical_crossentropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """-sum(y_true * log(y_pred)) over the classes (last axis) of one-hot targets."""
    logits = _logits(y_pred, "Softmax")
    if logits is not None:
        return nn_ops.softmax_cross_entropy_with_logits_v2(labels=stop_gradient(y_true),
                                                           logits=logits)
    probs = y_pred / reduction_ops.reduce_sum(y_pred, -1, keepdims=True)
    return -reduction_ops.reduce_sum(y_true * math_ops.log(_clipped(probs)), -1)


def sparse_categorical_crossentropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Categorical cross-entropy against integer class indices (any shape, flattened)."""
    logits = _logits(y_pred, "Softmax")
    if logits is None:
        logits = math_ops.log(_clipped(y_pred))
    labels = math_ops.cast(array_ops.reshape(y_true, [-1]), _dtypes.int64)
    return nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def binary_crossentropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over the last axis of the logistic loss of independent 0/1 targets."""
    logits = _logits(y_pred, "Sigmoid")
    if logits is None:
        probs = _clipped(y_pred)
        logits = math_ops.log(probs / (1.0 - probs))
    return reduction_ops.reduce_mean(
        nn_ops.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits), -1)


def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    return reduction_ops.reduce_mean(math_ops.square(y_pred - y_true), -1)


def mean_absolute_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    return reduction_ops.reduce_mean(math_ops.abs(y_pred - y_true), -1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME: dict[str, Loss] = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": mse,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": mae,
}


def get(identifier: Any) -> Loss:
    """The loss for a Keras name or a callable `loss(y_true, y_pred)`."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown loss function: {identifier!r}. Valid names: "
                     f"{', '.join(sorted(_BY_NAME))}; or pass a callable "
                     f"loss(y_true, y_pred).")
