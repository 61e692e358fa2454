"""Heads: what a canned estimator predicts from its logits, its loss, its metrics and what it
exports; shared by every canned estimator (linear, DNN, combined) and both API spellings.

Classification with 2 classes uses one logit and the logistic loss, with more classes the
softmax cross-entropy; regression the squared error. The training loss is the batch's sum of
per-example losses (tf.estimator's default reduction) or their mean (contrib.learn's), the
metrics always per-example means. Labels are prepared on the host: class names (a label
vocabulary) or ids become int64 ids, regression targets float32 [batch, label_dimension].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine import summary
from engine.estimator.estimator import DatasetMetrics, EstimatorSpec, ModeKeys
from engine.graph import Operation, Tensor, get_default_graph
from engine.losses import Reduction
from engine.ops.array_ops import concat, expand_dims, reshape
from engine.ops.math_ops import cast, equal, greater, sqrt, square, subtract
from engine.ops.nn_ops import (
    sigmoid,
    sigmoid_cross_entropy_with_logits,
    softmax,
    sparse_softmax_cross_entropy_with_logits,
)
from engine.ops.reduction_ops import argmax, reduce_mean, reduce_sum

TrainOpFn = Callable[[Tensor], Operation]
_REDUCTIONS = (Reduction.SUM, Reduction.SUM_OVER_BATCH_SIZE)


class Head:
    """Base: subclasses define logits_dimension, predictions, per-example loss, metrics."""

    logits_dimension: int
    kind: str

    def __init__(self, loss_reduction: str) -> None:
        if loss_reduction not in _REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {_REDUCTIONS}, got "
                             f"{loss_reduction!r}.")
        self._reduction = loss_reduction

    def encode_labels(self, labels: Any) -> np.ndarray:
        raise NotImplementedError

    def predictions(self, logits: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def export_outputs(self, predictions: dict[str, Tensor]) -> dict[str, Tensor]:
        return predictions

    def per_example_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def train_summaries(self, predictions: dict[str, Tensor], labels: Tensor,
                        per_example: Tensor) -> None:
        """Scalar summaries of a training batch, beyond 'loss'."""

    def metric_fetches(self, predictions: dict[str, Tensor], labels: Tensor,
                       per_example: Tensor) -> dict[str, Tensor]:
        """Per-example tensors that `metrics` reads, gathered over the evaluation set."""
        raise NotImplementedError

    def metrics(self, values: dict[str, np.ndarray]) -> dict[str, float]:
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        raise NotImplementedError

    def spec(self, mode: str, logits: Tensor, labels: Tensor | None,
             train_op_fn: TrainOpFn) -> EstimatorSpec:
        """The EstimatorSpec of `mode` for these logits."""
        predictions = self.predictions(logits)
        if mode == ModeKeys.PREDICT:
            return EstimatorSpec(mode, predictions=predictions,
                                 export_outputs=self.export_outputs(predictions))
        if labels is None:
            raise ValueError("Labels are required for training and evaluation: input_fn must "
                             "give (features, labels).")
        per_example = self.per_example_loss(logits, labels)
        loss = reduce_sum(per_example) if self._reduction == Reduction.SUM \
            else reduce_mean(per_example)
        if mode == ModeKeys.EVAL:
            fetches = self.metric_fetches(predictions, labels, per_example)
            return EstimatorSpec(mode, predictions=predictions, loss=loss,
                                 dataset_metrics=DatasetMetrics(fetches, self.metrics))
        with get_default_graph().name_scope(None):
            summary.scalar("average_loss", reduce_mean(per_example))
            self.train_summaries(predictions, labels, per_example)
        return EstimatorSpec(mode, predictions=predictions, loss=loss,
                             train_op=train_op_fn(loss))


class ClassificationHead(Head):
    """n_classes >= 2; labels are ids in [0, n_classes) or entries of label_vocabulary."""

    kind = "classification"

    def __init__(self, n_classes: int, label_vocabulary: Sequence[str] | None = None,
                 loss_reduction: str = Reduction.SUM) -> None:
        super().__init__(loss_reduction)
        if not isinstance(n_classes, int | np.integer) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2 (a binary classifier has 2 "
                             f"classes), got {n_classes!r}.")
        self.n_classes = int(n_classes)
        self.logits_dimension = 1 if self.n_classes == 2 else self.n_classes
        self.vocabulary = None if label_vocabulary is None else [str(v) for v in
                                                                 label_vocabulary]
        if self.vocabulary is not None and (
                len(self.vocabulary) != self.n_classes
                or len(set(self.vocabulary)) != len(self.vocabulary)):
            raise ValueError(f"label_vocabulary must hold n_classes={self.n_classes} distinct "
                             f"names, got {list(label_vocabulary or ())}.")

    def class_names(self, class_ids: np.ndarray) -> np.ndarray:
        """The 'classes' prediction (as TF, bytes): vocabulary entries, or the ids as text."""
        names = self.vocabulary or [str(i) for i in range(self.n_classes)]
        table = np.array([n.encode() for n in names], dtype=object)
        return table[class_ids]

    def encode_labels(self, labels: Any) -> np.ndarray:
        array = np.asarray(labels)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise ValueError(f"Classification labels must have shape [batch] or [batch, 1], "
                             f"got {list(array.shape)}.")
        if self.vocabulary is not None:
            index = {name: i for i, name in enumerate(self.vocabulary)}
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in array.tolist()]
            unknown = sorted(set(names) - set(index))
            if unknown:
                raise ValueError(f"Labels {unknown[:5]} are not in label_vocabulary "
                                 f"{self.vocabulary}.")
            return np.array([index[n] for n in names], dtype=np.int64).reshape(-1, 1)
        if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and
                                              not np.all(np.mod(array, 1) == 0)):
            raise ValueError(f"Labels must be class ids (integers); got dtype {array.dtype}. "
                             f"Pass label_vocabulary for named classes.")
        ids = array.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_classes):
            raise ValueError(f"Labels must be in [0, n_classes={self.n_classes}), got values "
                             f"from {ids.min()} to {ids.max()}.")
        return ids.reshape(-1, 1)

    def predictions(self, logits: Tensor) -> dict[str, Tensor]:
        if self.n_classes == 2:
            logistic = sigmoid(logits, name="logistic")
            probabilities = concat([1.0 - logistic, logistic], axis=1, name="probabilities")
            class_ids = cast(greater(logits, 0.0), _dtypes.int64, name="class_ids")
            return {"logits": logits, "logistic": logistic, "probabilities": probabilities,
                    "class_ids": class_ids}
        return {"logits": logits, "probabilities": softmax(logits, name="probabilities"),
                "class_ids": expand_dims(argmax(logits, 1), 1, name="class_ids")}

    def export_outputs(self, predictions: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: predictions[k] for k in ("class_ids", "probabilities", "logits")}

    def per_example_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self.n_classes == 2:
            losses = sigmoid_cross_entropy_with_logits(
                labels=cast(labels, _dtypes.float32), logits=logits)
            return reshape(losses, [-1])
        return sparse_softmax_cross_entropy_with_logits(labels=reshape(labels, [-1]),
                                                        logits=logits)

    def train_summaries(self, predictions: dict[str, Tensor], labels: Tensor,
                        per_example: Tensor) -> None:
        correct = cast(equal(predictions["class_ids"], labels), _dtypes.float32)
        summary.scalar("accuracy", reduce_mean(correct))

    def metric_fetches(self, predictions: dict[str, Tensor], labels: Tensor,
                       per_example: Tensor) -> dict[str, Tensor]:
        fetches = {"labels": labels, "loss": per_example, "class_ids": predictions["class_ids"]}
        if self.n_classes == 2:
            fetches["logistic"] = predictions["logistic"]
        return fetches

    def metrics(self, values: dict[str, np.ndarray]) -> dict[str, float]:
        labels, ids = values["labels"].ravel(), values["class_ids"].ravel()
        out = {"accuracy": float(np.mean(ids == labels)),
               "average_loss": float(np.mean(values["loss"]))}
        if self.n_classes == 2:
            scores = values["logistic"].ravel()
            predicted = ids == 1
            positive = labels == 1
            label_mean = float(np.mean(positive))
            out.update({
                "auc": _auc(positive, scores),
                "precision": _ratio(np.sum(predicted & positive), np.sum(predicted)),
                "recall": _ratio(np.sum(predicted & positive), np.sum(positive)),
                "prediction/mean": float(np.mean(scores)),
                "label/mean": label_mean,
                "accuracy_baseline": max(label_mean, 1.0 - label_mean),
            })
        return out

    def metadata(self) -> dict[str, Any]:
        return {"head": self.kind, "n_classes": self.n_classes,
                "label_vocabulary": self.vocabulary}


class RegressionHead(Head):
    """Targets of `label_dimension` values per example.

    `label_mean` and `label_scale` (a kumo extension; TF has no such arguments) let the
    network work on standardized targets: it predicts (y - mean) / scale, the exported
    `predictions` are scaled back, and the training loss is the standardized squared error.
    Targets far from 0 (prices, counts) then train in as few steps as targets near 0, where
    the adaptive optimizers' bounded steps would creep towards them. `average_loss` and
    `rmse` stay in the targets' units."""

    kind = "regression"

    def __init__(self, label_dimension: int = 1, loss_reduction: str = Reduction.SUM, *,
                 label_mean: float = 0.0, label_scale: float = 1.0) -> None:
        super().__init__(loss_reduction)
        if not isinstance(label_dimension, int | np.integer) or label_dimension < 1:
            raise ValueError(f"Invalid label_dimension {label_dimension!r}.")
        if not (np.isfinite(label_mean) and np.isfinite(label_scale) and label_scale > 0):
            raise ValueError(f"label_mean must be finite and label_scale finite and positive, "
                             f"got {label_mean!r} and {label_scale!r}.")
        self.logits_dimension = int(label_dimension)
        self.label_mean, self.label_scale = float(label_mean), float(label_scale)
        self._standardized = (self.label_mean, self.label_scale) != (0.0, 1.0)

    def encode_labels(self, labels: Any) -> np.ndarray:
        array = np.asarray(labels)
        d = self.logits_dimension
        if array.dtype.kind not in "biuf":
            raise ValueError(f"Regression labels must be numbers, got dtype {array.dtype}.")
        if array.ndim == 0 or array.size != len(array) * d or array.ndim > 2:
            raise ValueError(f"Regression labels must have shape [batch, {d}]"
                             f"{' or [batch]' if d == 1 else ''}, got {list(array.shape)}.")
        return array.reshape(-1, d).astype(np.float32, copy=False)

    def predictions(self, logits: Tensor) -> dict[str, Tensor]:
        if self._standardized:
            return {"predictions": logits * self.label_scale + self.label_mean}
        return {"predictions": logits}

    def per_example_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self._standardized:
            return square(subtract(logits, (labels - self.label_mean) / self.label_scale))
        return square(subtract(logits, labels))

    def train_summaries(self, predictions: dict[str, Tensor], labels: Tensor,
                        per_example: Tensor) -> None:
        summary.scalar("rmse", sqrt(reduce_mean(per_example)) * self.label_scale)

    def metric_fetches(self, predictions: dict[str, Tensor], labels: Tensor,
                       per_example: Tensor) -> dict[str, Tensor]:
        return {"labels": labels, "loss": per_example,
                "predictions": predictions["predictions"]}

    def metrics(self, values: dict[str, np.ndarray]) -> dict[str, float]:
        mse = float(np.mean(values["loss"])) * self.label_scale ** 2  # in the labels' units
        return {"average_loss": mse, "rmse": float(np.sqrt(mse)),
                "label/mean": float(np.mean(values["labels"])),
                "prediction/mean": float(np.mean(values["predictions"]))}

    def metadata(self) -> dict[str, Any]:
        return {"head": self.kind, "label_dimension": self.logits_dimension,
                **({"label_mean": self.label_mean, "label_scale": self.label_scale}
                   if self._standardized else {})}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney U, ties counted half); 0 without both classes."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return 0.0
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties averaged
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
