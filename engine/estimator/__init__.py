"""`tf.estimator`: Estimator (a model_fn run for you), the canned linear/DNN models, input
functions (`tf.estimator.inputs`), serving inputs (`tf.estimator.export`) and
`train_and_evaluate` with its specs and exporters (training.py).

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
from engine.estimator.training import (
    EvalSpec,
    Exporter,
    FinalExporter,
    LatestExporter,
    TrainSpec,
    train_and_evaluate,
)

__all__ = [
    "DNNClassifier", "DNNLinearCombinedClassifier", "DNNLinearCombinedRegressor",
    "DNNRegressor", "DatasetMetrics", "Estimator", "EstimatorSpec", "EvalSpec", "Exporter",
    "FinalExporter", "LatestExporter", "LinearClassifier", "LinearRegressor", "ModeKeys",
    "RunConfig", "TrainSpec", "export", "inputs", "train_and_evaluate",
]
