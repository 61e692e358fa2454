"""`tf.metrics`: streaming metrics, each a (value_tensor, update_op) pair, as in TF 1.x.

A metric keeps running totals in local variables (collections LOCAL_VARIABLES and
METRIC_VARIABLES, named like TF's 'accuracy/total' and 'accuracy/count'). Run
`tf.local_variables_initializer()` to reset them, `update_op` once per batch to add the batch
in, and `value_tensor` to read the metric over every batch seen so far. The update op's own
value is the metric including its batch. Everything is built from existing ops (AssignAdd,
reductions, comparisons); the formulas, casts to float32 and epsilons are TF's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine.graph import Graph, GraphKeys, Tensor, convert_to_tensor, graph_of
from engine.ops import logging_ops, math_ops, reduction_ops
from engine.ops.array_ops import (
    constant,
    expand_dims,
    int_arg,
    one_hot,
    ones_like,
    reshape,
    squeeze,
    zeros,
    zeros_like,
)
from engine.ops.control_flow_ops import control_dependencies, identity
from engine.ops.state_ops import assign_add
from engine.shapes import compatible, fmt
from engine.variables import Variable

__all__ = [
    "accuracy", "auc", "false_negatives", "false_positives", "mean", "mean_absolute_error",
    "mean_per_class_accuracy", "mean_squared_error", "precision", "recall",
    "root_mean_squared_error", "true_positives",
]

Pair = tuple[Tensor, Tensor]


# -- plumbing -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _scope(name: str | None, default: str, values: Sequence[Any]) -> Iterator[Graph]:
    """The graph of `values`, as the default graph, inside name scope `name or default`."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}.")
    graph = graph_of([v for v in values if v is not None])
    with graph.as_default(), graph.name_scope(name or default):
        yield graph


def _metric_variable(shape: Sequence[int], dtype: Any, name: str) -> Variable:
    """A zero-initialised, non-trainable local variable holding a running total."""
    return Variable(lambda: zeros(shape, dtype), trainable=False,
                    collections=[GraphKeys.LOCAL_VARIABLES, GraphKeys.METRIC_VARIABLES], name=name)


def _collect(graph: Graph, value: Tensor, update: Tensor, metrics_collections: Any,
             updates_collections: Any) -> Pair:
    for names, item in ((metrics_collections, value), (updates_collections, update)):
        if names:
            graph.add_to_collections([names] if isinstance(names, str) else list(names), item)
    return value, update


def _safe_div(numerator: Any, denominator: Any, name: str | None = None) -> Tensor:
    """numerator / denominator, and 0 where the denominator is not positive (TF's div_no_nan
    over non-negative counts), without ever dividing by zero."""
    positive = math_ops.greater(denominator, 0.0)
    safe = math_ops.where(positive, denominator, ones_like(denominator))
    return math_ops.where(positive, math_ops.truediv(numerator, safe), zeros_like(numerator),
                          name=name)


def _tensor(value: Any, what: str) -> Tensor:
    if value is None:
        raise ValueError(f"{what} must not be None.")
    return convert_to_tensor(value)


def _check_compatible(a: Tensor, b: Tensor) -> None:
    if not compatible(a.static_shape, b.static_shape):
        raise ValueError(f"Shapes {fmt(a.static_shape)} and {fmt(b.static_shape)} are "
                         f"incompatible: predictions and labels must have the same shape.")


def _rank(t: Tensor) -> int | None:
    s = t.static_shape
    return None if s is None else len(s)


def _align(predictions: Any, labels: Any) -> tuple[Tensor, Tensor]:
    """TF's remove_squeezable_dimensions: a trailing size-1 dimension is dropped from whichever
    of predictions and labels has one more; then their shapes must agree."""
    predictions, labels = _tensor(predictions, "predictions"), _tensor(labels, "labels")
    p, lab = predictions.static_shape, labels.static_shape
    if p is not None and lab is not None:
        if len(p) == len(lab) + 1 and p[-1] in (1, None):
            predictions = squeeze(predictions, [-1])
        elif len(lab) == len(p) + 1 and lab[-1] in (1, None):
            labels = squeeze(labels, [-1])
    _check_compatible(predictions, labels)
    return predictions, labels


