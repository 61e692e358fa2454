"""`tf.contrib.learn`: TF 1.x's first high-level API, on the tf.estimator implementation.

The canned estimators take numpy x/y or an input_fn (see estimators.py); `io.numpy_input_fn`
is tf.estimator.inputs.numpy_input_fn, and `datasets.base.load_csv_with_header` reads the
tutorials' CSV files.
"""

from engine.contrib.learn import datasets, io
from engine.contrib.learn.estimators import (
    DNNClassifier,
    DNNLinearCombinedClassifier,
    DNNLinearCombinedRegressor,
    DNNRegressor,
    LinearClassifier,
    LinearRegressor,
    infer_real_valued_columns_from_input,
)
from engine.estimator.estimator import RunConfig

__all__ = [
    "DNNClassifier", "DNNLinearCombinedClassifier", "DNNLinearCombinedRegressor",
    "DNNRegressor", "LinearClassifier", "LinearRegressor", "RunConfig", "datasets",
    "infer_real_valued_columns_from_input", "io",
]
