"""CloudML's `HyperparameterSpec`: parsing and validation into frozen dataclasses.

Field names and enums are exactly Cloud ML Engine v1's, so existing `hptuning_config.yaml`
files work unchanged. Every rule is checked here, once, so that the API can answer a clear 400
and the searchers can trust what they get. Numbers follow proto3's JSON mapping: a numeric
string is as good as a number (`"10"` for maxTrials), booleans are never numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GOALS = ("MAXIMIZE", "MINIMIZE")
ALGORITHMS = ("ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH")
PARAM_TYPES = ("DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE")
SCALE_TYPES = ("UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
DEFAULT_METRIC_TAG = "training/hptuning/metric"

_SPEC_FIELDS = ("goal", "hyperparameterMetricTag", "maxTrials", "maxParallelTrials",
                "maxFailedTrials", "enableTrialEarlyStopping", "resumePreviousJobId",
                "algorithm", "params")
_PARAM_FIELDS = ("parameterName", "type", "minValue", "maxValue", "categoricalValues",
                 "discreteValues", "scaleType")
# Which value fields each type uses; any other one present is a mistake worth a 400.
_TYPE_FIELDS = {"DOUBLE": ("minValue", "maxValue"), "INTEGER": ("minValue", "maxValue"),
                "CATEGORICAL": ("categoricalValues",), "DISCRETE": ("discreteValues",)}
# A parameter becomes `--name=value` on the trial's command line: keep names flag-shaped.
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
_JOB_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")

Number = int | float


class SpecError(ValueError):
    """A spec that breaks a rule; the message names the field (`hyperparameters.params[1]...`)."""


@dataclass(frozen=True)
class ParameterSpec:
    """One tuned parameter. Only the fields of its type are set: min/max for DOUBLE and
    INTEGER (ints for INTEGER), categorical_values for CATEGORICAL, discrete_values (strictly
    increasing) for DISCRETE. scale_type None means unset (CloudML's NONE), searched linearly."""

    name: str
    type: str
    min_value: Number | None = None
    max_value: Number | None = None
    categorical_values: tuple[str, ...] | None = None
    discrete_values: tuple[Number, ...] | None = None
    scale_type: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"parameterName": self.name, "type": self.type}
        if self.min_value is not None:
            out["minValue"] = self.min_value
            out["maxValue"] = self.max_value
        if self.categorical_values is not None:
            out["categoricalValues"] = list(self.categorical_values)
        if self.discrete_values is not None:
            out["discreteValues"] = list(self.discrete_values)
        if self.scale_type is not None:
            out["scaleType"] = self.scale_type
        return out


@dataclass(frozen=True)
class HyperparameterSpec:
    """A validated study definition with CloudML's defaults filled in. max_failed_trials 0
    means "platform's choice", as in CloudML; resume_previous_job_id None means a fresh study."""

    goal: str = "MAXIMIZE"
    metric_tag: str = DEFAULT_METRIC_TAG
    max_trials: int = 1
    max_parallel_trials: int = 1
    max_failed_trials: int = 0
    enable_early_stopping: bool = False
    resume_previous_job_id: str | None = None
    algorithm: str = "ALGORITHM_UNSPECIFIED"
    params: tuple[ParameterSpec, ...] = ()

    def to_api(self) -> dict[str, Any]:
        """The camelCase form, defaults filled, as the job resource shows it."""
        out: dict[str, Any] = {
            "goal": self.goal,
            "hyperparameterMetricTag": self.metric_tag,
            "maxTrials": self.max_trials,
            "maxParallelTrials": self.max_parallel_trials,
            "maxFailedTrials": self.max_failed_trials,
            "enableTrialEarlyStopping": self.enable_early_stopping,
            "algorithm": self.algorithm,
            "params": [p.to_api() for p in self.params],
        }
        if self.resume_previous_job_id is not None:
            out["resumePreviousJobId"] = self.resume_previous_job_id
        return out


