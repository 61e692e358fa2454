"""HyperparameterSpec parsing: CloudML's defaults, every validation rule with its message."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from jobs.tuning.spec import HyperparameterSpec, ParameterSpec, SpecError, parse_spec


def valid() -> dict[str, Any]:
    return {
        "goal": "MINIMIZE",
        "hyperparameterMetricTag": "loss",
        "maxTrials": 12,
        "maxParallelTrials": 3,
        "maxFailedTrials": 2,
        "enableTrialEarlyStopping": True,
        "algorithm": "RANDOM_SEARCH",
        "params": [
            {"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 1e-4,
             "maxValue": 1.0, "scaleType": "UNIT_LOG_SCALE"},
            {"parameterName": "hidden-units", "type": "INTEGER", "minValue": 8,
             "maxValue": 512, "scaleType": "UNIT_REVERSE_LOG_SCALE"},
            {"parameterName": "batch_size", "type": "DISCRETE",
             "discreteValues": [16, 32, 64.5]},
            {"parameterName": "optimizer", "type": "CATEGORICAL",
             "categoricalValues": ["adam", "sgd"]},
        ],
    }


def one_param(**fields: Any) -> dict[str, Any]:
    return {"params": [{"parameterName": "x", **fields}]}


def test_defaults_are_cloudml_s() -> None:
    spec = parse_spec(one_param(type="DOUBLE", minValue=0, maxValue=1))
    assert spec == HyperparameterSpec(params=(ParameterSpec("x", "DOUBLE", 0.0, 1.0),))
    assert spec.to_api() == {
        "goal": "MAXIMIZE", "hyperparameterMetricTag": "training/hptuning/metric",
        "maxTrials": 1, "maxParallelTrials": 1, "maxFailedTrials": 0,
        "enableTrialEarlyStopping": False, "algorithm": "ALGORITHM_UNSPECIFIED",
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}]}


def test_full_spec_round_trips() -> None:
    raw = valid()
    raw["resumePreviousJobId"] = "study_1"
    spec = parse_spec(raw)
    assert spec.goal == "MINIMIZE" and spec.metric_tag == "loss"
    assert (spec.max_trials, spec.max_parallel_trials, spec.max_failed_trials) == (12, 3, 2)
    assert spec.enable_early_stopping and spec.resume_previous_job_id == "study_1"
    assert spec.params[1] == ParameterSpec("hidden-units", "INTEGER", 8, 512,
                                           scale_type="UNIT_REVERSE_LOG_SCALE")
    assert spec.params[2].discrete_values == (16, 32, 64.5)
    assert spec.params[3].categorical_values == ("adam", "sgd")
    assert spec.to_api() == raw
    assert parse_spec(spec.to_api()) == spec


def test_proto3_json_forms_are_accepted() -> None:
    """Numeric strings count as numbers, null as unset, NONE / GOAL_TYPE_UNSPECIFIED as the
    defaults, whole floats as integers."""
    spec = parse_spec({"goal": "GOAL_TYPE_UNSPECIFIED", "maxTrials": "20", "maxFailedTrials": None,
                       "params": [{"parameterName": "n", "type": "INTEGER", "minValue": "1",
                                   "maxValue": 4.0, "scaleType": "NONE"},
                                  {"parameterName": "d", "type": "DISCRETE",
                                   "discreteValues": ["0.5", 2]}]})
    assert spec.goal == "MAXIMIZE" and spec.max_trials == 20 and spec.max_failed_trials == 0
    assert spec.params[0] == ParameterSpec("n", "INTEGER", 1, 4)
    assert isinstance(spec.params[0].max_value, int)
    assert spec.params[1].discrete_values == (0.5, 2)


def test_grid_search_takes_finite_types() -> None:
    raw = valid()
    raw["algorithm"] = "GRID_SEARCH"
    raw["params"] = raw["params"][1:]
    assert parse_spec(raw).algorithm == "GRID_SEARCH"


def set_field(path: str, value: Any) -> dict[str, Any]:
    """valid() with `path` ("maxTrials", "params.1.minValue") set, or deleted if value is DEL."""
    raw = copy.deepcopy(valid())
    *parents, last = path.split(".")
    target: Any = raw
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is DEL:
        del target[last]
    else:
        target[last] = value
    return raw


DEL = object()
P = "hyperparameters.params"

INVALID = [
    # the spec object and its top-level fields
    ({"maxTrials": 2}, "hyperparameters.params is required"),
    ({"params": []}, "hyperparameters.params is required"),
    ({"params": {"x": 1}}, "hyperparameters.params must be a list"),
    ({"params": "x"}, "hyperparameters.params must be a list"),
    (set_field("goal", "maximize"),
     "hyperparameters.goal must be one of MAXIMIZE, MINIMIZE, GOAL_TYPE_UNSPECIFIED "
     "(got 'maximize')"),
    (set_field("algorithm", "BAYESIAN"),
     "hyperparameters.algorithm must be one of ALGORITHM_UNSPECIFIED, GRID_SEARCH, "
     "RANDOM_SEARCH (got 'BAYESIAN')"),
    (set_field("hyperparameterMetricTag", ""),
     "hyperparameters.hyperparameterMetricTag must be a non-empty string"),
    (set_field("hyperparameterMetricTag", 3),
     "hyperparameters.hyperparameterMetricTag must be a non-empty string"),
    (set_field("maxTrials", 0), "hyperparameters.maxTrials must be at least 1 (got 0)"),
    (set_field("maxTrials", 2.5), "hyperparameters.maxTrials must be a whole number (got 2.5)"),
    (set_field("maxTrials", "ten"), "hyperparameters.maxTrials must be a number (got 'ten')"),
    (set_field("maxTrials", True), "hyperparameters.maxTrials must be a number (got True)"),
    (set_field("maxParallelTrials", 0),
     "hyperparameters.maxParallelTrials must be at least 1 (got 0)"),
    (set_field("maxFailedTrials", -1),
     "hyperparameters.maxFailedTrials must be at least 0 (got -1)"),
    (set_field("enableTrialEarlyStopping", "yes"),
     "hyperparameters.enableTrialEarlyStopping must be true or false (got 'yes')"),
    (set_field("resumePreviousJobId", "1st-job"),
     "hyperparameters.resumePreviousJobId must be a job ID"),
    (set_field("resumePreviousJobId", ""), "hyperparameters.resumePreviousJobId must be a job ID"),
    (set_field("maxtrials", 3),
     "hyperparameters has unknown field(s) 'maxtrials'; known fields are goal, "),
    # parameters: names and types
    ({"params": ["x"]}, f"{P}[0] must be an object (got str)"),
    (set_field("params.0.parameterName", DEL), f"{P}[0].parameterName is required"),
    (set_field("params.0.parameterName", "lr=1"), f"{P}[0].parameterName must start with"),
    (set_field("params.0.parameterName", "--lr"), f"{P}[0].parameterName must start with"),
    (set_field("params.2.parameterName", "learning_rate"),
     f"{P}[2].parameterName 'learning_rate' is already used by params[0]; names must be unique"),
    (set_field("params.0.type", DEL), f"{P}[0].type is required: one of DOUBLE, INTEGER, "),
    (set_field("params.0.type", "PARAMETER_TYPE_UNSPECIFIED"), f"{P}[0].type is required"),
    (set_field("params.0.type", "FLOAT"),
     f"{P}[0].type must be one of DOUBLE, INTEGER, CATEGORICAL, DISCRETE (got 'FLOAT')"),
    (set_field("params.3.categoricalvalues", ["a"]),
     f"{P}[3] has unknown field(s) 'categoricalvalues'"),
    (set_field("params.3.minValue", 0),
     f"{P}[3].minValue does not apply to CATEGORICAL parameters (they use categoricalValues)"),
    (set_field("params.0.discreteValues", [1, 2]),
     f"{P}[0].discreteValues does not apply to DOUBLE parameters (they use minValue and "
     f"maxValue)"),
    (set_field("params.2.minValue", 0), f"{P}[2].minValue does not apply to DISCRETE"),
    # scale types
    (set_field("params.0.scaleType", "LOG"),
     f"{P}[0].scaleType must be one of UNIT_LINEAR_SCALE, UNIT_LOG_SCALE, "
     f"UNIT_REVERSE_LOG_SCALE, NONE (got 'LOG')"),
    (set_field("params.3.scaleType", "UNIT_LINEAR_SCALE"),
     f"{P}[3].scaleType does not apply to CATEGORICAL parameters"),
    (set_field("params.0.minValue", 0),
     f"{P}[0].minValue must be positive for UNIT_LOG_SCALE (got 0.0)"),
    (set_field("params.1.minValue", -8),
     f"{P}[1].minValue must be positive for UNIT_REVERSE_LOG_SCALE (got -8)"),
    ({"params": [{"parameterName": "d", "type": "DISCRETE", "discreteValues": [0, 1],
                  "scaleType": "UNIT_LOG_SCALE"}]},
     f"{P}[0].discreteValues must all be positive for UNIT_LOG_SCALE (got 0)"),
    # DOUBLE / INTEGER bounds
    (set_field("params.0.maxValue", DEL), f"{P}[0].maxValue is required for DOUBLE parameters"),
    (set_field("params.1.minValue", DEL), f"{P}[1].minValue is required for INTEGER parameters"),
    (set_field("params.0.minValue", "small"), f"{P}[0].minValue must be a number (got 'small')"),
    (set_field("params.0.maxValue", float("inf")), f"{P}[0].maxValue must be finite (got inf)"),
    (set_field("params.0.maxValue", "NaN"), f"{P}[0].maxValue must be finite"),
    (set_field("params.0.minValue", 2.0),
     f"{P}[0].maxValue must be greater than minValue (got 1.0 <= 2.0)"),
    (set_field("params.1.maxValue", 8),
     f"{P}[1].maxValue must be greater than minValue (got 8 <= 8)"),
    (set_field("params.1.maxValue", 100.5),
     f"{P}[1].maxValue must be a whole number for INTEGER parameters (got 100.5)"),
    # CATEGORICAL / DISCRETE lists
    (set_field("params.3.categoricalValues", DEL),
     f"{P}[3].categoricalValues is required for CATEGORICAL parameters"),
    (set_field("params.3.categoricalValues", []), f"{P}[3].categoricalValues must list at least"),
    (set_field("params.3.categoricalValues", "adam"), f"{P}[3].categoricalValues must be a list"),
    (set_field("params.3.categoricalValues", ["adam", 1]),
     f"{P}[3].categoricalValues[1] must be a non-empty string (got 1)"),
    (set_field("params.3.categoricalValues", ["adam", "sgd", "adam"]),
     f"{P}[3].categoricalValues[2] 'adam' is listed twice"),
    (set_field("params.2.discreteValues", DEL),
     f"{P}[2].discreteValues is required for DISCRETE parameters"),
    (set_field("params.2.discreteValues", [1, "two"]),
     f"{P}[2].discreteValues[1] must be a number (got 'two')"),
    (set_field("params.2.discreteValues", [1, 4, 4]),
     f"{P}[2].discreteValues must be strictly increasing (got 4 then 4 at [2])"),
    (set_field("params.2.discreteValues", [8, 4]),
     f"{P}[2].discreteValues must be strictly increasing (got 8 then 4 at [1])"),
    # algorithm-specific
    (set_field("algorithm", "GRID_SEARCH"),
     f"{P}[0].type DOUBLE cannot be searched with GRID_SEARCH, which needs finitely many "
     f"values: use INTEGER, DISCRETE or CATEGORICAL"),
]


@pytest.mark.parametrize(("raw", "message"), INVALID,
                         ids=[m[:60] for _, m in INVALID])
def test_invalid_spec_names_the_field(raw: Any, message: str) -> None:
    with pytest.raises(SpecError, match="^" + re.escape(message)):
        parse_spec(raw)


def test_not_an_object() -> None:
    with pytest.raises(SpecError, match=r"^hyperparameters must be an object"):
        parse_spec(["params"])  # type: ignore[arg-type]


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(SpecError, ValueError)
