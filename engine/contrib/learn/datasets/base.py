"""`tf.contrib.learn.datasets.base`: CSV files of numeric features and a target column."""

from __future__ import annotations

import csv
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Dataset", "Datasets", "load_csv_with_header", "load_csv_without_header"]


class Dataset(NamedTuple):
    data: np.ndarray
    target: np.ndarray


class Datasets(NamedTuple):
    train: Dataset
    validation: Dataset | None
    test: Dataset


def load_csv_with_header(filename: str, target_dtype: Any, features_dtype: Any,
                         target_column: int = -1) -> Dataset:
    """TF's tutorial format: a header row 'n_samples,n_features[,names...]', then one row per
    sample holding the features and, at `target_column`, the target."""
    with open(filename, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        try:
            n_samples, n_features = int(header[0]), int(header[1])  # type: ignore[index]
        except (TypeError, IndexError, ValueError):
            raise ValueError(f"{filename}: the header must start with the number of samples "
                             f"and the number of features, got {header}.") from None
        data, target = _parse(rows, filename, target_dtype, features_dtype, target_column)
    if data.shape != (n_samples, n_features):
        raise ValueError(f"{filename}: the header promises {n_samples} samples of {n_features} "
                         f"features, the file holds {data.shape[0]} of {data.shape[1]}.")
    return Dataset(data, target)


def load_csv_without_header(filename: str, target_dtype: Any, features_dtype: Any,
                            target_column: int = -1) -> Dataset:
    with open(filename, newline="", encoding="utf-8") as f:
        return Dataset(*_parse(csv.reader(f), filename, target_dtype, features_dtype,
                               target_column))


def _parse(rows: Any, filename: str, target_dtype: Any, features_dtype: Any,
           target_column: int) -> tuple[np.ndarray, np.ndarray]:
    features, target = [], []
    for row in rows:
        if not row:
            continue
        row = list(row)
        try:
            target.append(row.pop(target_column))
        except IndexError:
            raise ValueError(f"{filename}: row {row} has no column {target_column}.") from None
        features.append(row)
    if len({len(r) for r in features}) > 1:
        raise ValueError(f"{filename}: rows have different numbers of columns.")
    width = len(features[0]) if features else 0
    data = np.array(features, dtype=features_dtype).reshape(len(features), width)
    return data, np.array(target, dtype=target_dtype)
