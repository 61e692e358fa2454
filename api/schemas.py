"""Request and response bodies, with Cloud ML Engine's camelCase field names.

Request models forbid unknown fields, so a typo is a 400 naming it rather than a setting
silently ignored. Name rules follow Cloud ML Engine, so its users' IDs keep working.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

JOB_STATES = ("QUEUED", "PREPARING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING",
              "CANCELLED")
VERSION_STATES = ("CREATING", "READY", "FAILED")
SCALE_TIERS = ("BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU", "CUSTOM")

# Cloud ML Engine: jobs, models and versions start with a letter; letters, digits, underscores.
RESOURCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
PROJECT_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
URI_SCHEMES = ("s3://", "file://")


def check_resource_id(kind: str, value: str) -> str:
    """`value` if it is a valid job/model/version ID, else ValueError saying the rule."""
    if not RESOURCE_ID.fullmatch(value):
        raise ValueError(f"{kind} {value[:200]!r} is invalid: it must start with a letter and "
                         f"contain only letters, digits and underscores (at most 128)")
    return value


def check_uri(field: str, value: str) -> str:
    if not value.startswith(URI_SCHEMES) or len(value) <= len("s3://"):
        raise ValueError(f"{field} {value[:200]!r} must be an s3:// or file:// URI")
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > 64:
        raise ValueError("at most 64 labels")
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            raise ValueError(f"label key {key[:100]!r} is invalid: it must start with a "
                             f"lowercase letter; lowercase letters, digits, '_' and '-' only "
                             f"(at most 63)")
        if not LABEL_VALUE.fullmatch(value):
            raise ValueError(f"label {key!r} value {value[:100]!r} is invalid: lowercase "
                             f"letters, digits, '_' and '-' only (at most 63)")
    return labels


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: int
    message: str
    status: str


class ErrorResponse(BaseModel):
    """Every 4xx (and the /readyz 503) has this shape."""

    error: ErrorDetail


# --- projects and tokens ---------------------------------------------------------------

class ProjectCreate(Request):
    name: str = Field(description="Lowercase letters, digits and '-', starting with a letter.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PROJECT_NAME.fullmatch(value):
            raise ValueError(f"project name {value[:100]!r} is invalid: lowercase letters, "
                             f"digits and '-', starting with a letter, at most 63")
        return value


class Project(BaseModel):
    name: str
    createTime: datetime


class ProjectList(BaseModel):
    projects: list[Project]


class TokenCreate(Request):
    description: str = Field("", max_length=200)


class TokenCreated(BaseModel):
    """The token itself is shown only in this answer; the server keeps its hash."""

    token: str
    project: str
    description: str
    createTime: datetime


# --- data ----------------------------------------------------------------------------

class UploadResult(BaseModel):
    uri: str
    size: int
    sha256: str


class DataObject(BaseModel):
    path: str
    uri: str
    size: int
    sha256: str
    createTime: datetime


class DataList(BaseModel):
    objects: list[DataObject]
    nextPageToken: str | None = None


# --- jobs ----------------------------------------------------------------------------

class TrainingInput(Request):
    """Cloud ML Engine's TrainingInput. kumo runs `python -m pythonModule args... --job-dir
    jobDir`; the machine-shape fields are accepted so existing configs work unchanged."""

    pythonModule: str = Field(description="Module run with `python -m`, e.g. jobs.builtin.dnn")
    packageUris: list[str] = Field(default_factory=list,
                                   description="tar.gz packages of user code (s3:// or file://)")
    args: list[str] = Field(default_factory=list)
    jobDir: str | None = Field(None, description="Output location; default "
                               "<store>/projects/<project>/jobs/<jobId>")
    scaleTier: Literal[SCALE_TIERS] = "BASIC"  # type: ignore[valid-type]
    region: str | None = None
    hyperparameters: dict[str, Any] | None = Field(
        None, description="Cloud ML Engine's HyperparameterSpec (goal, "
        "hyperparameterMetricTag, maxTrials, maxParallelTrials, maxFailedTrials, "
        "enableTrialEarlyStopping, resumePreviousJobId, algorithm, params[]): the job "
        "becomes a study, one trial per set of values, each run with "
        "`--<parameterName>=<value>` appended to args")
    masterType: str | None = None
    masterConfig: dict[str, Any] | None = None
    workerType: str | None = None
    workerConfig: dict[str, Any] | None = None
    workerCount: int | None = Field(None, ge=0)
    parameterServerType: str | None = None
    parameterServerConfig: dict[str, Any] | None = None
    parameterServerCount: int | None = Field(None, ge=0)
    evaluatorType: str | None = None
    evaluatorConfig: dict[str, Any] | None = None
    evaluatorCount: int | None = Field(None, ge=0)
    runtimeVersion: str | None = None
    pythonVersion: str | None = None
    scheduling: dict[str, Any] | None = None
    useChiefInTfConfig: bool | None = None
    serviceAccount: str | None = None
    network: str | None = None
    encryptionConfig: dict[str, Any] | None = None
    enableWebAccess: bool | None = None

    @field_validator("pythonModule")
    @classmethod
    def _module(cls, value: str) -> str:
        if not MODULE_NAME.fullmatch(value):
            raise ValueError(f"{value[:200]!r} is not a Python module name (like pkg.task)")
        return value

    @field_validator("packageUris")
    @classmethod
    def _packages(cls, value: list[str]) -> list[str]:
        return [check_uri("package URI", uri) for uri in value]

    @field_validator("jobDir")
    @classmethod
    def _job_dir(cls, value: str | None) -> str | None:
        return None if value is None else check_uri("jobDir", value.rstrip("/"))


class JobCreate(Request):
    jobId: str
    labels: dict[str, str] = Field(default_factory=dict)
    trainingInput: TrainingInput

    @field_validator("jobId")
    @classmethod
    def _job_id(cls, value: str) -> str:
        return check_resource_id("jobId", value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value)


class Job(BaseModel):
    """Cloud ML Engine's Job resource (plus jobDir, where the job writes its outputs)."""

    jobId: str
    labels: dict[str, str]
    trainingInput: dict[str, Any] = Field(description="As submitted, with jobDir filled in.")
    createTime: datetime
    startTime: datetime | None = None
    endTime: datetime | None = None
    state: Literal[JOB_STATES]  # type: ignore[valid-type]
    errorMessage: str = ""
    trainingOutput: dict[str, Any] = Field(default_factory=dict, description=(
        "Tuning jobs: completedTrialCount, isHyperparameterTuningJob, "
        "hyperparameterMetricTag and trials[] (best first), updated as trials end."))
    jobDir: str


class JobList(BaseModel):
    jobs: list[Job]
    nextPageToken: str | None = None


class LogEntry(BaseModel):
    time: datetime
    stream: str = Field(description="stdout, stderr or system (the runner's own notes)")
    text: str
    trialId: str | None = None


class LogList(BaseModel):
    entries: list[LogEntry]
    nextPageToken: str | None = None


class MetricPoint(BaseModel):
    step: int | None
    value: float
    wallTime: float
    trialId: str | None = None


class Metrics(BaseModel):
    metrics: dict[str, list[MetricPoint]] = Field(description="Each reported tag's series, "
                                                  "in step order.")


# --- models and versions -------------------------------------------------------------

class ModelCreate(Request):
    name: str
    description: str = Field("", max_length=10_000)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_resource_id("model name", value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value)


class VersionRef(BaseModel):
    name: str


class Model(BaseModel):
    name: str
    description: str
    labels: dict[str, str]
    defaultVersion: VersionRef | None = None
    createTime: datetime


class ModelList(BaseModel):
    models: list[Model]
    nextPageToken: str | None = None


class VersionCreate(Request):
    name: str
    deploymentUri: str = Field(description="Where the snapshot is: the job's "
                               "`{jobDir}/model`, any s3:// or file:// URI")
    description: str = Field("", max_length=10_000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_resource_id("version name", value)

    @field_validator("deploymentUri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return check_uri("deploymentUri", value.rstrip("/"))


class Version(BaseModel):
    name: str
    description: str
    deploymentUri: str
    state: Literal[VERSION_STATES]  # type: ignore[valid-type]
    errorMessage: str = ""
    isDefault: bool
    createTime: datetime
    signature: dict[str, Any] | None = Field(None, description="The snapshot's inputs and "
                                             "outputs: what to send, what comes back.")


class VersionList(BaseModel):
    versions: list[Version]
    nextPageToken: str | None = None


class PredictRequest(Request):
    instances: list[Any] = Field(min_length=1, description="One entry per instance: feature "
                                 "values in training column order, or an object keyed by "
                                 "column name.")


class PredictResponse(BaseModel):
    predictions: list[Any]
