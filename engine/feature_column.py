"""`tf.feature_column`: how raw input features become the dense tensors a model reads.

The engine has no string ops, so a column works in two stages:

- on the host, `encode(features, columns)` checks each raw feature's shape and turns it into
  the array the graph is fed: numeric values as float32 `[batch, *shape]`, categorical values
  as int64 ids `[batch, 1]` (vocabulary lookup; an unknown value is -1, or a hashed out-of-
  vocabulary bucket). `raw_features(columns)` describes those arrays (key, dtype, shape), so an
  estimator can make one placeholder per key and an exported snapshot one input per key.
- in the graph, `input_layer` (the DNN input: columns' dense tensors concatenated) and
  `linear_model` (one weight matrix per column) read the encoded tensors. Bucketing, one-hot
  and embedding lookups are graph ops, so they are part of an exported snapshot.

Categorical columns take one value per example (TF's multivalent sparse inputs are not
supported). Columns are processed sorted by name, as TF does.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import dtypes as _dtypes
from engine.graph import Tensor, convert_to_tensor, get_default_graph
from engine.ops.array_ops import concat, expand_dims, one_hot, reshape
from engine.ops.math_ops import add_n, cast, greater_equal, matmul
from engine.ops.random_ops import truncated_normal
from engine.ops.reduction_ops import reduce_sum
from engine.variables import Variable

__all__ = [
    "bucketized_column", "categorical_column_with_identity",
    "categorical_column_with_vocabulary_list", "embedding_column", "encode",
    "indicator_column", "input_layer", "linear_model", "numeric_column", "raw_features",
]

Initializer = Callable[..., Any]


@dataclass(frozen=True)
class RawFeature:
    """One encoded input array: what `encode` produces for `key` and the graph is fed."""

    key: str
    dtype: _dtypes.DType
    shape: tuple[int, ...]
    vocabulary: tuple[Any, ...] | None = None  # categorical: values mapped to ids on the host
    num_buckets: int | None = None  # categorical: ids are < num_buckets
    num_oov_buckets: int = 0
    default_value: int | None = -1

    def encode(self, value: Any) -> np.ndarray:
        """Check `value`'s shape and convert it ([batch] is accepted for one value each)."""
        array = np.asarray(value)
        width = math.prod(self.shape)
        what = "the input x" if self.key == "" else f"feature '{self.key}'"
        if array.ndim == 0 or math.prod(array.shape[1:]) != width or (
                array.ndim > 2 and array.shape[1:] != self.shape):
            raise ValueError(
                f"Wrong shape for {what}: expected [batch, {', '.join(map(str, self.shape))}] "
                f"(or [batch] for one value per example), got {list(array.shape)}.")
        array = array.reshape((len(array), *self.shape))
        if self.num_buckets is None:
            if array.dtype.kind not in "biuf":
                raise ValueError(f"{what} must be numeric, got values of dtype {array.dtype}.")
            return array.astype(self.dtype.np, copy=False)
        return self._ids(array)

    def _ids(self, array: np.ndarray) -> np.ndarray:
        """Categorical values -> ids, looking up each distinct value once."""
        uniques, inverse = np.unique(array, return_inverse=True)
        return np.array([self._id(v) for v in uniques.tolist()],
                        dtype=np.int64)[inverse].reshape(array.shape)

    def _id(self, value: Any) -> int:
        if isinstance(value, bytes):
            value = value.decode()
        if self.vocabulary is None:
            if not isinstance(value, int) or not 0 <= value < self.num_buckets:
                if self.default_value is None:
                    raise ValueError(f"Feature '{self.key}': id {value!r} is not in "
                                     f"[0, {self.num_buckets}).")
                return self.default_value
            return value
        index = self._index.get(value)
        if index is not None:
            return index
        if self.num_oov_buckets:  # crc32: stable across processes, unlike hash()
            return len(self.vocabulary) + zlib.crc32(str(value).encode()) % self.num_oov_buckets
        return -1 if self.default_value is None else self.default_value

    @functools.cached_property
    def _index(self) -> dict[Any, int]:
        return {v: i for i, v in enumerate(self.vocabulary or ())}

    def describe(self) -> dict[str, Any]:
        """JSON-safe description, for an exported snapshot's metadata."""
        out: dict[str, Any] = {"key": self.key, "dtype": self.dtype.name,
                               "shape": list(self.shape)}
        if self.vocabulary is not None:
            out["vocabulary"] = list(self.vocabulary)
            out["num_oov_buckets"] = self.num_oov_buckets
        if self.num_buckets is not None:
            out["num_buckets"] = self.num_buckets
        return out


