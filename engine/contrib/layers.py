"""`tf.contrib.layers`: the older names of the feature columns (engine/feature_column.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine import dtypes as _dtypes
from engine import feature_column as fc
from engine.feature_column import bucketized_column, embedding_column
from engine.graph import Tensor

__all__ = ["bucketized_column", "embedding_column", "one_hot_column", "real_valued_column",
           "sparse_column_with_keys"]


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

