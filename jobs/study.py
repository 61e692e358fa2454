"""A hyperparameter tuning job: a study of trials, run in the job's runner thread.

A job whose trainingInput has `hyperparameters` (a CloudML HyperparameterSpec, see
jobs.tuning.spec) runs as trials instead of one process. Each trial is one `ProcessSpec` on the
runner's executor: the job's module and args plus `--<parameterName>=<value>` per tuned
parameter, `--job-dir {jobDir}/{trialId}`, and the env vars CLOUD_ML_TRIAL_ID and
CLOUD_ML_HP_METRIC_TAG (its metrics file, $CLOUD_ML_HP_METRIC_FILE = $KUMO_METRICS_FILE, is its
own). Its logs and metrics rows carry its trial id. Trial ids are "1", "2", ..., continuing
after the trials of a resumed job (resumePreviousJobId).

Trial states (a `Trial` row each, written as they change):

    QUEUED --process started--> RUNNING --exit 0 and a metric reported--> SUCCEEDED
    RUNNING --exit 0 without a value of the metric tag, or a non-zero exit--> FAILED
    RUNNING --early stopping--> SUCCEEDED with isTrialStoppedEarly (its last value counts)
    QUEUED | RUNNING --job cancelled, or the study failed--> CANCELLED
    QUEUED | RUNNING --runner shut down or died--> QUEUED: the job's next attempt reruns it
                                                  (same id and values; its metrics restart)

The study keeps up to maxParallelTrials trials running and asks the searcher for new values
until maxTrials trials of this job exist (a resumed job's trials inform the searcher and set
the numbering, but do not count). The final metric of a trial is the last value it reported
under hyperparameterMetricTag; a failed trial is shown to the searcher as a NaN observation, so
grid and random search move past its values and the Bayesian model ignores it.

Failure policy: the job FAILS once maxFailedTrials trials have failed; with maxFailedTrials 0
(CloudML: "the service decides") once more than half of maxTrials have failed, i.e.
maxTrials // 2 + 1, the point from which most of the study can no longer succeed. Running
trials are then cancelled. A study that ends without any successful trial also FAILS.

Early stopping (enableTrialEarlyStopping): the median stopping rule. A running trial whose
latest value, at step s, is worse than the median of the completed trials' values at s (each
completed trial's last value at a step <= s; trials without one are left out) is stopped, once
at least MIN_TRIALS_FOR_STOPPING completed trials give a value. Reports without a step count as
steps 1, 2, ... in their order.

trainingOutput (CloudML's, int64 fields as strings as in its JSON): completedTrialCount,
isHyperparameterTuningJob, hyperparameterMetricTag, and trials[] best first (succeeded trials
by objective value for the goal, then the others by id), rewritten whenever a trial changes so
the job resource shows progress.
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import statistics
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from jobs.collect import log_row
from jobs.executor import Execution, Executor, Outcome, ProcessSpec
from jobs.queue import (
    ACTIVE_STATES,
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    ClaimedJob,
    as_utc,
)
from jobs.tuning.search import Observation, Searcher, make_searcher
from jobs.tuning.spec import HyperparameterSpec, SpecError, parse_spec
from storage.db import Database
from storage.models import Job, Metric, Trial, utcnow

log = logging.getLogger("kumo.runner")

POLL_INTERVAL = 0.2
"""Seconds between looks at the running trials (new metrics, cancel) when none has ended."""
MIN_TRIALS_FOR_STOPPING = 3
"""Completed trials with a value at a step needed before the median there can stop a trial."""
STOPPED_EARLY = "stopped_early"
STUDY_FAILED = "study_failed"
RUNNER_ERROR = "error"
"""Cancel reasons of trial executions the study itself stops (see jobs.executor.STOP_REASONS)."""

Point = tuple[int, float]  # (step, value) of the metric tag


class JobControl(Protocol):
    """What the runner gives the study of its job: the cancel reason once the job must stop
    ("cancelled", "lost", "shutdown"), `attach`, which registers an execution to be
    cancelled with the job, and `cancel`, with which the study stops the job itself when it
    finds it cancelled or taken away before the runner's heartbeat does."""

    cancel_reason: str | None

    def attach(self, execution: Execution) -> Execution: ...

    def cancel(self, reason: str) -> None: ...


