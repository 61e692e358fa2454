"""`tf.keras.metrics`: per-sample metrics `metric(y_true, y_pred)` and how a model resolves
the names given to `compile(metrics=[...])`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import dtypes as _dtypes
from engine.graph import Tensor
from engine.keras import losses
from engine.ops import array_ops, math_ops, reduction_ops

__all__ = ["binary_accuracy", "categorical_accuracy", "get", "mae", "mean_absolute_error",
           "mean_squared_error", "mse", "sparse_categorical_accuracy"]

Metric = Callable[[Tensor, Tensor], Tensor]


def _fraction(matches: Tensor) -> Tensor:
    return math_ops.cast(matches, _dtypes.float32)


def binary_accuracy(y_true: Tensor, y_pred: Tensor, threshold: float = 0.5) -> Tensor:
    predicted = math_ops.cast(y_pred > threshold, y_true.dtype)
    return reduction_ops.reduce_mean(_fraction(math_ops.equal(y_true, predicted)), -1)


def categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    return _fraction(math_ops.equal(reduction_ops.argmax(y_true, -1),
                                    reduction_ops.argmax(y_pred, -1)))


def sparse_categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    labels = math_ops.cast(array_ops.reshape(y_true, [-1]), _dtypes.int64)
    return _fraction(math_ops.equal(labels, reduction_ops.argmax(y_pred, -1)))


mean_squared_error = mse = losses.mean_squared_error
mean_absolute_error = mae = losses.mean_absolute_error

_BY_NAME: dict[str, Metric] = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mean_squared_error": mse, "mse": mse, "mean_absolute_error": mae, "mae": mae,
}


def get(identifier: Any, loss: Any, output_shape: tuple[int | None, ...]) -> Metric:
    """The metric for a name or callable; 'accuracy'/'acc' picks the accuracy that fits the
    loss and output as Keras does: binary for one output unit or binary cross-entropy, sparse
    for the sparse loss, categorical otherwise."""
    if callable(identifier):
        return identifier
    if identifier in ("accuracy", "acc"):
        if output_shape[-1] == 1 or loss is losses.binary_crossentropy:
            return binary_accuracy
        if loss is losses.sparse_categorical_crossentropy:
            return sparse_categorical_accuracy
        return categorical_accuracy
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"Unknown metric function: {identifier!r}. Valid names: accuracy, acc, "
                     f"{', '.join(sorted(_BY_NAME))}; or pass a callable "
                     f"metric(y_true, y_pred).")
