"""`python -m jobs.builtin.linear`: a LinearClassifier or LinearRegressor (engine.estimator) on
CSV or NPZ data from the object store, exported to `{job_dir}/model/`. See
jobs/builtin/common.py.

    python -m jobs.builtin.linear --train-files s3://b/train.csv --label-column price \\
        --model-type regression --job-dir s3://b/jobs/2
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from engine import feature_column as fc
from engine.estimator import Estimator, LinearClassifier, LinearRegressor
from engine.estimator.canned import LINEAR_LEARNING_RATE
from jobs.builtin.common import Trainer, main


def _build(args: argparse.Namespace, columns: list[fc.FeatureColumn], classification: bool,
           **kwargs: Any) -> Estimator:
    """Categorical columns get one weight per vocabulary entry."""
    model = LinearClassifier if classification else LinearRegressor
    return model(columns, **kwargs)


def _defaults(classification: bool, n_columns: int, optimizer: str | None) -> tuple[str, float]:
    """Classification: TF's Ftrl at min(0.2, 1 / sqrt(columns)). Regression: plain gradient
    descent, which reaches targets far from 0 in few steps where the adaptive optimizers
    creep (their steps do not grow with the error), at 0.5 / (columns + 1), below the
    divergence bound of least squares on standardized features (1 / (columns + 1))."""
    if optimizer is None:
        optimizer = "Ftrl" if classification else "SGD"
    if optimizer == "SGD":
        return optimizer, 0.5 / (n_columns + 1)
    return optimizer, min(LINEAR_LEARNING_RATE, 1 / math.sqrt(n_columns))


TRAINER = Trainer(name="linear", description="Train a linear classifier or regressor on CSV or "
                  "NPZ data and export a servable snapshot to {job-dir}/model/.",
                  defaults_help="default: Ftrl for classification, SGD for regression; the "
                                "learning rate defaults to min(0.2, 1/sqrt(columns)), for SGD "
                                "0.5/(columns+1)",
                  defaults=_defaults, add_arguments=lambda parser: None, build=_build)

if __name__ == "__main__":
    sys.exit(main(TRAINER))