def _align_weights(weights: Any, values: Tensor) -> Tensor | None:
    """Weights with a trailing dimension squeezed or added to match `values`' rank (TF)."""
    if weights is None:
        return None
    weights = convert_to_tensor(weights)
    w_rank, v_rank = _rank(weights), _rank(values)
    if w_rank and v_rank is not None:
        if w_rank - v_rank == 1:
            weights = squeeze(weights, [-1])
        elif v_rank - w_rank == 1:
            weights = expand_dims(weights, -1)
    return weights


def _broadcast_weights(weights: Tensor, values: Tensor) -> Tensor:
    """float32 weights of `values`' shape; TF's rule: scalar weights, or the same rank with
    each dimension 1 or equal to values'."""
    w, v = weights.static_shape, values.static_shape
    if w is not None and v is not None and w != () and (len(w) != len(v) or any(
            a not in (1, None) and b is not None and a != b for a, b in zip(w, v, strict=True))):
        raise ValueError(f"weights can not be broadcast to values. values.rank={len(v)}. "
                         f"weights.rank={len(w)}. values.shape={fmt(v)}. "
                         f"weights.shape={fmt(w)}.")
    weights = math_ops.cast(weights, _dtypes.float32)
    return math_ops.multiply(weights, ones_like(values, dtype=_dtypes.float32))


# -- means ----------------------------------------------------------------------------------------
def mean(values: Any, weights: Any = None, metrics_collections: Any = None,
         updates_collections: Any = None, name: str | None = None) -> Pair:
    """The (weighted) mean of every value seen: running `total` and `count` variables."""
    with _scope(name, "mean", [values, weights]) as graph:
        values = math_ops.cast(_tensor(values, "values"), _dtypes.float32)
        total = _metric_variable([], _dtypes.float32, "total")
        count = _metric_variable([], _dtypes.float32, "count")
        if weights is None:
            num_values = reduction_ops.reduce_sum(ones_like(values))
        else:
            weights = _broadcast_weights(_align_weights(weights, values), values)
            values = math_ops.multiply(values, weights)
            num_values = reduction_ops.reduce_sum(weights)
        update_total = assign_add(total, reduction_ops.reduce_sum(values))
        update_count = assign_add(count, num_values)
        value = _safe_div(total.value(), count.value(), name="value")
        update = _safe_div(update_total, update_count, name="update_op")
        return _collect(graph, value, update, metrics_collections, updates_collections)


def accuracy(labels: Any, predictions: Any, weights: Any = None, metrics_collections: Any = None,
             updates_collections: Any = None, name: str | None = None) -> Pair:
    """How often predictions equal labels (predictions are cast to labels' dtype)."""
    predictions, labels = _align(predictions, labels)
    weights = _align_weights(weights, predictions)
    if labels.dtype != predictions.dtype:
        predictions = math_ops.cast(predictions, labels.dtype)
    is_correct = math_ops.cast(math_ops.equal(predictions, labels), _dtypes.float32)
    return mean(is_correct, weights, metrics_collections, updates_collections,
                name or "accuracy")


def _error_mean(error: Callable[[Tensor, Tensor], Tensor], default: str, labels: Any,
                predictions: Any, weights: Any, metrics_collections: Any,
                updates_collections: Any, name: str | None) -> Pair:
    """The mean of error(labels, predictions), its variables in scope `name or default`."""
    predictions, labels = _align(predictions, labels)
    weights = _align_weights(weights, predictions)
    return mean(error(labels, predictions), weights, metrics_collections, updates_collections,
                name or default)


def mean_squared_error(labels: Any, predictions: Any, weights: Any = None,
                       metrics_collections: Any = None, updates_collections: Any = None,
                       name: str | None = None) -> Pair:
    return _error_mean(math_ops.squared_difference, "mean_squared_error", labels, predictions,
                       weights, metrics_collections, updates_collections, name)


def mean_absolute_error(labels: Any, predictions: Any, weights: Any = None,
                        metrics_collections: Any = None, updates_collections: Any = None,
                        name: str | None = None) -> Pair:
    return _error_mean(lambda a, b: math_ops.abs(math_ops.subtract(b, a)), "mean_absolute_error",
                       labels, predictions, weights, metrics_collections, updates_collections,
                       name)


