"""Canned estimators: linear models, DNNs and their sum over feature columns, each with a
classification or regression head. This is the one implementation; tf.contrib.learn's
classes (engine/contrib/learn) subclass these with that API's methods.

The logits are a sum of towers ('linear': `linear_model`, 'dnn': `input_layer` then
`tf.layers.dense` hidden layers), each trained by its own optimizer on its own variables;
one train op runs every tower's update, then increments the global step once.

Optimizers are given by name ('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD', using the tower's
default learning rate), as an Optimizer, or as a callable returning one; None is TF's
default: Adagrad(0.05) for a DNN, Ftrl(min(0.2, 1 / sqrt(number of columns))) for a linear
model.

Export (`export_savedmodel` without a serving_input_receiver_fn) serves one input per feature
key, named by the key ('' is named 'x'), holding what `feature_column.encode` makes of it:
numeric values as float32 [batch, *shape], and for categorical columns the int64 vocabulary
ids (the snapshot has no string ops; metadata lists each vocabulary so a client can map
values to ids). Outputs: class_ids, probabilities and logits, or predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from engine import feature_column as fc
from engine import initializers, layers
from engine.estimator.estimator import (
    Estimator,
    EstimatorSpec,
    ModeKeys,
    RunConfig,
    placeholder_name,
)
from engine.estimator.export import ServingInputReceiver
from engine.estimator.head import ClassificationHead, Head, RegressionHead
from engine.gradients import gradients
from engine.graph import GraphKeys, Operation, Tensor, get_default_graph
from engine.losses import Reduction
from engine.ops.array_ops import placeholder
from engine.ops.math_ops import add_n
from engine.ops.nn_ops import relu
from engine.ops.state_ops import assign_add
from engine.train import optimizers
from engine.train.training_util import get_global_step

__all__ = [
    "DNNClassifier", "DNNLinearCombinedClassifier", "DNNLinearCombinedRegressor",
    "DNNRegressor", "LinearClassifier", "LinearRegressor",
]

DNN_LEARNING_RATE = 0.05
LINEAR_LEARNING_RATE = 0.2
OPTIMIZERS: dict[str, type[optimizers.Optimizer]] = {
    "Adagrad": optimizers.AdagradOptimizer, "Adam": optimizers.AdamOptimizer,
    "Ftrl": optimizers.FtrlOptimizer, "RMSProp": optimizers.RMSPropOptimizer,
    "SGD": optimizers.GradientDescentOptimizer,
}

OptimizerArg = str | optimizers.Optimizer | Callable[[], optimizers.Optimizer] | None
Activation = Callable[[Tensor], Tensor]


def _optimizer_factory(spec: OptimizerArg, learning_rate: float,
                       default: Callable[[], optimizers.Optimizer]
                       ) -> Callable[[], optimizers.Optimizer]:
    """Checked at construction; called once per training graph."""
    if spec is None:
        return default
    if isinstance(spec, str):
        if spec not in OPTIMIZERS:
            raise ValueError(f"Unsupported optimizer name: {spec}. Supported names are: "
                             f"{sorted(OPTIMIZERS)}.")
        return lambda: OPTIMIZERS[spec](learning_rate)
    if isinstance(spec, optimizers.Optimizer):
        return lambda: spec
    if callable(spec):
        return spec
    raise ValueError(f"optimizer must be a name, an Optimizer or a callable returning one, "
                     f"got {spec!r}.")


class _Tower:
    """One additive part of the logits, trained by its own optimizer."""

    scope: str

    def __init__(self, feature_columns: Iterable[fc.FeatureColumn],
                 optimizer: Callable[[], optimizers.Optimizer]) -> None:
        self.columns = list(feature_columns or ())
        self.optimizer = optimizer

    def logits(self, features: dict[str, Tensor], units: int, training: bool) -> Tensor:
        raise NotImplementedError


class _LinearTower(_Tower):
    scope = "linear"

    def __init__(self, feature_columns: Iterable[fc.FeatureColumn],
                 optimizer: OptimizerArg) -> None:
        columns = list(feature_columns or ())
        rate = min(LINEAR_LEARNING_RATE, 1.0 / math.sqrt(max(len(columns), 1)))
        super().__init__(columns, _optimizer_factory(
            optimizer, LINEAR_LEARNING_RATE, lambda: optimizers.FtrlOptimizer(rate)))

    def logits(self, features: dict[str, Tensor], units: int, training: bool) -> Tensor:
        return fc.linear_model(features, self.columns, units)


class _DNNTower(_Tower):
    scope = "dnn"

    def __init__(self, feature_columns: Iterable[fc.FeatureColumn],
                 hidden_units: Sequence[int] | None, optimizer: OptimizerArg,
                 activation_fn: Activation, dropout: float | None) -> None:
        super().__init__(feature_columns, _optimizer_factory(
            optimizer, DNN_LEARNING_RATE,
            lambda: optimizers.AdagradOptimizer(DNN_LEARNING_RATE)))
        self.hidden_units = [int(n) for n in hidden_units or ()]
        if not self.hidden_units or min(self.hidden_units) < 1:
            raise ValueError(f"hidden_units must be a non-empty list of positive layer sizes, "
                             f"got {hidden_units!r}.")
        if dropout is not None and not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.activation_fn = activation_fn
        self.dropout = dropout

    def logits(self, features: dict[str, Tensor], units: int, training: bool) -> Tensor:
        with get_default_graph().name_scope("input_from_feature_columns"):
            net = fc.input_layer(features, self.columns)
        for i, width in enumerate(self.hidden_units):
            net = layers.dense(net, width, activation=self.activation_fn,
                               kernel_initializer=initializers.glorot_uniform_initializer(),
                               name=f"hiddenlayer_{i}")
            if self.dropout and training:
                net = layers.dropout(net, rate=self.dropout, training=True)
        return layers.dense(net, units, name="logits",
                            kernel_initializer=initializers.glorot_uniform_initializer())


class _CannedEstimator(Estimator):
    """An Estimator whose model is the sum of `towers`' logits under `head`."""

    def __init__(self, head: Head, towers: Sequence[_Tower], model_dir: str | None,
                 config: RunConfig | None) -> None:
        towers = [t for t in towers if t.columns]
        if not towers:
            raise ValueError("feature_columns must not be empty (a combined model needs "
                             "linear_feature_columns or dnn_feature_columns).")
        self._raw = fc.raw_features(c for t in towers for c in t.columns)
        self._head, self._towers = head, towers
        super().__init__(self._canned_model_fn, model_dir, config)

    def _canned_model_fn(self, features: dict[str, Tensor], labels: Tensor | None,
                         mode: str) -> EstimatorSpec:
        graph = get_default_graph()
        parts = []
        for tower in self._towers:
            with graph.name_scope(tower.scope):
                parts.append(tower.logits(features, self._head.logits_dimension,
                                          mode == ModeKeys.TRAIN))
        logits = parts[0] if len(parts) == 1 else add_n(parts, name="logits")
        return self._head.spec(mode, logits, labels, self._train_op)

    def _train_op(self, loss: Tensor) -> Operation:
        """Every tower's optimizer on its variables (one backward pass), then step += 1."""
        graph = loss.graph
        owned = [(t.optimizer(), graph.get_collection(GraphKeys.TRAINABLE_VARIABLES,
                                                      scope=f"{t.scope}/"))
                 for t in self._towers]
        variables = [v for _, vs in owned for v in vs]
        grads = dict(zip(variables, gradients(loss, variables), strict=True))
        updates = []
        for optimizer, tower_vars in owned:
            if not isinstance(optimizer, optimizers.Optimizer):
                raise ValueError(f"The optimizer callable must return an Optimizer, got "
                                 f"{optimizer!r}.")
            updates.append(optimizer.apply_gradients([(grads[v], v) for v in tower_vars]))
        with graph.control_dependencies(updates):
            return assign_add(get_global_step(graph), 1, name="train_op").op

    # -- hooks of Estimator --------------------------------------------------------------------
    def _encode_features(self, features: Any) -> dict[str, np.ndarray]:
        if not isinstance(features, dict):
            features = {"": features}
        return fc.encode(features, self._raw)

    def _encode_labels(self, labels: Any) -> np.ndarray | None:
        return None if labels is None else self._head.encode_labels(labels)

    def _model_features(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        return features

    def _add_predictions(self, values: Any) -> Any:
        if isinstance(self._head, ClassificationHead) and "class_ids" in values:
            values["classes"] = self._head.class_names(values["class_ids"])
        return values

    def _input_names(self) -> dict[str, str]:
        """Snapshot input name per feature key."""
        names = {key: key or "x" for key in self._raw}
        if len(set(names.values())) != len(names):
            raise ValueError("Features '' and 'x' would both be served as input 'x'; rename "
                             "one of them.")
        return names

    def _default_serving_input(self) -> ServingInputReceiver:
        names = self._input_names()
        features = {key: placeholder(raw.dtype, (None, *raw.shape),
                                     name=placeholder_name(names[key]))
                    for key, raw in self._raw.items()}
        return ServingInputReceiver(features, {names[k]: t for k, t in features.items()})

    def _export_metadata(self) -> dict[str, Any]:
        names = self._input_names()
        return {**self._head.metadata(),
                "feature_columns": [{"name": c.name, "type": type(c).__name__}
                                    for t in self._towers for c in t.columns],
                "inputs": [{"name": names[key], **raw.describe()}
                           for key, raw in self._raw.items()]}


# -- tf.estimator's classes -----------------------------------------------------------------------
class LinearClassifier(_CannedEstimator):
    def __init__(self, feature_columns: Iterable[fc.FeatureColumn], model_dir: str | None = None,
                 n_classes: int = 2, *, label_vocabulary: Sequence[str] | None = None,
                 optimizer: OptimizerArg = None, config: RunConfig | None = None,
                 loss_reduction: str = Reduction.SUM) -> None:
        super().__init__(ClassificationHead(n_classes, label_vocabulary, loss_reduction),
                         [_LinearTower(feature_columns, optimizer)], model_dir, config)


class LinearRegressor(_CannedEstimator):
    def __init__(self, feature_columns: Iterable[fc.FeatureColumn], model_dir: str | None = None,
                 *, label_dimension: int = 1, optimizer: OptimizerArg = None,
                 config: RunConfig | None = None, loss_reduction: str = Reduction.SUM,
                 label_mean: float = 0.0, label_scale: float = 1.0) -> None:
        super().__init__(RegressionHead(label_dimension, loss_reduction, label_mean=label_mean,
                                        label_scale=label_scale),
                         [_LinearTower(feature_columns, optimizer)], model_dir, config)


class DNNClassifier(_CannedEstimator):
    def __init__(self, hidden_units: Sequence[int], feature_columns: Iterable[fc.FeatureColumn],
                 model_dir: str | None = None, n_classes: int = 2, *,
                 label_vocabulary: Sequence[str] | None = None, optimizer: OptimizerArg = None,
                 activation_fn: Activation = relu, dropout: float | None = None,
                 config: RunConfig | None = None, loss_reduction: str = Reduction.SUM) -> None:
        super().__init__(ClassificationHead(n_classes, label_vocabulary, loss_reduction),
                         [_DNNTower(feature_columns, hidden_units, optimizer, activation_fn,
                                    dropout)], model_dir, config)


class DNNRegressor(_CannedEstimator):
    def __init__(self, hidden_units: Sequence[int], feature_columns: Iterable[fc.FeatureColumn],
                 model_dir: str | None = None, *, label_dimension: int = 1,
                 optimizer: OptimizerArg = None, activation_fn: Activation = relu,
                 dropout: float | None = None, config: RunConfig | None = None,
                 loss_reduction: str = Reduction.SUM, label_mean: float = 0.0,
                 label_scale: float = 1.0) -> None:
        super().__init__(RegressionHead(label_dimension, loss_reduction, label_mean=label_mean,
                                        label_scale=label_scale),
                         [_DNNTower(feature_columns, hidden_units, optimizer, activation_fn,
                                    dropout)], model_dir, config)


def _combined_towers(linear_feature_columns: Iterable[fc.FeatureColumn] | None,
                     linear_optimizer: OptimizerArg,
                     dnn_feature_columns: Iterable[fc.FeatureColumn] | None,
                     dnn_optimizer: OptimizerArg, dnn_hidden_units: Sequence[int] | None,
                     dnn_activation_fn: Activation, dnn_dropout: float | None) -> list[_Tower]:
    towers: list[_Tower] = [_LinearTower(linear_feature_columns or (), linear_optimizer)]
    if dnn_feature_columns:
        towers.append(_DNNTower(dnn_feature_columns, dnn_hidden_units, dnn_optimizer,
                                dnn_activation_fn, dnn_dropout))
    return towers


class DNNLinearCombinedClassifier(_CannedEstimator):
    def __init__(self, model_dir: str | None = None, *,
                 linear_feature_columns: Iterable[fc.FeatureColumn] | None = None,
                 linear_optimizer: OptimizerArg = None,
                 dnn_feature_columns: Iterable[fc.FeatureColumn] | None = None,
                 dnn_optimizer: OptimizerArg = None, dnn_hidden_units: Sequence[int] | None = None,
                 dnn_activation_fn: Activation = relu, dnn_dropout: float | None = None,
                 n_classes: int = 2, label_vocabulary: Sequence[str] | None = None,
                 config: RunConfig | None = None, loss_reduction: str = Reduction.SUM) -> None:
        super().__init__(ClassificationHead(n_classes, label_vocabulary, loss_reduction),
                         _combined_towers(linear_feature_columns, linear_optimizer,
                                          dnn_feature_columns, dnn_optimizer, dnn_hidden_units,
                                          dnn_activation_fn, dnn_dropout), model_dir, config)


class DNNLinearCombinedRegressor(_CannedEstimator):
    def __init__(self, model_dir: str | None = None, *,
                 linear_feature_columns: Iterable[fc.FeatureColumn] | None = None,
                 linear_optimizer: OptimizerArg = None,
                 dnn_feature_columns: Iterable[fc.FeatureColumn] | None = None,
                 dnn_optimizer: OptimizerArg = None, dnn_hidden_units: Sequence[int] | None = None,
                 dnn_activation_fn: Activation = relu, dnn_dropout: float | None = None,
                 label_dimension: int = 1, config: RunConfig | None = None,
                 loss_reduction: str = Reduction.SUM, label_mean: float = 0.0,
                 label_scale: float = 1.0) -> None:
        super().__init__(RegressionHead(label_dimension, loss_reduction, label_mean=label_mean,
                                        label_scale=label_scale),
                         _combined_towers(linear_feature_columns, linear_optimizer,
                                          dnn_feature_columns, dnn_optimizer, dnn_hidden_units,
                                          dnn_activation_fn, dnn_dropout), model_dir, config)
