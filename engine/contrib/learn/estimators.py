"""tf.contrib.learn's canned estimators: the tf.estimator ones (engine/estimator/canned.py)
with contrib.learn's methods. `fit`, `evaluate` and `predict*` take numpy `x`/`y` (an array,
feature key '', or a dict of arrays) or an input_fn; `batch_size` defaults to all of x. The
training loss is the batch mean (contrib.learn's), so 'loss' in evaluate is the mean loss.
`label_keys` names the classes (tf.estimator's label_vocabulary).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from engine import feature_column as fc
from engine.estimator import canned
from engine.estimator.inputs import numpy_input_fn
from engine.losses import Reduction

__all__ = [
    "DNNClassifier", "DNNLinearCombinedClassifier", "DNNLinearCombinedRegressor",
    "DNNRegressor", "LinearClassifier", "LinearRegressor",
    "infer_real_valued_columns_from_input",
]


def _input_fn(x: Any, y: Any, input_fn: Callable[[], Any] | None, batch_size: int | None,
              shuffle: bool, num_epochs: int | None) -> Callable[[], Any]:
    """input_fn as given, or one over x and y (contrib.learn's data feeder)."""
    if input_fn is not None:
        if x is not None or y is not None or batch_size is not None:
            raise ValueError("Can not provide both input_fn and x, y or batch_size.")
        return input_fn
    if x is None:
        raise ValueError("Either x or input_fn must be provided.")
    if callable(x):
        raise ValueError("x is a function: pass an input function as input_fn=.")
    n = len(next(iter(x.values()))) if isinstance(x, Mapping) else len(x)
    return numpy_input_fn(x, y, batch_size=batch_size or max(n, 1), num_epochs=num_epochs,
                          shuffle=shuffle)


class _Learn:
    """contrib.learn's methods, on a canned estimator later in the MRO."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, loss_reduction=Reduction.SUM_OVER_BATCH_SIZE, **kwargs)

    def fit(self, x: Any = None, y: Any = None, input_fn: Callable[[], Any] | None = None,
            steps: int | None = None, batch_size: int | None = None,
            max_steps: int | None = None) -> Any:
        """Train on shuffled batches of x/y (repeated) or input_fn's, resuming from the
        latest checkpoint."""
        if x is not None and steps is None and max_steps is None:
            raise ValueError("fit(x, y) repeats the data without end: pass steps or max_steps.")
        return self.train(_input_fn(x, y, input_fn, batch_size, True, None), steps=steps,
                          max_steps=max_steps)

    def evaluate(self, x: Any = None, y: Any = None, input_fn: Callable[[], Any] | None = None,
                 batch_size: int | None = None, steps: int | None = None,
                 name: str | None = None, checkpoint_path: str | None = None
                 ) -> dict[str, Any]:
        return super().evaluate(_input_fn(x, y, input_fn, batch_size, False, 1),
                                steps=steps, checkpoint_path=checkpoint_path, name=name)

    def export_savedmodel(self, export_dir_base: str,
                          serving_input_fn: Callable[[], Any] | None = None,
                          checkpoint_path: str | None = None, *,
                          metadata: Mapping[str, Any] | None = None) -> str:
        return super().export_savedmodel(
            export_dir_base, serving_input_fn, checkpoint_path, metadata=metadata)

    def _predicted(self, key: str, x: Any, input_fn: Callable[[], Any] | None,
                   batch_size: int | None, as_iterable: bool,
                   convert: Callable[[np.ndarray], Any]) -> Iterator[Any] | np.ndarray:
        """Prediction `key` per example (converted), as an iterator or one array."""
        source = _input_fn(x, None, input_fn, batch_size, False, 1)
        values = (convert(p[key]) for p in super().predict(
            source, predict_keys=[key]))
        return values if as_iterable else np.array(list(values))


class _LearnClassifier(_Learn):
    def __init__(self, *args: Any, label_keys: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, label_vocabulary=label_keys, **kwargs)

    def predict(self, x: Any = None, input_fn: Callable[[], Any] | None = None,
                batch_size: int | None = None, as_iterable: bool = True
                ) -> Iterator[Any] | np.ndarray:
        """The predicted class per example (its label key when label_keys are given)."""
        return self.predict_classes(x, input_fn, batch_size, as_iterable)

    def predict_classes(self, x: Any = None, input_fn: Callable[[], Any] | None = None,
                        batch_size: int | None = None, as_iterable: bool = True
                        ) -> Iterator[Any] | np.ndarray:
        names = self._head.vocabulary
        return self._predicted("class_ids", x, input_fn, batch_size, as_iterable,
                               lambda ids: int(ids[0]) if names is None else names[ids[0]])

    def predict_proba(self, x: Any = None, input_fn: Callable[[], Any] | None = None,
                      batch_size: int | None = None, as_iterable: bool = True
                      ) -> Iterator[Any] | np.ndarray:
        """Class probabilities per example."""
        return self._predicted("probabilities", x, input_fn, batch_size, as_iterable,
                               lambda p: p)


class _LearnRegressor(_Learn):
    def predict(self, x: Any = None, input_fn: Callable[[], Any] | None = None,
                batch_size: int | None = None, as_iterable: bool = True
                ) -> Iterator[Any] | np.ndarray:
        return self.predict_scores(x, input_fn, batch_size, as_iterable)

    def predict_scores(self, x: Any = None, input_fn: Callable[[], Any] | None = None,
                       batch_size: int | None = None, as_iterable: bool = True
                       ) -> Iterator[Any] | np.ndarray:
        """The prediction per example: a number, or an array for label_dimension > 1."""
        return self._predicted("predictions", x, input_fn, batch_size, as_iterable,
                               lambda p: p[0] if p.shape == (1,) else p)


class LinearClassifier(_LearnClassifier, canned.LinearClassifier):
    pass


class LinearRegressor(_LearnRegressor, canned.LinearRegressor):
    pass


class DNNClassifier(_LearnClassifier, canned.DNNClassifier):
    pass


class DNNRegressor(_LearnRegressor, canned.DNNRegressor):
    pass


class DNNLinearCombinedClassifier(_LearnClassifier, canned.DNNLinearCombinedClassifier):
    pass


class DNNLinearCombinedRegressor(_LearnRegressor, canned.DNNLinearCombinedRegressor):
    pass


def infer_real_valued_columns_from_input(x: Any) -> list[fc.NumericColumn]:
    """One real-valued column per feature of x: key '' for an array, else the dict's keys."""
    arrays = x if isinstance(x, Mapping) else {"": x}
    return [fc.numeric_column(key, shape=(math.prod(np.shape(value)[1:]),))
            for key, value in arrays.items()]
