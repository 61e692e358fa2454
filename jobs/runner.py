"""`Runner`: claims queued jobs from the metadata DB, runs them through an executor, keeps
their heartbeats fresh and records how they ended.

Threads of one runner:
- the loop (`run_forever`, or a caller of `run_once`/`recover`): claims QUEUED jobs while
  it has free slots (`settings.workers`), and every heartbeat interval recovers stale jobs
  of dead runners (any runner's loop does that for all runners);
- one heartbeat thread (from the first claim to `stop()`): refreshes `heartbeat_time` of
  this runner's jobs every `settings.heartbeat_interval`, and stops a job whose state has
  become CANCELLING or which is no longer this runner's;
- one thread per job: builds the process spec, submits it, waits for the outcome, writes
  the final state. A failure of the runner itself on one job fails that job with a message
  and never stops the loop.
A tuning job (trainingInput.hyperparameters) runs its study (jobs.study) in that per-job
thread instead, submitting one ProcessSpec per trial to the same executor and attaching each
execution to the job, so cancel, shutdown and heartbeats work for its trials too.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from jobs import queue
from jobs.collect import log_row
from jobs.executor import Execution, Executor, Outcome, ProcessSpec, make_executor
from jobs.queue import CANCELLED, CANCELLING, FAILED, SUCCEEDED, ClaimedJob, Recovered
from jobs.study import is_study, run_study
from storage.config import Settings
from storage.db import Database

log = logging.getLogger("kumo.runner")

STOP_TIMEOUT = 30.0
"""How long `stop()` waits for each job to wind down (its process gets SIGTERM, then
SIGKILL after the executor's grace period)."""


def default_runner_id() -> str:
    """host-pid-random: unique per runner process, and says where it ran."""
    return f"{socket.gethostname()[:64]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def job_spec(job: ClaimedJob) -> ProcessSpec:
    """The process a (non-tuning) job runs; ValueError saying what is wrong with its
    trainingInput otherwise."""
    training_input = job.training_input
    module = training_input.get("pythonModule")
    if not isinstance(module, str) or not module:
        raise ValueError("trainingInput.pythonModule is required.")
    lists = {}
    for name in ("args", "packageUris"):
        value = training_input.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"trainingInput.{name} must be a list of strings.")
        lists[name] = tuple(value)
    return ProcessSpec(job_pk=job.pk, job_id=job.job_id, module=module, args=lists["args"],
                       job_dir=job.job_dir, package_uris=lists["packageUris"])


@dataclass
class _ActiveJob:
    """A job this runner owns, with the executions to stop if it is cancelled."""

    job: ClaimedJob
    cancel_reason: str | None = None
    ended: bool = False
    executions: list[Execution] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, execution: Execution) -> Execution:
        with self.lock:
            self.executions.append(execution)
            if self.cancel_reason is not None:
                execution.cancel(self.cancel_reason)
        return execution

    def cancel(self, reason: str) -> None:
        with self.lock:
            if self.cancel_reason is None:
                self.cancel_reason = reason
            for execution in self.executions:
                execution.cancel(self.cancel_reason)


