"""Training jobs: create (QUEUED, for a runner to claim; a HyperparameterSpec is validated and
stored with its defaults filled in), describe, list with Cloud ML Engine's filters, cancel,
and read the logs and metrics the runner collects (per trial with trialId)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import schemas
from api.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from api.services.common import as_utc, paginate, utc
from jobs.study import is_study
from jobs.tuning.spec import SpecError, parse_spec
from storage import models
from storage.config import Settings
from storage.db import Database

ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
FOLLOW_POLL_SECONDS = 0.5
_FILTER_TERM = re.compile(r'\s*([A-Za-z][\w.-]*)\s*=\s*("([^"]*)"|[^\s"]+)\s*')


def _resource(row: models.Job) -> schemas.Job:
    return schemas.Job(
        jobId=row.job_id, labels=row.labels or {}, trainingInput=row.training_input,
        createTime=utc(row.create_time), startTime=as_utc(row.start_time),
        endTime=as_utc(row.end_time), state=row.state, errorMessage=row.error_message or "",
        trainingOutput=row.training_output or {}, jobDir=row.job_dir)


def default_job_dir(settings: Settings, project: str, job_id: str) -> str:
    return f"{settings.resolved_store_url}/projects/{project}/jobs/{job_id}"


def _tuning_spec(session: Session, project: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A submitted HyperparameterSpec, validated, with CloudML's defaults filled in; a 400
    naming the field otherwise. A resumed job must be a tuning job of the same project."""
    try:
        spec = parse_spec(raw)
    except SpecError as exc:
        raise InvalidArgument(f"trainingInput.{exc}") from None
    resumed = spec.resume_previous_job_id
    if resumed is not None:
        previous = session.scalar(select(models.Job).where(models.Job.project == project,
                                                           models.Job.job_id == resumed))
        where = "trainingInput.hyperparameters.resumePreviousJobId"
        if previous is None:
            raise InvalidArgument(f"{where}: job {resumed!r} not found in project {project!r}")
        if not is_study(previous.training_input or {}):
            raise InvalidArgument(f"{where}: job {resumed!r} is not a hyperparameter tuning "
                                  f"job, so there is no study to resume")
    return spec.to_api()


def create_job(session: Session, settings: Settings, project: str,
               request: schemas.JobCreate) -> schemas.Job:
    training_input = request.trainingInput.model_dump(exclude_none=True)
    if request.trainingInput.hyperparameters is not None:
        training_input["hyperparameters"] = _tuning_spec(
            session, project, request.trainingInput.hyperparameters)
    job_dir = request.trainingInput.jobDir or default_job_dir(settings, project, request.jobId)
    training_input["jobDir"] = job_dir
    row = models.Job(project=project, job_id=request.jobId, labels=request.labels,
                     training_input=training_input, job_dir=job_dir, state="QUEUED")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"job {request.jobId!r} already exists in project "
                            f"{project!r}") from None
    return _resource(row)


def _job_row(session: Session, project: str, job_id: str) -> models.Job:
    row = session.scalar(select(models.Job).where(models.Job.project == project,
                                                  models.Job.job_id == job_id))
    if row is None:
        raise NotFound(f"job {job_id[:200]!r} not found in project {project!r}")
    return row


def _job_pk(session: Session, project: str, job_id: str, trial_id: str | None) -> int:
    """The job's primary key, for reading its logs or metrics; naming a trial the job does not
    have is a 404 too, not an empty answer that reads as "nothing reported yet"."""
    pk = _job_row(session, project, job_id).id
    if trial_id and session.scalar(select(models.Trial.id).where(
            models.Trial.job_pk == pk, models.Trial.trial_id == trial_id)) is None:
        raise NotFound(f"job {job_id!r} has no trial {trial_id[:40]!r}")
    return pk


def get_job(session: Session, project: str, job_id: str) -> schemas.Job:
    return _resource(_job_row(session, project, job_id))


def parse_filter(text: str) -> list[tuple[str, str]]:
    """Cloud ML Engine's list filter: `key=value` terms joined by AND, where key is
    `state`, `jobId` or `labels.<key>` and a value may be double-quoted."""
    terms: list[tuple[str, str]] = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _FILTER_TERM.fullmatch(part)
        if match is None:
            raise InvalidArgument(f"filter term {part[:100]!r} is not key=value (supported: "
                                  f"state=RUNNING, jobId=my_job, labels.team=ml, joined by "
                                  f"AND)")
        key, value = match.group(1), match.group(3) if match.group(3) is not None \
            else match.group(2)
        if key == "state" and value not in schemas.JOB_STATES:
            raise InvalidArgument(f"filter: unknown state {value!r}; states are "
                                  f"{', '.join(schemas.JOB_STATES)}")
        if key not in ("state", "jobId") and not (key.startswith("labels.") and len(key) > 7):
            raise InvalidArgument(f"filter: unknown field {key!r}; use state, jobId or "
                                  f"labels.<key>")
        terms.append((key, value))
    return terms