class FeatureColumn:
    """Base of all columns; `name` orders the columns and names their variables."""

    name: str

    def raw(self) -> RawFeature:
        raise NotImplementedError

    def dense(self, features: Mapping[str, Any]) -> Tensor:
        """A float32 [batch, dimension] tensor: this column's part of `input_layer`."""
        raise ValueError(
            f"Items of feature_columns must be dense columns; {self.name!r} is categorical. "
            f"Wrap it in an embedding_column or indicator_column.")

    def linear_input(self, features: Mapping[str, Any]) -> Tensor:
        """What `linear_model` multiplies by this column's weights (its one-hot form when
        categorical)."""
        return self.dense(features)

    def _feature(self, features: Mapping[str, Any]) -> Tensor:
        raw = self.raw()
        if raw.key not in features:
            raise ValueError(f"Feature '{raw.key}' is not in features: "
                             f"{sorted(features)} (column {self.name!r}).")
        return convert_to_tensor(features[raw.key], dtype=raw.dtype)


class CategoricalColumn(FeatureColumn):
    """A column whose values are ids in [0, num_buckets); -1 means missing (all-zero)."""

    num_buckets: int

    def ids(self, features: Mapping[str, Any]) -> Tensor:
        """int64 [batch] ids."""
        return reshape(self._feature(features), [-1])

    def linear_input(self, features: Mapping[str, Any]) -> Tensor:
        return one_hot(self.ids(features), self.num_buckets)


@dataclass(frozen=True)
class NumericColumn(FeatureColumn):
    key: str
    shape: tuple[int, ...] = (1,)
    dtype: _dtypes.DType = _dtypes.float32
    normalizer_fn: Callable[[Tensor], Tensor] | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.key

    def raw(self) -> RawFeature:
        return RawFeature(self.key, self.dtype, self.shape)

    def dense(self, features: Mapping[str, Any]) -> Tensor:
        value = self._feature(features)
        if self.normalizer_fn is not None:
            value = self.normalizer_fn(value)
        return reshape(cast(value, _dtypes.float32), [-1, math.prod(self.shape)])


