"""`tf.keras.utils`: one-hot targets and the seed that makes models repeatable."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from engine.keras import backend

__all__ = ["set_random_seed", "to_categorical"]


def set_random_seed(seed: int) -> None:
    """Seed Python's `random`, numpy's global generator (which `fit` shuffles and splits
    with) and the graph seed of every model created from now on, so its initial weights and
    dropout masks repeat; functional models start a fresh Keras session for that (see
    backend.py). Without this, a model takes the default graph's seed (`tf.set_random_seed`),
    and is random if that has none."""
    random.seed(seed)
    np.random.seed(seed)
    backend.set_seed(seed)


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """Class indices -> one-hot rows: shape (*y.shape, num_classes); a trailing axis of size
    1 is dropped first, as Keras does."""
    y = np.asarray(y, dtype=int)
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.ravel()
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: class indices must be in [0, {num_classes}), got "
                         f"values from {y.min()} to {y.max()}.")
    categorical = np.zeros((y.size, num_classes), dtype=dtype)
    categorical[np.arange(y.size), y] = 1
    return categorical.reshape((*shape, num_classes))
