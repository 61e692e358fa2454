"""A drop-in for the `cloudml-hypertune` package: how a trial reports its tuning metric.

    from jobs.hypertune import HyperTune
    HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="accuracy", metric_value=0.93, global_step=1000)

Each report is one JSON line appended to $CLOUD_ML_HP_METRIC_FILE, in the library's format
(`{"accuracy": 0.93, "global_step": 1000, "timestamp": ..., "trial": "3",
"checkpoint_path": ""}`), which the runner collects while the trial runs (jobs.collect). The
study takes the last value reported under the spec's hyperparameterMetricTag (also in
$CLOUD_ML_HP_METRIC_TAG) as the trial's result. Unlike the library, which rewrites its file
with its last 100 reports on every call, this appends: nothing is ever dropped.

Imports nothing of kumo, so user code can depend on it alone.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

DEFAULT_METRIC_FILE = "/tmp/hypertune/output.metrics"
"""Where reports go outside a kumo trial (the library's default)."""


class HyperTune:
    """Appends metric reports to the trial's metrics file."""

    def __init__(self) -> None:
        self.metric_path = Path(os.environ.get("CLOUD_ML_HP_METRIC_FILE")
                                or DEFAULT_METRIC_FILE)
        self.trial_id = os.environ.get("CLOUD_ML_TRIAL_ID", "0")

    def report_hyperparameter_tuning_metric(self, hyperparameter_metric_tag: str,
                                            metric_value: float,
                                            global_step: int | None = None,
                                            checkpoint_path: str = "") -> None:
        """Record `metric_value` for `hyperparameter_metric_tag` at `global_step`; ValueError
        for a value that is not a finite number (the runner would ignore it)."""
        if not isinstance(hyperparameter_metric_tag, str) or not hyperparameter_metric_tag:
            raise ValueError("hyperparameter_metric_tag must be a non-empty string")
        value = float(metric_value)
        if not math.isfinite(value):
            raise ValueError(f"metric_value {metric_value!r} is not a finite number")
        record: dict[str, object] = {hyperparameter_metric_tag: value,
                                     "timestamp": time.time(), "trial": self.trial_id,
                                     "checkpoint_path": checkpoint_path}
        if global_step is not None:
            record["global_step"] = int(global_step)
        self.metric_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.metric_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