@dataclass(frozen=True)
class BucketizedColumn(CategoricalColumn):
    """Bucket i of `boundaries` holds boundaries[i-1] <= x < boundaries[i]; a multi-valued
    source gets (len(boundaries) + 1) buckets per value."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.source_column.name}_bucketized"

    @property
    def num_buckets(self) -> int:  # type: ignore[override]
        return (len(self.boundaries) + 1) * math.prod(self.source_column.shape)

    def raw(self) -> RawFeature:
        return self.source_column.raw()

    def _bucket_ids(self, features: Mapping[str, Any]) -> Tensor:
        """int64 [batch, values]: per value, the number of boundaries <= it (graph ops)."""
        values = self.source_column.dense(features)
        above = greater_equal(expand_dims(values, -1), np.asarray(self.boundaries, np.float32))
        return reduce_sum(cast(above, _dtypes.int64), axis=-1)

    def ids(self, features: Mapping[str, Any]) -> Tensor:
        """The bucket of the first value (for a one-valued source, the bucket id)."""
        if math.prod(self.source_column.shape) != 1:
            raise ValueError(f"{self.name!r} has several values per example; use it directly "
                             f"or in an indicator_column, not as a single id.")
        return reshape(self._bucket_ids(features), [-1])

    def dense(self, features: Mapping[str, Any]) -> Tensor:
        per_value = one_hot(self._bucket_ids(features), len(self.boundaries) + 1)
        return reshape(per_value, [-1, self.num_buckets])

    linear_input = dense


@dataclass(frozen=True)
class IdentityCategoricalColumn(CategoricalColumn):
    key: str
    num_buckets: int  # type: ignore[misc]
    default_value: int | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.key

    def raw(self) -> RawFeature:
        return RawFeature(self.key, _dtypes.int64, (1,), num_buckets=self.num_buckets,
                          default_value=self.default_value)


@dataclass(frozen=True)
class VocabularyListCategoricalColumn(CategoricalColumn):
    key: str
    vocabulary_list: tuple[Any, ...]
    default_value: int = -1
    num_oov_buckets: int = 0

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.key

    @property
    def num_buckets(self) -> int:  # type: ignore[override]
        return len(self.vocabulary_list) + self.num_oov_buckets

    def raw(self) -> RawFeature:
        return RawFeature(self.key, _dtypes.int64, (1,), vocabulary=self.vocabulary_list,
                          num_buckets=self.num_buckets, num_oov_buckets=self.num_oov_buckets,
                          default_value=self.default_value)


@dataclass(frozen=True)
class IndicatorColumn(FeatureColumn):
    """A categorical column as a multi-hot dense vector."""

    categorical_column: CategoricalColumn

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.categorical_column.name}_indicator"

    def raw(self) -> RawFeature:
        return self.categorical_column.raw()

    def dense(self, features: Mapping[str, Any]) -> Tensor:
        return self.categorical_column.linear_input(features)


@dataclass(frozen=True)
class EmbeddingColumn(FeatureColumn):
    """A categorical column looked up in a trainable [num_buckets, dimension] table (a one-hot
    matmul, so a missing id gives zeros and the op set stays servable)."""

    categorical_column: CategoricalColumn
    dimension: int
    combiner: str = "mean"
    initializer: Initializer | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.categorical_column.name}_embedding"

    def raw(self) -> RawFeature:
        return self.categorical_column.raw()

    def dense(self, features: Mapping[str, Any]) -> Tensor:
        shape = [self.categorical_column.num_buckets, self.dimension]
        if self.initializer is None:  # TF's default: truncated normal, stddev 1/sqrt(dim)
            initial = truncated_normal(shape, stddev=1.0 / math.sqrt(self.dimension))
        else:
            initial = self.initializer(shape, dtype=_dtypes.float32)
        with get_default_graph().name_scope(scope_name(self.name)):
            table = Variable(initial, name="embedding_weights")
        return matmul(one_hot(self.categorical_column.ids(features), shape[0]), table)


# -- constructors (TF's names and arguments) ------------------------------------------------------
def numeric_column(key: str, shape: int | Sequence[int] = (1,), default_value: Any = None,
                   dtype: Any = _dtypes.float32,
                   normalizer_fn: Callable[[Tensor], Tensor] | None = None) -> NumericColumn:
    """Real values of a fixed `shape` per example. default_value is accepted for TF's
    signature; inputs here are dense arrays, so nothing is ever missing."""
    shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"shape dimensions must be positive integers, got {shape} for "
                         f"column {key!r}.")
    dt = _dtypes.as_dtype(dtype)
    if not dt.is_numeric:
        raise ValueError(f"dtype must be convertible to float, got {dt.name} for column {key!r}.")
    return NumericColumn(key, shape, dt, normalizer_fn)


def bucketized_column(source_column: NumericColumn,
                      boundaries: Sequence[float]) -> BucketizedColumn:
    if not isinstance(source_column, NumericColumn):
        raise ValueError(f"source_column must be a numeric column, got {source_column!r}.")
    bounds = tuple(float(b) for b in boundaries)
    if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"boundaries must be a sorted, non-empty list of distinct numbers, "
                         f"got {list(boundaries)}.")
    return BucketizedColumn(source_column, bounds)


def categorical_column_with_identity(key: str, num_buckets: int,
                                     default_value: int | None = None
                                     ) -> IdentityCategoricalColumn:
    """Integer ids used as they are; out-of-range ids become default_value (or fail)."""
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets} for column {key!r}.")
    if default_value is not None and not 0 <= default_value < num_buckets:
        raise ValueError(f"default_value {default_value} not in range [0, {num_buckets}).")
    return IdentityCategoricalColumn(key, int(num_buckets), default_value)


def categorical_column_with_vocabulary_list(
        key: str, vocabulary_list: Iterable[Any], dtype: Any = None, default_value: int = -1,
        num_oov_buckets: int = 0) -> VocabularyListCategoricalColumn:
    """Values mapped to their index in `vocabulary_list` (strings or ints); others to
    default_value (-1: all-zero), or hashed into `num_oov_buckets` extra buckets."""
    vocabulary = tuple(v.decode() if isinstance(v, bytes) else v for v in vocabulary_list)
    if not vocabulary:
        raise ValueError(f"vocabulary_list for column {key!r} is empty.")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"Duplicate keys in vocabulary_list {list(vocabulary)}.")
    if num_oov_buckets < 0:
        raise ValueError(f"Invalid num_oov_buckets {num_oov_buckets}.")
    if num_oov_buckets and default_value != -1:
        raise ValueError("Can't specify both num_oov_buckets and default_value.")
    if not -1 <= default_value < len(vocabulary):
        raise ValueError(f"default_value {default_value} not in range [-1, {len(vocabulary)}).")
    return VocabularyListCategoricalColumn(key, vocabulary, default_value, num_oov_buckets)


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    _check_categorical(categorical_column)
    return IndicatorColumn(categorical_column)


def embedding_column(categorical_column: CategoricalColumn, dimension: int,
                     combiner: str = "mean", initializer: Initializer | None = None,
                     ) -> EmbeddingColumn:
    """Each id becomes a learned `dimension`-vector. With one id per example every combiner
    ('mean', 'sqrtn', 'sum') gives that id's vector."""
    _check_categorical(categorical_column)
    if dimension < 1:
        raise ValueError(f"Invalid dimension {dimension}.")
    if combiner not in ("mean", "sqrtn", "sum"):
        raise ValueError(f"combiner must be 'mean', 'sqrtn' or 'sum', got {combiner!r}.")
    return EmbeddingColumn(categorical_column, int(dimension), combiner, initializer)