class Runner:
    """Runs queued jobs; see the module doc. `db` defaults to the settings' database."""

    def __init__(self, settings: Settings, db: Database | None = None,
                 runner_id: str | None = None, *, executor: Executor | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.resolved_database_url)
        self.runner_id = runner_id or default_runner_id()
        self.executor = executor or make_executor(settings, self.db)
        self.poll_interval = min(1.0, settings.heartbeat_interval)
        self._active: dict[int, _ActiveJob] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None

    @property
    def active_jobs(self) -> list[int]:
        """Primary keys of the jobs this runner is running."""
        with self._lock:
            return list(self._active)

    def run_once(self) -> int:
        """Claim queued jobs into the free slots and start them; returns how many."""
        if self._stopping.is_set():
            return 0
        free = self.settings.workers - len(self.active_jobs)
        if free <= 0:
            return 0
        with self.db.session() as session:
            claimed = queue.claim(session, self.runner_id, free)
        for job in claimed:
            self._start(job)
        return len(claimed)

    def recover(self) -> list[Recovered]:
        """Fail, re-queue or cancel jobs of runners that stopped beating (queue.recover_stale)."""
        with self.db.session() as session:
            recovered = queue.recover_stale(session, self.settings.heartbeat_timeout)
        for item in recovered:
            log.warning("recovered stale job: %s", item.message,
                        extra={"job_pk": item.pk, "job_id": item.job_id,
                               "state": item.new_state, "runner": self.runner_id})
        return recovered

    def run_forever(self, stop_event: threading.Event) -> None:
        """Claim and recover until `stop_event` is set, then `stop()`."""
        log.info("runner started", extra={"runner": self.runner_id,
                                          "workers": self.settings.workers})
        next_recovery = 0.0
        try:
            while not stop_event.is_set():
                try:
                    if time.monotonic() >= next_recovery:
                        self.recover()
                        next_recovery = time.monotonic() + self.settings.heartbeat_interval
                    self.run_once()
                except Exception:  # the DB is down, say: log it, keep going
                    log.exception("runner loop failed; retrying",
                                  extra={"runner": self.runner_id})
                stop_event.wait(self.poll_interval)
        finally:
            self.stop()
        log.info("runner stopped", extra={"runner": self.runner_id})

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Claim nothing more; stop running processes and give their jobs back (QUEUED
        again, or CANCELLED if a cancel was pending); then stop heartbeating."""
        self._stopping.set()
        with self._lock:
            active, threads = list(self._active.values()), list(self._threads.values())
        for job in active:
            job.cancel("shutdown")
        for thread in threads:
            thread.join(timeout)
        self._closed.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join()

    # -- heartbeats -----------------------------------------------------------------------
    def beat(self) -> None:
        """One heartbeat for all this runner's jobs; stops cancelled and lost ones."""
        with self._lock:
            active = dict(self._active)
        if not active:
            return
        with self.db.session() as session:
            states = queue.heartbeat(session, self.runner_id, active)
        for pk, job in active.items():
            if job.ended:  # its outcome is being written: it left the active states
                continue
            state = states.get(pk)
            if state is None:
                log.warning("job is no longer this runner's; stopping it",
                            extra={"job_id": job.job.job_id, "runner": self.runner_id})
                job.cancel("lost")
            elif state == CANCELLING:
                job.cancel("cancelled")

    def _heartbeat_loop(self) -> None:
        while not self._closed.wait(self.settings.heartbeat_interval):
            try:
                self.beat()
            except Exception:  # keep beating: a DB hiccup must not orphan every job
                log.exception("heartbeat failed", extra={"runner": self.runner_id})

    # -- one job --------------------------------------------------------------------------
    def _start(self, job: ClaimedJob) -> None:
        active = _ActiveJob(job)
        thread = threading.Thread(target=self._run_job, args=(active,),
                                  name=f"kumo-runner-job-{job.pk}", daemon=True)
        with self._lock:
            self._active[job.pk] = active
            self._threads[job.pk] = thread
            if self._heartbeat_thread is None:
                self._heartbeat_thread = threading.Thread(
                    target=self._heartbeat_loop, name="kumo-runner-heartbeat", daemon=True)
                self._heartbeat_thread.start()
        log.info("job claimed", extra={"job_id": job.job_id, "project": job.project,
                                       "attempt": job.attempts, "runner": self.runner_id})
        thread.start()

    def _run_job(self, active: _ActiveJob) -> None:
        job = active.job
        try:
            outcome = self._execute(active)
        except Exception as exc:
            log.exception("runner failed on a job", extra={"job_id": job.job_id,
                                                           "runner": self.runner_id})
            outcome = Outcome(FAILED, f"Internal error in the job runner: {exc}")
        active.ended = True
        try:
            self._record(job, outcome)
        except Exception:  # left to stale recovery once its heartbeats stop below
            log.exception("could not record the outcome of a job",
                          extra={"job_id": job.job_id, "state": outcome.state,
                                 "runner": self.runner_id})
        finally:
            with self._lock:
                del self._active[job.pk]
                del self._threads[job.pk]

    def _execute(self, active: _ActiveJob) -> Outcome:
        job = active.job
        try:
            spec = job_spec(job)
        except ValueError as exc:
            return Outcome(FAILED, str(exc))

        def on_start() -> bool:
            """PREPARING -> RUNNING once the (first) process runs; False: stop it."""
            with self.db.session() as session:
                started = queue.mark_running(session, job.pk, self.runner_id)
                if started:
                    session.add(log_row(job.pk, "system", (
                        f"Job started on runner {self.runner_id} (attempt {job.attempts} of "
                        f"{queue.MAX_ATTEMPTS}).")))
            return started

        if is_study(job.training_input):
            return run_study(job, spec, self.db, self.executor, self.runner_id, active, on_start)
        return active.attach(self.executor.submit(spec, on_start)).result()

    def _record(self, job: ClaimedJob, outcome: Outcome) -> None:
        """Write the outcome, unless the job is no longer this runner's."""
        extra = {"job_id": job.job_id, "state": outcome.state, "runner": self.runner_id}
        if outcome.cancel_reason == "lost":
            log.warning("job stopped: another runner recovered it", extra=extra)
            return
        with self.db.session() as session:
            if outcome.cancel_reason == "shutdown":
                new_state = queue.release(session, job.pk, self.runner_id)
                log.info("job given back at shutdown", extra={**extra, "state": new_state})
                return
            if not queue.finish(session, job.pk, self.runner_id, outcome.state,
                                outcome.error_message):
                log.warning("job ended but is no longer this runner's", extra=extra)
                return
            note = {SUCCEEDED: "Job completed successfully.",
                    CANCELLED: "Job cancelled.",
                    FAILED: f"Job failed: {outcome.error_message}"}[outcome.state]
            session.add(log_row(job.pk, "system", note))
        log.info("job ended", extra={**extra, "error": outcome.error_message})
