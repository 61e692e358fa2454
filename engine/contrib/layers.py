"""`tf.contrib.layers`: the older names of the feature columns (engine/feature_column.py) and
TF 1.x's weight regularizers, which `tf.get_variable(regularizer=...)` and
`tf.layers.dense(kernel_regularizer=...)` take; their losses land in
tf.GraphKeys.REGULARIZATION_LOSSES, which `tf.losses.get_regularization_loss()` sums."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engine import dtypes as _dtypes
from engine import feature_column as fc
from engine.feature_column import bucketized_column, embedding_column
from engine.graph import GraphKeys, Tensor, convert_to_tensor, get_default_graph, graph_of
from engine.ops import math_ops, nn_ops, reduction_ops
from engine.ops.array_ops import constant

__all__ = ["apply_regularization", "bucketized_column", "embedding_column", "l1_l2_regularizer",
           "l1_regularizer", "l2_regularizer", "one_hot_column", "real_valued_column",
           "sparse_column_with_keys", "sum_regularizer"]

Regularizer = Callable[[Any], Tensor | None]


def real_valued_column(column_name: str, dimension: int = 1, default_value: Any = None,
                       dtype: Any = _dtypes.float32,
                       normalizer: Callable[[Tensor], Tensor] | None = None
                       ) -> fc.NumericColumn:
    """`dimension` values per example; '' is the key fit(x=array) gives its array."""
    if dimension is None:
        raise ValueError("Variable-length real valued columns (dimension=None) are not "
                         "supported: give the number of values per example.")
    return fc.numeric_column(column_name, shape=(dimension,), default_value=default_value,
                             dtype=dtype, normalizer_fn=normalizer)


def sparse_column_with_keys(column_name: str, keys: Iterable[Any], default_value: int = -1,
                            combiner: str = "sum", dtype: Any = _dtypes.string
                            ) -> fc.VocabularyListCategoricalColumn:
    """Values mapped to their index in `keys`; combiner and dtype are accepted for TF's
    signature (one value per example, mapped on the host)."""
    return fc.categorical_column_with_vocabulary_list(column_name, keys,
                                                      default_value=default_value)


def one_hot_column(sparse_id_column: fc.CategoricalColumn) -> fc.IndicatorColumn:
    return fc.indicator_column(sparse_id_column)



# -- regularizers ---------------------------------------------------------------------------------
def _checked_scale(scale: Any, what: str = "scale") -> bool:
    """Whether `scale` regularizes at all (0 disables); ValueError for an int or a negative
    number, as in TF (an int scale is usually a typo for a float)."""
    if isinstance(scale, numbers.Integral):
        raise ValueError(f"{what} cannot be an integer: {scale}")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise ValueError(f"Setting a scale less than 0 on a regularizer: {scale:g}")
        if scale == 0.0:
            logging.getLogger("engine").info("Scale of 0 disables regularizer.")
            return False
    return True


def _no_penalty(weights: Any) -> None:
    """What a regularizer with scale 0 returns: no loss at all."""
    return None


def _scaled(scale: Any, scope: str | None, default: str,
            penalty: Callable[[Tensor], Tensor]) -> Regularizer:
    """weights -> scale * penalty(weights), in the name scope `scope` (or `default`)."""
    if not _checked_scale(scale):
        return _no_penalty

    def regularizer(weights: Any) -> Tensor:
        graph = graph_of([weights])
        with graph.as_default(), graph.name_scope(scope or default):
            w = convert_to_tensor(weights)
            return math_ops.multiply(convert_to_tensor(scale, w.dtype, name="scale"),
                                     penalty(w), name="value")

    return regularizer


def _l1(w: Tensor) -> Tensor:
    return reduction_ops.reduce_sum(math_ops.abs(w))


def l1_regularizer(scale: float, scope: str | None = None) -> Regularizer:
    """weights -> scale * sum(|weights|)."""
    return _scaled(scale, scope, "l1_regularizer", _l1)


def l2_regularizer(scale: float, scope: str | None = None) -> Regularizer:
    """weights -> scale * sum(weights ** 2) / 2 (tf.nn.l2_loss, hence the half)."""
    return _scaled(scale, scope, "l2_regularizer", nn_ops.l2_loss)


def l1_l2_regularizer(scale_l1: float = 1.0, scale_l2: float = 1.0,
                      scope: str | None = None) -> Regularizer:
    """The sum of l1_regularizer(scale_l1) and l2_regularizer(scale_l2)."""
    _checked_scale(scale_l1, "scale_l1")
    _checked_scale(scale_l2, "scale_l2")
    scope = scope or "l1_l2_regularizer"
    if scale_l1 == 0.0:
        return l2_regularizer(scale_l2, scope)
    if scale_l2 == 0.0:
        return l1_regularizer(scale_l1, scope)
    return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)], scope)


def sum_regularizer(regularizer_list: Sequence[Regularizer | None],
                    scope: str | None = None) -> Regularizer | None:
    """weights -> the sum of the regularizers' losses (None entries and None losses skipped);
    None when the list holds no regularizer."""
    active = [r for r in regularizer_list if r is not None]
    if not active:
        return None

    def regularizer(weights: Any) -> Tensor | None:
        graph = graph_of([weights])
        with graph.as_default(), graph.name_scope(scope or "sum_regularizer"):
            losses = [loss for loss in (r(weights) for r in active) if loss is not None]
            return math_ops.add_n(losses, name="value") if losses else None

    return regularizer


def apply_regularization(regularizer: Regularizer,
                         weights_list: Sequence[Any] | None = None) -> Tensor:
    """The sum of `regularizer` over `weights_list` (default: the 'weights' collection),
    also added to REGULARIZATION_LOSSES."""
    if not weights_list:
        weights_list = get_default_graph().get_collection(GraphKeys.WEIGHTS)
    if not weights_list:
        raise ValueError("No weights to regularize.")
    graph = graph_of(weights_list)
    with graph.as_default(), graph.name_scope("get_regularization_penalty"):
        penalties = [regularizer(w) for w in weights_list]
        penalties = [constant(0.0) if p is None else p for p in penalties]
        for p in penalties:
            rank = p.static_shape
            if rank is None or len(rank) != 0:
                raise ValueError(f"regularizer must return a scalar Tensor instead of a Tensor "
                                 f"with rank {'unknown' if rank is None else len(rank)}.")
        total = math_ops.add_n(penalties, name="total")
    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, total)
    return total