def scope_name(name: str) -> str:
    """A valid name scope for a column's variables (the key '' is called 'x', as when
    served)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip("_-.") or "x"


def _check_categorical(column: Any) -> None:
    if not isinstance(column, CategoricalColumn):
        raise ValueError(f"Expected a categorical column, got {column!r}.")


# -- using columns ---------------------------------------------------------------------------------
def _sorted(feature_columns: Iterable[FeatureColumn]) -> list[FeatureColumn]:
    columns = list(feature_columns)
    if not columns:
        raise ValueError("feature_columns must not be empty.")
    for column in columns:
        if not isinstance(column, FeatureColumn):
            raise ValueError(f"Items of feature_columns must be feature columns, got "
                             f"{column!r}.")
    return sorted(columns, key=lambda c: c.name)


def raw_features(feature_columns: Iterable[FeatureColumn]) -> dict[str, RawFeature]:
    """The encoded inputs the columns read, by key; two columns may share a key only if they
    read it the same way (e.g. 'age' and bucketized 'age')."""
    out: dict[str, RawFeature] = {}
    for column in _sorted(feature_columns):
        raw = column.raw()
        if out.setdefault(raw.key, raw) != raw:
            raise ValueError(f"Feature '{raw.key}' is read in two different ways: "
                             f"{out[raw.key]} and {raw}.")
    return out


def encode(features: Mapping[str, Any], feature_columns: Iterable[FeatureColumn] |
           Mapping[str, RawFeature]) -> dict[str, np.ndarray]:
    """Host-side parsing: the raw numpy features -> the arrays the columns' graph ops read."""
    raws = (feature_columns if isinstance(feature_columns, Mapping)
            else raw_features(feature_columns))
    missing = sorted(set(raws) - set(features))
    if missing:
        shown = ["x" if k == "" else k for k in missing]
        raise ValueError(f"Features {shown} are missing: got only {sorted(features)}.")
    encoded = {key: raw.encode(features[key]) for key, raw in raws.items()}
    sizes = {len(v) for v in encoded.values()}
    if len(sizes) > 1:
        raise ValueError(f"All features must have the same batch size, got "
                         f"{ {k: len(v) for k, v in encoded.items()} }.")
    return encoded


def input_layer(features: Mapping[str, Any],
                feature_columns: Iterable[FeatureColumn]) -> Tensor:
    """The dense columns' tensors concatenated: float32 [batch, total dimension]."""
    with get_default_graph().name_scope("input_layer"):
        return concat([c.dense(features) for c in _sorted(feature_columns)], axis=1)


def linear_model(features: Mapping[str, Any], feature_columns: Iterable[FeatureColumn],
                 units: int = 1) -> Tensor:
    """sum over columns of input @ weights, plus bias: [batch, units]. Weights and bias start
    at zero ('linear_model/<column>/weights', 'linear_model/bias_weights')."""
    graph = get_default_graph()
    parts = []
    with graph.name_scope("linear_model"):
        for column in _sorted(feature_columns):
            with graph.name_scope(scope_name(column.name)):
                value = column.linear_input(features)
                weights = Variable(np.zeros((value.static_shape[1], units), np.float32),
                                   name="weights")
                parts.append(matmul(value, weights))
        bias = Variable(np.zeros((units,), np.float32), name="bias_weights")
        return add_n(parts) + bias