@dataclass
class TrialRun:
    """One trial of this job, as the study tracks it (mirrors its `Trial` row)."""

    pk: int
    trial_id: str
    params: dict[str, Any]
    state: str = QUEUED
    start_time: datetime | None = None
    end_time: datetime | None = None
    final_metric: Point | None = None
    stopped_early: bool = False
    error_message: str = ""
    execution: Execution | None = None
    points: list[Point] = field(default_factory=list)
    last_metric_id: int = 0
    judged: tuple[Point, int] | None = None
    """The latest point early stopping looked at, and how many completed trials it saw."""

    @property
    def number(self) -> int:
        return int(self.trial_id)


def study_seed(project: str, job_id: str) -> int:
    """The searcher's seed: fixed per job, so a rerun proposes the same values."""
    return int.from_bytes(hashlib.sha256(f"{project}/{job_id}".encode()).digest()[:8], "big")


def format_value(value: Any) -> str:
    """A parameter value as its flag (and CloudML's trial output) shows it: whole numbers
    without a decimal point (`--batch_size=32` parses as an int or a float), others in
    Python's shortest round-trip form."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def failure_limit(spec: HyperparameterSpec) -> int:
    """How many failed trials fail the job (see module doc)."""
    return spec.max_failed_trials or spec.max_trials // 2 + 1


def value_at(points: list[Point], step: int) -> float | None:
    """The last value reported at the latest step <= `step`, None if there is none."""
    best: Point | None = None
    for point in points:
        if point[0] <= step and (best is None or point[0] >= best[0]):
            best = point
    return None if best is None else best[1]


def median_to_beat(goal: str, latest: Point, completed: list[list[Point]]) -> float | None:
    """The median that `latest` (step, value) of a running trial falls short of, or None if it
    does not (or too few completed trials have a value by that step): the median stopping
    rule."""
    step, value = latest
    values = [v for v in (value_at(points, step) for points in completed) if v is not None]
    if len(values) < MIN_TRIALS_FOR_STOPPING:
        return None
    median = statistics.median(values)
    worse = value < median if goal == "MAXIMIZE" else value > median
    return median if worse else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _with_ordinals(rows: list[tuple[int | None, float]], start: int = 0) -> list[Point]:
    """Points in report order; a report without a step gets its position (1, 2, ...)."""
    return [(step if step is not None else start + i + 1, value)
            for i, (step, value) in enumerate(rows)]


class Study:
    """Runs the trials of one claimed tuning job to the job's outcome (see module doc)."""

    def __init__(self, job: ClaimedJob, spec: HyperparameterSpec, base: ProcessSpec,
                 db: Database, executor: Executor, runner_id: str, control: JobControl,
                 on_first_start: Callable[[], bool]) -> None:
        self.job = job
        self.spec = spec
        self.base = base
        self.db = db
        self.executor = executor
        self.runner_id = runner_id
        self.control = control
        self.searcher: Searcher = make_searcher(spec, study_seed(job.project, job.job_id))
        self.trials: dict[str, TrialRun] = {}
        self.previous: list[Observation] = []
        self.previous_points: list[list[Point]] = []
        self.first_number = 1
        self._on_first_start = on_first_start
        self._started: bool | None = None
        self._lock = threading.Lock()
        self._dirty = True

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> Outcome:
        error = self._load()
        if error:
            return Outcome(FAILED, error)
        failure: str | None = None
        try:
            while self.control.cancel_reason is None:
                self._reap()
                failure = self._failure()
                if failure:
                    break
                if self.spec.enable_early_stopping:
                    self._stop_early()
                self._launch()
                running = self._running()
                if not running:
                    break
                self._publish()
                wait([t.execution.future for t in running if t.execution],
                     timeout=POLL_INTERVAL, return_when=FIRST_COMPLETED)
        except BaseException:
            self._stop_all(RUNNER_ERROR)
            self._record_after_error()
            raise
        if failure:
            self._stop_all(STUDY_FAILED)
        else:
            self._stop_all(None)  # wait: cancelled ones are being stopped by the runner
        reason = self.control.cancel_reason
        self._reap()
        self._publish()
        if reason is not None:
            return Outcome(CANCELLED, cancel_reason=reason)
        if failure:
            return Outcome(FAILED, failure)
        return self._result()

    def _record_after_error(self) -> None:
        """Record how the trials stopped by the runner's own failure ended, if the database
        lets us: the failure itself (which `run` re-raises) matters more than this."""
        try:
            self._reap()
            self._publish()
        except Exception:
            log.exception("could not record the trials of a study the runner failed",
                          extra={"job_id": self.job.job_id})

    def _running(self) -> list[TrialRun]:
        return [t for t in self.trials.values() if t.execution is not None]

    def _stop_all(self, reason: str | None) -> None:
        """Stop (unless `reason` is None) and wait for every running trial."""
        running = self._running()
        if reason is not None:
            for trial in running:
                assert trial.execution is not None
                trial.execution.cancel(reason)
        wait([t.execution.future for t in running if t.execution])

    def _result(self) -> Outcome:
        succeeded = [t for t in self.trials.values() if t.state == SUCCEEDED]
        failed = [t for t in self.trials.values() if t.state == FAILED]
        if not succeeded:
            why = f" The last failure (trial {failed[-1].trial_id}): " \
                  f"{failed[-1].error_message}" if failed else ""
            return Outcome(FAILED, f"No trial of the study succeeded ({len(failed)} failed)."
                                   f"{why}")
        best = self._ordered()[0]
        assert best.final_metric is not None
        self._note(f"Study finished: {len(succeeded)} trial(s) succeeded, {len(failed)} "
                   f"failed; the best is trial {best.trial_id} with "
                   f"{self.spec.metric_tag} {best.final_metric[1]:.6g}.")
        return Outcome(SUCCEEDED)

    def _failure(self) -> str | None:
        failed = sorted((t for t in self.trials.values() if t.state == FAILED),
                        key=lambda t: t.number)
        limit = failure_limit(self.spec)
        if len(failed) < limit:
            return None
        rule = f"reaching maxFailedTrials ({limit})" if self.spec.max_failed_trials else \
            f"more than half of maxTrials ({self.spec.max_trials}), the limit when " \
            f"maxFailedTrials is 0"
        last = failed[-1]
        return (f"{len(failed)} trials failed, {rule}; the study stopped. The last failure "
                f"(trial {last.trial_id}): {last.error_message}")

    # -- starting trials --------------------------------------------------------------------
    def _launch(self) -> None:
        free = self.spec.max_parallel_trials - len(self._running())
        if free <= 0:
            return
        for trial in sorted(self.trials.values(), key=lambda t: t.number):
            if free and trial.state == QUEUED and trial.execution is None:  # reruns first
                self._submit(trial)
                free -= 1
        n = min(free, self.spec.max_trials - len(self.trials))
        if n <= 0:
            return
        pending = [t.params for t in self.trials.values() if t.state in (QUEUED, RUNNING)]
        for params in self.searcher.suggest(self._observations(), pending, n):
            trial = self._create(params)
            if trial is None:  # the job is no longer this runner's
                return
            self._submit(trial)

    def _observations(self) -> list[Observation]:
        own = [Observation(dict(t.params), t.final_metric[1] if t.final_metric else math.nan)
               for t in self.trials.values() if t.state in (SUCCEEDED, FAILED)]
        return self.previous + own

    def _create(self, params: dict[str, Any]) -> TrialRun | None:
        number = max((t.number for t in self.trials.values()), default=self.first_number - 1)
        trial_id = str(number + 1)
        with self._owned() as session:
            if session is None:
                return None
            row = Trial(job_pk=self.job.pk, trial_id=trial_id, state=QUEUED,
                        hyperparameters=params)
            session.add(row)
            session.flush()
            trial = TrialRun(row.id, trial_id, params)
        self.trials[trial_id] = trial
        self._dirty = True
        return trial

    def _submit(self, trial: TrialRun) -> None:
        args = tuple(f"--{name}={format_value(value)}" for name, value in trial.params.items())
        spec = replace(self.base, args=self.base.args + args, trial_id=trial.trial_id,
                       job_dir=f"{self.base.job_dir}/{trial.trial_id}",
                       env={"CLOUD_ML_HP_METRIC_TAG": self.spec.metric_tag})
        trial.execution = self.control.attach(
            self.executor.submit(spec, lambda: self._trial_started(trial)))

    def _trial_started(self, trial: TrialRun) -> bool:
        """on_start of a trial's process (an executor thread): the first one moves the job to
        RUNNING; each marks its trial RUNNING. False stops the process."""
        with self._lock:
            if self._started is None:
                self._started = self._on_first_start()
                if not self._started:  # cancelled (or taken away) before it started: a
                    self.control.cancel("cancelled")  # plain job's outcome, no more trials
            if not self._started:
                return False
        now = utcnow()
        with self._owned() as session:
            if session is None:
                return False
            session.execute(update(Trial).where(Trial.id == trial.pk)
                            .values(state=RUNNING, start_time=now, end_time=None))
        with self._lock:
            trial.state, trial.start_time, self._dirty = RUNNING, now, True
        return True

    # -- trials that ended ------------------------------------------------------------------
    def _reap(self) -> None:
        for trial in self._running():
            assert trial.execution is not None
            if trial.execution.future.done():
                self._finish(trial, trial.execution)

    def _finish(self, trial: TrialRun, execution: Execution) -> None:
        trial.execution = None
        try:
            outcome = execution.result()
        except Exception as exc:  # the runner's own failure on this trial
            log.exception("trial failed in the runner", extra={"job_id": self.job.job_id,
                                                               "trial": trial.trial_id})
            outcome = Outcome(FAILED, f"Internal error in the job runner: {exc}")
        if outcome.cancel_reason == "lost":
            return
        self._read_metrics([trial])
        final = trial.points[-1] if trial.points else None
        state, message = outcome.state, outcome.error_message
        early = outcome.cancel_reason == STOPPED_EARLY
        if early:
            state = SUCCEEDED
        elif outcome.cancel_reason == "shutdown":
            state = QUEUED  # the job's next attempt reruns it
        if state == SUCCEEDED and final is None:
            state, message, early = FAILED, self._no_metric_message(trial), False
        values: dict[str, Any] = {"state": state, "error_message": message,
                                  "is_trial_stopped_early": early}
        if state == QUEUED:
            values.update(start_time=None, end_time=None, final_metric=None)
        else:
            values.update(end_time=utcnow(), final_metric=self._final_metric_json(final)
                          if state == SUCCEEDED else None)
        with self._owned() as session:
            if session is None:
                return
            session.execute(update(Trial).where(Trial.id == trial.pk).values(**values))
            if state == FAILED:
                session.add(log_row(self.job.pk, "system", f"Trial {trial.trial_id} failed: "
                                    f"{message}", trial_id=trial.trial_id))
        with self._lock:
            trial.state, trial.error_message, trial.stopped_early = state, message, early
            trial.end_time = values.get("end_time")
            trial.start_time = trial.start_time if state != QUEUED else None
            trial.final_metric = final if state == SUCCEEDED else None
            self._dirty = True

    @staticmethod
    def _final_metric_json(final: Point | None) -> dict[str, Any] | None:
        return None if final is None else {"trainingStep": final[0], "objectiveValue": final[1]}

    def _no_metric_message(self, trial: TrialRun) -> str:
        with self.db.session() as session:
            tags = list(session.scalars(
                select(Metric.tag).where(Metric.job_pk == self.job.pk,
                                         Metric.trial_id == trial.trial_id)
                .distinct().order_by(Metric.tag).limit(20)))
        reported = f"it reported {', '.join(map(repr, tags))}" if tags else \
            "it reported no metrics at all"
        return (f"The trial reported no value for hyperparameterMetricTag "
                f"{self.spec.metric_tag!r} ({reported}). Report it with "
                f"jobs.hypertune.HyperTune().report_hyperparameter_tuning_metric or "
                f"engine.summary, or set hyperparameterMetricTag to a reported tag.")

    # -- metrics and early stopping ---------------------------------------------------------
    def _read_metrics(self, trials: list[TrialRun]) -> None:
        """Append the metric tag's new points of `trials`. Each trial's rows come from one
        collector whose flushes commit in order, so rows past the last id read are new."""
        if not trials:
            return
        by_id = {t.trial_id: t for t in trials}
        after = min(t.last_metric_id for t in trials)
        with self.db.session() as session:
            rows = session.execute(
                select(Metric.id, Metric.trial_id, Metric.step, Metric.value)
                .where(Metric.job_pk == self.job.pk, Metric.tag == self.spec.metric_tag,
                       Metric.trial_id.in_(list(by_id)), Metric.id > after)
                .order_by(Metric.id)).all()
        for row_id, trial_id, step, value in rows:
            trial = by_id[trial_id]
            if row_id > trial.last_metric_id:
                trial.points += _with_ordinals([(step, value)], len(trial.points))
                trial.last_metric_id = row_id

    def _stop_early(self) -> None:
        self._read_metrics([t for t in self._running() if t.state == RUNNING])
        completed = [t.points for t in self.trials.values() if t.state == SUCCEEDED]
        completed += self.previous_points
        for trial in self._running():
            if trial.state != RUNNING or not trial.points:
                continue
            assert trial.execution is not None
            latest = trial.points[-1]
            if trial.execution.cancelled or trial.judged == (latest, len(completed)):
                continue
            trial.judged = (latest, len(completed))
            median = median_to_beat(self.spec.goal, latest, completed)
            if median is not None:
                self._note(f"Stopping trial {trial.trial_id} early: its "
                           f"{self.spec.metric_tag} {latest[1]:.6g} at step {latest[0]} is "
                           f"worse than the median {median:.6g} of completed trials at that "
                           f"step.", trial.trial_id)
                trial.execution.cancel(STOPPED_EARLY)

    # -- trainingOutput ---------------------------------------------------------------------
    def _ordered(self) -> list[TrialRun]:
        sign = -1.0 if self.spec.goal == "MAXIMIZE" else 1.0
        scored = sorted((sign * t.final_metric[1], t.number, t.trial_id)
                        for t in self.trials.values()
                        if t.state == SUCCEEDED and t.final_metric is not None)
        ranked = [self.trials[trial_id] for _, _, trial_id in scored]
        rest = sorted((t for t in self.trials.values()
                       if t.state != SUCCEEDED or t.final_metric is None), key=lambda t: t.number)
        return ranked + rest

    def training_output(self) -> dict[str, Any]:
        with self._lock:
            trials = []
            for t in self._ordered():
                entry: dict[str, Any] = {
                    "trialId": t.trial_id,
                    "hyperparameters": {k: format_value(v) for k, v in t.params.items()},
                    "state": t.state, "isTrialStoppedEarly": t.stopped_early}
                if t.start_time:
                    entry["startTime"] = _iso(t.start_time)
                if t.end_time:
                    entry["endTime"] = _iso(t.end_time)
                if t.final_metric:
                    entry["finalMetric"] = {"trainingStep": str(t.final_metric[0]),
                                            "objectiveValue": t.final_metric[1]}
                if t.error_message:
                    entry["errorMessage"] = t.error_message
                trials.append(entry)
            completed = sum(t.state == SUCCEEDED for t in self.trials.values())
            self._dirty = False
        return {"completedTrialCount": str(completed), "isHyperparameterTuningJob": True,
                "hyperparameterMetricTag": self.spec.metric_tag, "trials": trials}

    def _publish(self) -> None:
        if not self._dirty:
            return
        output = self.training_output()
        with self._owned() as session:
            if session is not None:
                session.execute(update(Job).where(Job.id == self.job.pk)
                                .values(training_output=output))

    # -- the DB -----------------------------------------------------------------------------
    @contextmanager
    def _owned(self) -> Iterator[Session | None]:
        """A session in which the job is still this runner's (None if it is not): the
        conditional heartbeat update first locks the job row (PostgreSQL) or the database
        (SQLite), so stale recovery cannot take the job until these writes commit."""
        with self.db.session() as session:
            owned = session.execute(
                update(Job).where(Job.id == self.job.pk, Job.runner_id == self.runner_id,
                                  Job.state.in_(ACTIVE_STATES))
                .values(heartbeat_time=utcnow())
                .execution_options(synchronize_session=False)).rowcount == 1
            if not owned:  # recovered by another runner: stop now, as the heartbeat would
                self.control.cancel("lost")
            yield session if owned else None

    def _note(self, text: str, trial_id: str | None = None) -> None:
        with self._owned() as session:
            if session is not None:
                session.add(log_row(self.job.pk, "system", text, trial_id=trial_id))

    def _load(self) -> str | None:
        """Trials of an earlier attempt of this job and of the resumed job; an error message
        if the resumed job cannot be used."""
        with self.db.session() as session:
            if self.spec.resume_previous_job_id:
                error = self._load_previous(session, self.spec.resume_previous_job_id)
                if error:
                    return error
            rows = list(session.scalars(select(Trial).where(Trial.job_pk == self.job.pk)
                                        .order_by(Trial.id)))
            rerun = [r.trial_id for r in rows if r.state not in (SUCCEEDED, FAILED)]
            if rerun:  # interrupted by a runner that stopped: run again from scratch
                session.execute(delete(Metric).where(Metric.job_pk == self.job.pk,
                                                     Metric.trial_id.in_(rerun)))
                session.execute(update(Trial).where(Trial.job_pk == self.job.pk,
                                                    Trial.trial_id.in_(rerun))
                                .values(state=QUEUED, start_time=None, end_time=None))
            for row in rows:
                trial = TrialRun(row.id, row.trial_id, dict(row.hyperparameters or {}),
                                 state=QUEUED if row.trial_id in rerun else row.state,
                                 stopped_early=row.is_trial_stopped_early,
                                 error_message=row.error_message)
                if trial.state != QUEUED:
                    trial.start_time = row.start_time and as_utc(row.start_time)
                    trial.end_time = row.end_time and as_utc(row.end_time)
                if row.final_metric:
                    trial.final_metric = (int(row.final_metric["trainingStep"]),
                                          float(row.final_metric["objectiveValue"]))
                self.trials[trial.trial_id] = trial
            for trial_id in rerun:
                session.add(log_row(self.job.pk, "system", f"Trial {trial_id} is run again: "
                                    f"the runner running it stopped.", trial_id=trial_id))
        if self.spec.enable_early_stopping:  # points are only needed to judge running trials
            self._read_metrics([t for t in self.trials.values() if t.state == SUCCEEDED])
        return None

    def _load_previous(self, session: Session, job_id: str) -> str | None:
        previous = session.scalar(select(Job).where(Job.project == self.job.project,
                                                    Job.job_id == job_id))
        if previous is None:
            return (f"hyperparameters.resumePreviousJobId: job {job_id!r} does not exist in "
                    f"project {self.job.project!r}.")
        rows = list(session.scalars(select(Trial).where(Trial.job_pk == previous.id)))
        self.first_number = max((int(r.trial_id) for r in rows if r.trial_id.isdigit()),
                                default=0) + 1
        done = {r.trial_id: r for r in rows if r.state in (SUCCEEDED, FAILED)}
        for row in done.values():
            value = float(row.final_metric["objectiveValue"]) \
                if row.state == SUCCEEDED and row.final_metric else math.nan
            self.previous.append(Observation(dict(row.hyperparameters or {}), value))
        if not self.spec.enable_early_stopping:
            return None
        points: dict[str, list[tuple[int | None, float]]] = {}
        for trial_id, step, value in session.execute(
                select(Metric.trial_id, Metric.step, Metric.value)
                .where(Metric.job_pk == previous.id, Metric.tag == self.spec.metric_tag,
                       Metric.trial_id.in_([t for t, r in done.items()
                                            if r.state == SUCCEEDED]))
                .order_by(Metric.id)):
            points.setdefault(trial_id, []).append((step, value))
        self.previous_points = [_with_ordinals(rows) for rows in points.values()]
        return None


def is_study(training_input: Mapping[str, Any]) -> bool:
    return training_input.get("hyperparameters") is not None


def run_study(job: ClaimedJob, base: ProcessSpec, db: Database, executor: Executor,
              runner_id: str, control: JobControl, on_first_start: Callable[[], bool]
              ) -> Outcome:
    """Run the tuning job `job` (whose non-tuning process would be `base`) to its outcome."""
    try:
        spec = parse_spec(job.training_input["hyperparameters"])
    except SpecError as exc:
        return Outcome(FAILED, f"trainingInput.{exc}")
    return Study(job, spec, base, db, executor, runner_id, control, on_first_start).run()