def parse_spec(raw: Mapping[str, Any]) -> HyperparameterSpec:
    """Validate `trainingInput.hyperparameters` as a user sent it; SpecError on the first
    broken rule, naming the field."""
    where = "hyperparameters"
    raw = _object(raw, where, _SPEC_FIELDS)
    goal = _enum(raw, "goal", where, (*GOALS, "GOAL_TYPE_UNSPECIFIED"), "MAXIMIZE")
    if goal == "GOAL_TYPE_UNSPECIFIED":
        goal = "MAXIMIZE"
    algorithm = _enum(raw, "algorithm", where, ALGORITHMS, "ALGORITHM_UNSPECIFIED")
    metric_tag = raw.get("hyperparameterMetricTag", DEFAULT_METRIC_TAG)
    if not isinstance(metric_tag, str) or not metric_tag.strip():
        raise SpecError(f"{where}.hyperparameterMetricTag must be a non-empty string "
                        f"(got {metric_tag!r})")
    max_trials = _count(raw, "maxTrials", where, default=1, minimum=1)
    max_parallel = _count(raw, "maxParallelTrials", where, default=1, minimum=1)
    max_failed = _count(raw, "maxFailedTrials", where, default=0, minimum=0)
    early = raw.get("enableTrialEarlyStopping", False)
    if not isinstance(early, bool):
        raise SpecError(f"{where}.enableTrialEarlyStopping must be true or false (got {early!r})")
    resume = raw.get("resumePreviousJobId")
    if resume is not None and (not isinstance(resume, str) or not _JOB_ID.fullmatch(resume)):
        raise SpecError(f"{where}.resumePreviousJobId must be a job ID: a letter, then letters, "
                        f"digits and underscores, at most 128 (got {resume!r})")
    params = _params(raw.get("params"), f"{where}.params", algorithm)
    return HyperparameterSpec(goal=goal, metric_tag=metric_tag, max_trials=max_trials,
                              max_parallel_trials=max_parallel, max_failed_trials=max_failed,
                              enable_early_stopping=early, resume_previous_job_id=resume,
                              algorithm=algorithm, params=params)


def _params(raw: Any, where: str, algorithm: str) -> tuple[ParameterSpec, ...]:
    if raw is None or (isinstance(raw, list | tuple) and not raw):
        raise SpecError(f"{where} is required: list at least one parameter to tune")
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise SpecError(f"{where} must be a list of parameters (got {type(raw).__name__})")
    seen: dict[str, int] = {}
    params = []
    for i, item in enumerate(raw):
        param = _param(item, f"{where}[{i}]", algorithm)
        if param.name in seen:
            raise SpecError(f"{where}[{i}].parameterName {param.name!r} is already used by "
                            f"params[{seen[param.name]}]; names must be unique")
        seen[param.name] = i
        params.append(param)
    return tuple(params)


def _param(raw: Any, where: str, algorithm: str) -> ParameterSpec:
    raw = _object(raw, where, _PARAM_FIELDS)
    name = raw.get("parameterName")
    if name is None:
        raise SpecError(f"{where}.parameterName is required")
    if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
        raise SpecError(f"{where}.parameterName must start with a letter or underscore and "
                        f"contain only letters, digits, '_', '-' and '.', at most 128 "
                        f"(got {name!r})")
    if "type" not in raw or raw["type"] == "PARAMETER_TYPE_UNSPECIFIED":
        raise SpecError(f"{where}.type is required: one of {', '.join(PARAM_TYPES)}")
    kind = _enum(raw, "type", where, PARAM_TYPES, None)
    for field in ("minValue", "maxValue", "categoricalValues", "discreteValues"):
        if field in raw and field not in _TYPE_FIELDS[kind]:
            raise SpecError(f"{where}.{field} does not apply to {kind} parameters "
                            f"(they use {' and '.join(_TYPE_FIELDS[kind])})")
    scale = _enum(raw, "scaleType", where, (*SCALE_TYPES, "NONE"), "NONE")
    scale_type = None if scale == "NONE" else scale
    if scale_type is not None and kind == "CATEGORICAL":
        raise SpecError(f"{where}.scaleType does not apply to CATEGORICAL parameters "
                        f"(leave it unset)")
    if kind == "DOUBLE" and algorithm == "GRID_SEARCH":
        raise SpecError(f"{where}.type DOUBLE cannot be searched with GRID_SEARCH, which needs "
                        f"finitely many values: use INTEGER, DISCRETE or CATEGORICAL")
    if kind in ("DOUBLE", "INTEGER"):
        low, high = _bounds(raw, where, integral=kind == "INTEGER")
        if scale_type in LOG_SCALES and low <= 0:
            raise SpecError(f"{where}.minValue must be positive for {scale_type} "
                            f"(got {low})")
        return ParameterSpec(name, kind, min_value=low, max_value=high, scale_type=scale_type)
    if kind == "CATEGORICAL":
        return ParameterSpec(name, kind, categorical_values=_categories(raw, where))
    values = _discrete(raw, where)
    if scale_type in LOG_SCALES and values[0] <= 0:
        raise SpecError(f"{where}.discreteValues must all be positive for {scale_type} "
                        f"(got {values[0]})")
    return ParameterSpec(name, kind, discrete_values=values, scale_type=scale_type)


