"""`python -m jobs.builtin.dnn`: a DNNClassifier or DNNRegressor (engine.estimator) on CSV or
NPZ data from the object store, exported to `{job_dir}/model/`. See jobs/builtin/common.py.

    python -m jobs.builtin.dnn --train-files s3://b/train.csv --eval-files s3://b/eval.csv \\
        --label-column label --model-type classification --hidden-units 64,32 \\
        --job-dir s3://b/jobs/1
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine import feature_column as fc
from engine.estimator import DNNClassifier, DNNRegressor, Estimator
from engine.estimator.canned import DNN_LEARNING_RATE
from jobs.builtin.common import Trainer, fraction, main, positive_int


def _hidden_units(text: str) -> list[int]:
    """`64,32` (brackets and spaces allowed, as tuning may pass `[64, 32]`)."""
    parts = [p for p in text.strip().strip("[]").replace(" ", "").split(",") if p]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected layer sizes such as 64,32, got {text!r}")
    try:
        return [positive_int(p) for p in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected positive layer sizes such as 64,32, got "
                                         f"{text!r}") from None


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden-units", type=_hidden_units, default=[64, 32],
                        metavar="N[,N...]", help="hidden layer sizes, default 64,32")
    parser.add_argument("--dropout", type=fraction, default=None,
                        help="dropout rate of the hidden layers while training (default none)")


def _build(args: argparse.Namespace, columns: list[fc.FeatureColumn], classification: bool,
           **kwargs: Any) -> Estimator:
    """Categorical columns enter the network one-hot (indicator columns)."""
    dense = [fc.indicator_column(c) if isinstance(c, fc.CategoricalColumn) else c
             for c in columns]
    model = DNNClassifier if classification else DNNRegressor
    return model(args.hidden_units, dense, dropout=args.dropout or None, **kwargs)


def _defaults(classification: bool, n_columns: int, optimizer: str | None) -> tuple[str, float]:
    """TF's: Adagrad, and 0.05 whatever the optimizer."""
    return optimizer or "Adagrad", DNN_LEARNING_RATE


TRAINER = Trainer(name="dnn", description="Train a DNN classifier or regressor on CSV or NPZ "
                  "data and export a servable snapshot to {job-dir}/model/.",
                  defaults_help=f"default: Adagrad; the learning rate defaults to "
                                f"{DNN_LEARNING_RATE}",
                  defaults=_defaults, add_arguments=_add_arguments, build=_build)

if __name__ == "__main__":
    sys.exit(main(TRAINER))