def root_mean_squared_error(labels: Any, predictions: Any, weights: Any = None,
                            metrics_collections: Any = None, updates_collections: Any = None,
                            name: str | None = None) -> Pair:
    """The square root of the streaming mean squared error."""
    mse, update = _error_mean(math_ops.squared_difference, "root_mean_squared_error", labels,
                              predictions, weights, None, None, name)
    return _collect(mse.graph, math_ops.sqrt(mse), math_ops.sqrt(update), metrics_collections,
                    updates_collections)


# -- counts of a condition, precision, recall -----------------------------------------------------
def _count_condition(condition: Tensor, weights: Tensor | None, metrics_collections: Any,
                     updates_collections: Any) -> Pair:
    """A running (weighted) count of the true elements of bool `condition`."""
    graph = condition.graph
    count = _metric_variable([], _dtypes.float32, "count")
    values = math_ops.cast(condition, _dtypes.float32)
    if weights is not None:
        values = math_ops.multiply(values, _broadcast_weights(weights, values))
    value = identity(count.value(), name="value")
    update = assign_add(count, reduction_ops.reduce_sum(values), name="update_op")
    return _collect(graph, value, update, metrics_collections, updates_collections)


def _as_bool(labels: Any, predictions: Any,
             weights: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    predictions = math_ops.cast(_tensor(predictions, "predictions"), _dtypes.bool)
    labels = math_ops.cast(_tensor(labels, "labels"), _dtypes.bool)
    predictions, labels = _align(predictions, labels)
    return labels, predictions, _align_weights(weights, predictions)


def _counter(default: str, label_value: bool, prediction_value: bool,
             ) -> Callable[..., Pair]:
    """true_positives and kin: count where labels == label_value and predictions ==
    prediction_value (both cast to bool)."""

    def count(labels: Any, predictions: Any, weights: Any = None,
              metrics_collections: Any = None, updates_collections: Any = None,
              name: str | None = None) -> Pair:
        with _scope(name, default, [labels, predictions, weights]):
            labels, predictions, weights = _as_bool(labels, predictions, weights)
            condition = math_ops.logical_and(math_ops.equal(labels, label_value),
                                             math_ops.equal(predictions, prediction_value))
            return _count_condition(condition, weights, metrics_collections,
                                    updates_collections)

    count.__name__ = count.__qualname__ = default
    count.__doc__ = (f"The running (weighted) count of labels == {label_value} with predictions "
                     f"== {prediction_value}, both cast to bool (TF's tf.metrics.{default}).")
    return count


true_positives = _counter("true_positives", True, True)
false_positives = _counter("false_positives", False, True)
false_negatives = _counter("false_negatives", True, False)


def _ratio(default: str, other: Callable[..., Pair], labels: Any, predictions: Any,
           weights: Any, metrics_collections: Any, updates_collections: Any,
           name: str | None) -> Pair:
    """tp / (tp + other), 0 while the denominator is 0: precision (other = false positives)
    and recall (other = false negatives)."""
    with _scope(name, default, [labels, predictions, weights]) as graph:
        labels, predictions, weights = _as_bool(labels, predictions, weights)
        tp, tp_update = true_positives(labels, predictions, weights)
        rest, rest_update = other(labels, predictions, weights)
        value = _safe_div(tp, math_ops.add(tp, rest), name="value")
        update = _safe_div(tp_update, math_ops.add(tp_update, rest_update), name="update_op")
        return _collect(graph, value, update, metrics_collections, updates_collections)


def precision(labels: Any, predictions: Any, weights: Any = None, metrics_collections: Any = None,
              updates_collections: Any = None, name: str | None = None) -> Pair:
    """true_positives / (true_positives + false_positives), predictions cast to bool."""
    return _ratio("precision", false_positives, labels, predictions, weights,
                  metrics_collections, updates_collections, name)


def recall(labels: Any, predictions: Any, weights: Any = None, metrics_collections: Any = None,
           updates_collections: Any = None, name: str | None = None) -> Pair:
    """true_positives / (true_positives + false_negatives), predictions cast to bool."""
    return _ratio("recall", false_negatives, labels, predictions, weights,
                  metrics_collections, updates_collections, name)


# -- AUC ------------------------------------------------------------------------------------------
_KEPSILON = 1e-7  # TF's margin around [0, 1] for the first and last thresholds
_SUMMATIONS = ("trapezoidal", "careful_interpolation", "minoring", "majoring")


def _thresholds(num_thresholds: Any, thresholds: Any) -> list[float]:
    """The thresholds in increasing order, as TF sorts them: the Riemann sums over adjacent
    pairs assume the curve's points come in threshold order."""
    if thresholds is not None:
        inner = sorted(float(t) for t in np.asarray(thresholds, dtype=np.float64).reshape(-1))
    else:
        n = int_arg(num_thresholds, "num_thresholds")
        if n < 2:
            raise ValueError(f"num_thresholds must be > 1, got {n}.")
        inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
    return [0.0 - _KEPSILON, *inner, 1.0 + _KEPSILON]


def _confusion_at_thresholds(labels: Tensor, predictions: Tensor, thresholds: list[float],
                             weights: Any) -> dict[str, tuple[Tensor, Tensor]]:
    """Running tp, fn, tn, fp counts per threshold (prediction > threshold is positive)."""
    message = "predictions must be in [0, 1]"
    checks = [logging_ops.assert_greater_equal(predictions, 0, message=message),
              logging_ops.assert_less_equal(predictions, 1, message=message)]
    with control_dependencies(checks):  # identity: a cast to the same dtype adds no op
        predictions = identity(math_ops.cast(predictions, _dtypes.float32))
    predictions, labels = _align(predictions, math_ops.cast(labels, _dtypes.bool))
    weights = _align_weights(weights, predictions)
    pred_is_pos = math_ops.greater(reshape(predictions, [1, -1]),
                                   constant(np.asarray(thresholds, np.float32).reshape(-1, 1)))
    pred_is_neg = math_ops.logical_not(pred_is_pos)
    label_is_pos = reshape(labels, [1, -1])
    label_is_neg = math_ops.logical_not(label_is_pos)
    weights_row = None if weights is None else reshape(
        _broadcast_weights(weights, predictions), [1, -1])
    counts = {}
    for key, name, label, pred in (("tp", "true_positives", label_is_pos, pred_is_pos),
                                   ("fn", "false_negatives", label_is_pos, pred_is_neg),
                                   ("tn", "true_negatives", label_is_neg, pred_is_neg),
                                   ("fp", "false_positives", label_is_neg, pred_is_pos)):
        variable = _metric_variable([len(thresholds)], _dtypes.float32, name)
        hits = math_ops.cast(math_ops.logical_and(label, pred), _dtypes.float32)
        if weights_row is not None:
            hits = math_ops.multiply(hits, weights_row)
        counts[key] = (variable.value(), assign_add(variable, reduction_ops.reduce_sum(hits, 1)))
    return counts


def _interpolate_pr_auc(tp: Tensor, fp: Tensor, fn: Tensor, name: str) -> Tensor:
    """TF's 'careful_interpolation' PR AUC (Davis & Goadrich 2006): precision interpolated
    linearly in the number of positive predictions between adjacent thresholds."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    prec_slope = _safe_div(dtp, math_ops.maximum(p[:-1] - p[1:], 0.0))
    intercept = tp[1:] - prec_slope * p[1:]
    both = math_ops.logical_and(math_ops.greater(p[:-1], 0.0), math_ops.greater(p[1:], 0.0))
    safe_p_ratio = math_ops.where(both, _safe_div(p[:-1], math_ops.maximum(p[1:], 0.0)),
                                  ones_like(p[1:]))
    increments = _safe_div(prec_slope * (dtp + intercept * math_ops.log(safe_p_ratio)),
                           math_ops.maximum(tp[1:] + fn[1:], 0.0))
    return reduction_ops.reduce_sum(increments, name=name)


def _auc_of(counts: dict[str, Tensor], curve: str, summation_method: str, name: str) -> Tensor:
    """The area under the curve through the per-threshold points, TF's Riemann sums."""
    tp, fn, tn, fp = counts["tp"], counts["fn"], counts["tn"], counts["fp"]
    if curve == "PR" and summation_method == "careful_interpolation":
        return _interpolate_pr_auc(tp, fp, fn, name)
    epsilon = 1.0e-6
    rec = math_ops.truediv(tp + epsilon, tp + fn + epsilon)
    if curve == "ROC":
        x, y = math_ops.truediv(fp, fp + tn + epsilon), rec
    else:
        x, y = rec, math_ops.truediv(tp + epsilon, tp + fp + epsilon)
    if summation_method == "minoring":
        heights = math_ops.minimum(y[:-1], y[1:])
    elif summation_method == "majoring":
        heights = math_ops.maximum(y[:-1], y[1:])
    else:
        heights = (y[:-1] + y[1:]) / 2.0
    return reduction_ops.reduce_sum(math_ops.multiply(x[:-1] - x[1:], heights), name=name)


def auc(labels: Any, predictions: Any, weights: Any = None, num_thresholds: int = 200,
        metrics_collections: Any = None, updates_collections: Any = None, curve: str = "ROC",
        name: str | None = None, summation_method: str = "trapezoidal",
        thresholds: Any = None) -> Pair:
    """Area under the ROC or PR curve from running confusion counts at `num_thresholds`
    thresholds evenly spaced over [0, 1] (predictions must lie in [0, 1])."""
    if curve not in ("ROC", "PR"):
        raise ValueError(f"curve must be either ROC or PR, {curve} unknown")
    if summation_method not in _SUMMATIONS:
        raise ValueError(f"Invalid summation_method: {summation_method!r}; use one of "
                         f"{', '.join(_SUMMATIONS)}.")
    cuts = _thresholds(num_thresholds, thresholds)
    with _scope(name, "auc", [labels, predictions, weights]) as graph:
        counts = _confusion_at_thresholds(_tensor(labels, "labels"),
                                          _tensor(predictions, "predictions"), cuts, weights)
        value = _auc_of({k: v for k, (v, _) in counts.items()}, curve, summation_method,
                        "value")
        update = _auc_of({k: u for k, (_, u) in counts.items()}, curve, summation_method,
                         "update_op")
        return _collect(graph, value, update, metrics_collections, updates_collections)


# -- per-class accuracy ---------------------------------------------------------------------------
def mean_per_class_accuracy(labels: Any, predictions: Any, num_classes: int, weights: Any = None,
                            metrics_collections: Any = None, updates_collections: Any = None,
                            name: str | None = None) -> Pair:
    """The mean over `num_classes` classes of each class's accuracy (0 for a class not seen).
    As in TF, the update op's value is the vector of per-class accuracies."""
    num_classes = int_arg(num_classes, "num_classes")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}.")
    with _scope(name, "mean_accuracy", [labels, predictions, weights]) as graph:
        labels = math_ops.cast(_tensor(labels, "labels"), _dtypes.int64)
        predictions = _tensor(predictions, "predictions")
        if _rank(labels) != 1:
            labels = reshape(labels, [-1])
        if _rank(predictions) != 1:
            predictions = reshape(predictions, [-1])
        _check_compatible(predictions, labels)
        message = f"labels must be in [0, num_classes={num_classes})"
        checks = [logging_ops.assert_non_negative(labels, message=message),
                  logging_ops.assert_less(labels, num_classes, message=message)]
        total = _metric_variable([num_classes], _dtypes.float32, "total")
        count = _metric_variable([num_classes], _dtypes.float32, "count")
        if labels.dtype != predictions.dtype:
            predictions = math_ops.cast(predictions, labels.dtype)
        is_correct = math_ops.cast(math_ops.equal(predictions, labels), _dtypes.float32)
        ones = ones_like(is_correct)
        if weights is not None:
            weights = math_ops.cast(_tensor(weights, "weights"), _dtypes.float32)
            if _rank(weights) != 1:
                weights = reshape(weights, [-1])
            is_correct, ones = math_ops.multiply(is_correct, weights), \
                math_ops.multiply(ones, weights)
        with control_dependencies(checks):
            classes = one_hot(labels, num_classes, dtype=_dtypes.float32)
        per_class = [reduction_ops.reduce_sum(math_ops.multiply(classes, expand_dims(v, 1)), 0)
                     for v in (ones, is_correct)]
        update_total = assign_add(total, per_class[0])
        update_count = assign_add(count, per_class[1])
        value = reduction_ops.reduce_mean(_safe_div(count.value(), total.value()), name="value")
        update = _safe_div(update_count, update_total, name="update_op")
        return _collect(graph, value, update, metrics_collections, updates_collections)