def list_jobs(session: Session, project: str, filter_text: str, page_size: int,
              page_token: str | None) -> schemas.JobList:
    """Newest first, like `gcloud ml-engine jobs list`."""
    stmt = select(models.Job).where(models.Job.project == project)
    for key, value in parse_filter(filter_text) if filter_text.strip() else []:
        if key == "state":
            stmt = stmt.where(models.Job.state == value)
        elif key == "jobId":
            stmt = stmt.where(models.Job.job_id == value)
        else:
            stmt = stmt.where(models.Job.labels[key.removeprefix("labels.")].as_string() == value)
    rows, token = paginate(session, stmt, models.Job.id, page_size, page_token,
                           newest_first=True)
    return schemas.JobList(jobs=[_resource(r) for r in rows], nextPageToken=token)


def cancel_job(session: Session, project: str, job_id: str) -> schemas.Job:
    """QUEUED jobs end at once; PREPARING and RUNNING ones go to CANCELLING and their runner
    stops the process and ends them. Each change is conditional on the state just read, so a
    runner claiming the job at the same moment is never overwritten."""
    while True:
        row = _job_row(session, project, job_id)
        state = row.state
        if state in ENDED:
            raise FailedPrecondition(f"job {job_id!r} has already ended ({state}); only "
                                     f"queued or running jobs can be cancelled")
        if state == "CANCELLING":
            return _resource(row)
        values: dict[str, Any] = {"state": "CANCELLING"}
        if state == "QUEUED":
            values = {"state": "CANCELLED", "end_time": models.utcnow(),
                      "error_message": "Job cancelled by the user before it started."}
        changed = session.execute(
            update(models.Job).where(models.Job.id == row.id, models.Job.state == state)
            .values(**values).execution_options(synchronize_session=False)).rowcount
        session.expire(row)
        if changed:
            return _resource(row)


def _log_entries(session: Session, job_pk: int, after: int, limit: int,
                 trial_id: str | None) -> list[models.LogLine]:
    stmt = select(models.LogLine).where(models.LogLine.job_pk == job_pk,
                                        models.LogLine.id > after)
    if trial_id:
        stmt = stmt.where(models.LogLine.trial_id == trial_id)
    return list(session.scalars(stmt.order_by(models.LogLine.id).limit(limit)))


def _entry(row: models.LogLine) -> schemas.LogEntry:
    return schemas.LogEntry(time=utc(row.time), stream=row.stream, text=row.text,
                            trialId=row.trial_id)


def list_logs(session: Session, project: str, job_id: str, page_size: int,
              page_token: str | None, trial_id: str | None) -> schemas.LogList:
    stmt = select(models.LogLine).where(
        models.LogLine.job_pk == _job_pk(session, project, job_id, trial_id))
    if trial_id:
        stmt = stmt.where(models.LogLine.trial_id == trial_id)
    rows, token = paginate(session, stmt, models.LogLine.id, page_size, page_token)
    return schemas.LogList(entries=[_entry(r) for r in rows], nextPageToken=token)


async def follow_logs(db: Database, project: str, job_id: str, trial_id: str | None,
                      poll_seconds: float = FOLLOW_POLL_SECONDS) -> AsyncIterator[bytes]:
    """The job's log entries as NDJSON lines, from the first, until the job has ended and
    every line is sent. Raises NotFound before yielding anything for an unknown job."""

    def job_pk() -> int:
        with db.session() as session:
            return _job_pk(session, project, job_id, trial_id)

    def batch(pk: int, after: int) -> tuple[str, list[bytes], int]:
        # The state is read before the lines: a job seen ended has written all its lines.
        with db.session() as session:
            state = session.scalars(select(models.Job.state).where(models.Job.id == pk)).one()
            rows = _log_entries(session, pk, after, 1000, trial_id)
            lines = [orjson.dumps(_entry(r).model_dump(mode="json")) + b"\n" for r in rows]
            return state, lines, rows[-1].id if rows else after

    pk = await anyio.to_thread.run_sync(job_pk)

    async def stream() -> AsyncIterator[bytes]:
        after = 0
        while True:
            state, lines, after = await anyio.to_thread.run_sync(batch, pk, after)
            if lines:
                yield b"".join(lines)
            if len(lines) < 1000:
                if state in ENDED:
                    return
                await anyio.sleep(poll_seconds)

    return stream()


def get_metrics(session: Session, project: str, job_id: str,
                trial_id: str | None) -> schemas.Metrics:
    stmt = select(models.Metric).where(
        models.Metric.job_pk == _job_pk(session, project, job_id, trial_id))
    if trial_id:
        stmt = stmt.where(models.Metric.trial_id == trial_id)
    series: dict[str, list[schemas.MetricPoint]] = defaultdict(list)
    order = (models.Metric.tag, models.Metric.step.asc().nulls_first(), models.Metric.id)
    for row in session.scalars(stmt.order_by(*order)):
        series[row.tag].append(schemas.MetricPoint(step=row.step, value=row.value,
                                                   wallTime=row.wall_time,
                                                   trialId=row.trial_id))
    return schemas.Metrics(metrics=dict(series))
