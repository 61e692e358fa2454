"""`tf.losses`: weighted, reduced losses that register themselves in the LOSSES collection.

Each loss computes per-element losses with the tf.nn ops, then reduces them with one
`WeightedLoss` op (by default the sum of weighted losses over the number of non-zero weights,
which with the default weight 1 is the mean), as TF 1.x's `compute_weighted_loss` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.graph import GraphKeys, Tensor, convert_to_tensor, get_default_graph, graph_of
from engine.ops import math_ops, nn_ops
from engine.ops.array_ops import int_arg, scalar_arg
from engine.ops.math_ops import (
    add,
    add_n,
    log,
    minimum,
    multiply,
    negative,
    square,
    squared_difference,
    subtract,
)
from engine.ops.reduction_ops import reduce_sum
from engine.shapes import compatible, fmt

__all__ = [
    "Reduction", "absolute_difference", "add_loss", "compute_weighted_loss", "cosine_distance",
    "get_losses", "get_regularization_loss", "get_regularization_losses", "get_total_loss",
    "hinge_loss", "huber_loss", "log_loss", "mean_squared_error", "sigmoid_cross_entropy",
    "softmax_cross_entropy", "sparse_softmax_cross_entropy",
]


class Reduction:
    """How a loss reduces its weighted per-element values (`tf.losses.Reduction`)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_OVER_NONZERO_WEIGHTS, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key: str) -> None:
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}.")


def add_loss(loss: Tensor, loss_collection: str | None = GraphKeys.LOSSES) -> None:
    if not isinstance(loss, Tensor):
        raise TypeError(f"tf.losses.add_loss expects a Tensor, got {loss!r}.")
    if loss_collection:
        loss.graph.add_to_collection(loss_collection, loss)


def get_losses(scope: str | None = None, loss_collection: str = GraphKeys.LOSSES) -> list[Any]:
    return get_default_graph().get_collection(loss_collection, scope)


def get_regularization_losses(scope: str | None = None) -> list[Any]:
    return get_default_graph().get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope: str | None = None,
                            name: str = "total_regularization_loss") -> Tensor:
    losses = get_regularization_losses(scope)
    if not losses:
        return convert_to_tensor(0.0, name=name)
    return add_n(losses, name=name)


def get_total_loss(add_regularization_losses: bool = True, name: str = "total_loss",
                   scope: str | None = None) -> Tensor:
    """The sum of the collected losses (and, by default, the regularization losses)."""
    losses = get_losses(scope)
    if add_regularization_losses:
        losses += get_regularization_losses(scope)
    if not losses:
        raise ValueError("No losses found: create some with tf.losses.* or tf.losses.add_loss.")
    return add_n(losses, name=name)


