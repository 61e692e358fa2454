"""`tf.estimator`: Estimator (a model_fn run for you), the canned linear/DNN models, input
functions (`tf.estimator.inputs`) and serving inputs (`tf.estimator.export`).

See engine/estimator/estimator.py for how training resumes and reports metrics, inputs.py for
the input_fn protocol and canned.py for the canned models and what they export.
"""

from engine.estimator import export, inputs
from engine.estimator.canned import (
    DNNClassifier,
    DNNLinearCombinedClassifier,
    DNNLinearCombinedRegressor,
    DNNRegressor,
    LinearClassifier,
    LinearRegressor,
)
from engine.estimator.estimator import (
    DatasetMetrics,
    Estimator,
    EstimatorSpec,
    ModeKeys,
    RunConfig,
)

__all__ = [
    "DNNClassifier", "DNNLinearCombinedClassifier", "DNNLinearCombinedRegressor",
    "DNNRegressor", "DatasetMetrics", "Estimator", "EstimatorSpec", "LinearClassifier",
    "LinearRegressor", "ModeKeys", "RunConfig", "export", "inputs",
]