def _bounds(raw: Mapping[str, Any], where: str, integral: bool) -> tuple[Number, Number]:
    bounds = []
    for field in ("minValue", "maxValue"):
        if field not in raw:
            raise SpecError(f"{where}.{field} is required for {raw['type']} parameters")
        value = _number(raw[field], f"{where}.{field}")
        if integral:
            if value != int(value):
                raise SpecError(f"{where}.{field} must be a whole number for INTEGER "
                                f"parameters (got {value})")
            value = int(value)
        bounds.append(value if integral else float(value))
    low, high = bounds
    if high <= low:
        raise SpecError(f"{where}.maxValue must be greater than minValue (got {high} <= {low})")
    return low, high


def _categories(raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    values = _list(raw, "categoricalValues", where)
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise SpecError(f"{where}.categoricalValues[{i}] must be a non-empty string "
                            f"(got {value!r})")
        if value in values[:i]:
            raise SpecError(f"{where}.categoricalValues[{i}] {value!r} is listed twice")
    return tuple(values)


def _discrete(raw: Mapping[str, Any], where: str) -> tuple[Number, ...]:
    values = [_number(v, f"{where}.discreteValues[{i}]")
              for i, v in enumerate(_list(raw, "discreteValues", where))]
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise SpecError(f"{where}.discreteValues must be strictly increasing "
                            f"(got {values[i - 1]} then {values[i]} at [{i}])")
    return tuple(values)


def _list(raw: Mapping[str, Any], field: str, where: str) -> list[Any]:
    values = raw.get(field)
    if values is None:
        raise SpecError(f"{where}.{field} is required for {raw['type']} parameters")
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise SpecError(f"{where}.{field} must be a list (got {type(values).__name__})")
    if not values:
        raise SpecError(f"{where}.{field} must list at least one value")
    return list(values)


def _object(raw: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    """`raw` as a dict without null fields (proto3 JSON: null means unset), unknown fields
    refused by name."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be an object (got {type(raw).__name__})")
    unknown = [str(key) for key in raw if key not in known]
    if unknown:
        raise SpecError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
                        f"known fields are {', '.join(known)}")
    return {key: value for key, value in raw.items() if value is not None}


def _enum(raw: Mapping[str, Any], field: str, where: str, allowed: tuple[str, ...],
          default: str | None) -> str:
    value = raw.get(field, default)
    if value not in allowed:
        raise SpecError(f"{where}.{field} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _number(value: Any, where: str) -> Number:
    """A finite int or float; numeric strings accepted as proto3 JSON does."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise SpecError(f"{where} must be a number (got {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise SpecError(f"{where} must be finite (got {value!r})")
    return value


def _count(raw: Mapping[str, Any], field: str, where: str, default: int, minimum: int) -> int:
    if field not in raw:
        return default
    value = _number(raw[field], f"{where}.{field}")
    if value != int(value):
        raise SpecError(f"{where}.{field} must be a whole number (got {value})")
    if value < minimum:
        raise SpecError(f"{where}.{field} must be at least {minimum} (got {int(value)})")
    return int(value)