def compute_weighted_loss(losses: Any, weights: Any = 1.0, scope: str | None = None,
                          loss_collection: str | None = GraphKeys.LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """losses * weights, reduced as `reduction` says, and added to `loss_collection`.

    The scalar is named `<scope>/value`; a scope ending in '/' is re-entered, as the losses
    below do with their own scope."""
    Reduction.validate(reduction)
    graph = graph_of([losses, weights])
    with graph.name_scope(scope or "weighted_loss"):
        losses = convert_to_tensor(losses, graph=graph)
        if reduction == Reduction.NONE:
            loss = multiply(losses, weights)
        else:
            loss = nn_ops.weighted_loss(losses, weights, reduction, name="value")
    add_loss(loss, loss_collection)
    return loss


def _check_compatible(labels: Tensor, predictions: Tensor, what: str = "predictions") -> None:
    if not compatible(labels.static_shape, predictions.static_shape):
        raise ValueError(f"Shapes {fmt(predictions.static_shape)} and {fmt(labels.static_shape)} "
                         f"are incompatible: {what} and labels must have the same shape.")


def _pointwise_loss(default_scope: str, labels: Any, predictions: Any, weights: Any,
                    scope: str | None, loss_collection: str | None, reduction: str,
                    per_element: Callable[[Tensor, Tensor], Tensor],
                    what: str = "predictions") -> Tensor:
    """A loss computed per element from same-shaped labels and predictions (or logits, named
    by `what`), then weighted and reduced like every tf.losses loss."""
    for value, arg in ((labels, "labels"), (predictions, what)):
        if value is None:
            raise ValueError(f"{arg} must not be None.")
    with graph_of([labels, predictions]).name_scope(scope or default_scope) as scope:
        labels, predictions = nn_ops.with_dtype_of(labels, predictions)
        _check_compatible(labels, predictions, what)
        losses = per_element(labels, predictions)
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0,
                       scope: str | None = None,
                       loss_collection: str | None = GraphKeys.LOSSES,
                       reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean of (predictions - labels) ** 2."""
    return _pointwise_loss("mean_squared_error", labels, predictions, weights, scope,
                           loss_collection, reduction, squared_difference)


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0,
                        scope: str | None = None,
                        loss_collection: str | None = GraphKeys.LOSSES,
                        reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean of |predictions - labels|."""
    return _pointwise_loss("absolute_difference", labels, predictions, weights, scope,
                           loss_collection, reduction, lambda y, p: math_ops.abs(subtract(p, y)))


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0,
               scope: str | None = None, loss_collection: str | None = GraphKeys.LOSSES,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean of 0.5 * e ** 2 for |e| <= delta, delta * (|e| - 0.5 * delta) beyond, with
    e = predictions - labels: squared error near 0, absolute error (robust) far out."""
    delta = scalar_arg(delta, "delta")

    def huber(y: Tensor, p: Tensor) -> Tensor:
        error = math_ops.abs(subtract(p, y))
        quadratic = minimum(error, delta)
        linear = subtract(error, quadratic)
        return add(multiply(0.5, square(quadratic)), multiply(delta, linear))

    return _pointwise_loss("huber_loss", labels, predictions, weights, scope, loss_collection,
                           reduction, huber)


def log_loss(labels: Any, predictions: Any, weights: Any = 1.0, epsilon: float = 1e-7,
             scope: str | None = None, loss_collection: str | None = GraphKeys.LOSSES,
             reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean binary cross-entropy of probabilities; `epsilon` keeps log finite at 0
    and 1."""
    epsilon = scalar_arg(epsilon, "epsilon")

    def cross_entropy(y: Tensor, p: Tensor) -> Tensor:
        positive = multiply(y, log(add(p, epsilon)))
        negative_ = multiply(subtract(1.0, y), log(add(subtract(1.0, p), epsilon)))
        return negative(add(positive, negative_))

    return _pointwise_loss("log_loss", labels, predictions, weights, scope, loss_collection,
                           reduction, cross_entropy)


def hinge_loss(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
               loss_collection: str | None = GraphKeys.LOSSES,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean of max(0, 1 - (2 * labels - 1) * logits) for labels in {0, 1}."""

    def hinge(y: Tensor, x: Tensor) -> Tensor:
        signs = subtract(multiply(2.0, y), 1.0)
        return nn_ops.relu(subtract(1.0, multiply(signs, x)))

    return _pointwise_loss("hinge_loss", labels, logits, weights, scope, loss_collection,
                           reduction, hinge, what="logits")


def cosine_distance(labels: Any, predictions: Any, axis: Any = None, weights: Any = 1.0,
                    scope: str | None = None, loss_collection: str | None = GraphKeys.LOSSES,
                    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
                    dim: Any = None) -> Tensor:
    """Weighted mean of 1 - sum(labels * predictions, axis), for unit-normalised inputs; the
    summed axis is kept as size 1 (`dim` is its deprecated name)."""
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and its deprecated alias 'dim'.")
    if axis is None and dim is None:
        raise ValueError("You must specify 'axis'.")
    axis = int_arg(axis if dim is None else dim, "axis")

    def distance(y: Tensor, p: Tensor) -> Tensor:
        return subtract(1.0, reduce_sum(multiply(p, y), axis, keepdims=True))

    return _pointwise_loss("cosine_distance_loss", labels, predictions, weights, scope,
                           loss_collection, reduction, distance)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0, scope: str | None = None,
                          loss_collection: str | None = GraphKeys.LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean softmax cross-entropy; label_smoothing moves labels towards uniform."""
    graph = graph_of([onehot_labels, logits])
    with graph.name_scope(scope or "softmax_cross_entropy_loss") as scope:
        labels, logits = nn_ops.with_dtype_of(onehot_labels, logits)
        _check_compatible(labels, logits, "logits")
        if scalar_arg(label_smoothing, "label_smoothing"):
            classes = None if logits.static_shape is None else logits.static_shape[-1]
            if classes is None:
                raise ValueError("label_smoothing needs logits with a known number of classes.")
            labels = add(multiply(labels, 1.0 - label_smoothing), label_smoothing / classes)
        losses = nn_ops.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits,
                                                              name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0,
                                 scope: str | None = None,
                                 loss_collection: str | None = GraphKeys.LOSSES,
                                 reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean cross-entropy against integer class labels."""
    graph = graph_of([labels, logits])
    with graph.name_scope(scope or "sparse_softmax_cross_entropy_loss") as scope:
        losses = nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits,
                                                                 name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels: Any, logits: Any, weights: Any = 1.0,
                          label_smoothing: float = 0, scope: str | None = None,
                          loss_collection: str | None = GraphKeys.LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Weighted mean logistic loss; label_smoothing moves labels towards 1/2."""
    graph = graph_of([multi_class_labels, logits])
    with graph.name_scope(scope or "sigmoid_cross_entropy_loss") as scope:
        labels, logits = nn_ops.with_dtype_of(multi_class_labels, logits)
        _check_compatible(labels, logits, "logits")
        if scalar_arg(label_smoothing, "label_smoothing"):
            labels = add(multiply(labels, 1.0 - label_smoothing), 0.5 * label_smoothing)
        losses = nn_ops.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits,
                                                          name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)
