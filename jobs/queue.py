"""The job state machine, as plain functions on a SQLAlchemy session.

    QUEUED --claim--> PREPARING --process started--> RUNNING --> SUCCEEDED | FAILED
    QUEUED --cancel (API)--> CANCELLED
    PREPARING | RUNNING --cancel (API)--> CANCELLING --runner killed it--> CANCELLED
    PREPARING | RUNNING --runner shut down--> QUEUED
    PREPARING | RUNNING | CANCELLING --heartbeat too old--> QUEUED | FAILED | CANCELLED

The DB is the only thing runners share, so every transition is one conditional UPDATE (or a
row lock on PostgreSQL) that names the state it expects: two runners, or a runner and the
API, can never both win the same transition. Runner-side transitions also name the runner,
so a runner that lost a job (its heartbeat went stale and another runner recovered it) can no
longer write that job's state. The caller's session commits; these functions only stage.

Times come from the calling process's clock (UTC), so runner machines need synchronized
clocks (NTP) that agree to well within `heartbeat_timeout`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from jobs.collect import log_row
from storage.models import Job, utcnow

QUEUED = "QUEUED"
PREPARING = "PREPARING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"

ACTIVE_STATES = (PREPARING, RUNNING, CANCELLING)
"""States in which a runner owns the job and must keep its heartbeat fresh."""
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)

MAX_ATTEMPTS = 2
"""How many times a job is started before a dead runner makes it FAILED instead of
re-queued: once more covers a crashed or redeployed runner, and a job that itself kills its
runner (e.g. by exhausting the machine's memory) does not take down runner after runner."""


@dataclass(frozen=True)
class ClaimedJob:
    """What a runner needs of a job it claimed, detached from the session."""

    pk: int
    project: str
    job_id: str
    training_input: dict[str, Any]
    job_dir: str
    attempts: int


@dataclass(frozen=True)
class Recovered:
    """One stale job that `recover_stale` moved on."""

    pk: int
    job_id: str
    old_state: str
    new_state: str
    message: str


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time this package writes is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _transition(session: Session, pk: int, states: Collection[str], owner: str | None, /,
                **values: Any) -> bool:
    """Set `values` on job `pk` only if it is in one of `states` (and owned by runner
    `owner`, unless that is None); True if this call made the change."""
    stmt = update(Job).where(Job.id == pk, Job.state.in_(states))
    if owner is not None:
        stmt = stmt.where(Job.runner_id == owner)
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def claim(session: Session, runner_id: str, limit: int, *,
          now: datetime | None = None) -> list[ClaimedJob]:
    """Move up to `limit` of the oldest QUEUED jobs to PREPARING for `runner_id`.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent runners take disjoint jobs
    without waiting for each other. SQLite (one writer at a time): a single UPDATE of the
    oldest queued rows, which takes the write lock before it reads anything, so a runner
    never acts on a queue another runner changed meanwhile."""
    if limit <= 0:
        return []
    now = now or utcnow()
    oldest = (select(Job).where(Job.state == QUEUED)
              .order_by(Job.create_time, Job.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        claimed = list(session.scalars(oldest.with_for_update(skip_locked=True)))
        for job in claimed:
            job.state, job.runner_id, job.heartbeat_time = PREPARING, runner_id, now
            job.attempts += 1
        session.flush()
    else:
        pks = list(session.scalars(
            update(Job).where(Job.id.in_(oldest.with_only_columns(Job.id).scalar_subquery()))
            .values(state=PREPARING, runner_id=runner_id, heartbeat_time=now,
                    attempts=Job.attempts + 1)
            .returning(Job.id).execution_options(synchronize_session=False)))
        claimed = list(session.scalars(select(Job).where(Job.id.in_(pks))
                                       .order_by(Job.create_time, Job.id)
                                       .execution_options(populate_existing=True)))
    return [ClaimedJob(pk=job.id, project=job.project, job_id=job.job_id,
                       training_input=dict(job.training_input or {}), job_dir=job.job_dir,
                       attempts=job.attempts) for job in claimed]


def mark_running(session: Session, pk: int, runner_id: str, *,
                 now: datetime | None = None) -> bool:
    """PREPARING -> RUNNING once the process started; False if the job was cancelled or
    taken away meanwhile (the caller then stops the process)."""
    now = now or utcnow()
    return _transition(session, pk, [PREPARING], runner_id, state=RUNNING, start_time=now,
                       heartbeat_time=now)


def heartbeat(session: Session, runner_id: str, pks: Collection[int], *,
              now: datetime | None = None) -> dict[int, str]:
    """Refresh `heartbeat_time` of `runner_id`'s active jobs among `pks` and return their
    states. A pk missing from the answer is no longer this runner's (recovered by another
    runner after a stale heartbeat, or deleted): its process must stop. CANCELLING means
    the user asked for it to stop."""
    if not pks:
        return {}
    owned = (Job.id.in_(list(pks)), Job.runner_id == runner_id, Job.state.in_(ACTIVE_STATES))
    session.execute(update(Job).where(*owned).values(heartbeat_time=now or utcnow())
                    .execution_options(synchronize_session=False))
    return {pk: state for pk, state in session.execute(select(Job.id, Job.state).where(*owned))}


def finish(session: Session, pk: int, runner_id: str, state: str, error_message: str = "", *,
           now: datetime | None = None) -> bool:
    """Record the outcome of `runner_id`'s run of job `pk`; False (nothing written) if the
    job is no longer this runner's."""
    if state not in FINAL_STATES:
        raise ValueError(f"{state} is not a final job state")
    return _transition(session, pk, ACTIVE_STATES, runner_id, state=state,
                       error_message=error_message, end_time=now or utcnow(),
                       heartbeat_time=None)


def release(session: Session, pk: int, runner_id: str) -> str | None:
    """Give back a job whose runner is shutting down: QUEUED again without using up an
    attempt (the job did nothing wrong), or CANCELLED if a cancel was pending. Returns the
    new state, None if the job was no longer this runner's."""
    if _transition(session, pk, [CANCELLING], runner_id, state=CANCELLED, end_time=utcnow(),
                   heartbeat_time=None):
        return CANCELLED
    if _transition(session, pk, [PREPARING, RUNNING], runner_id, state=QUEUED, runner_id=None,
                   heartbeat_time=None, start_time=None, attempts=Job.attempts - 1):
        session.add(log_row(pk, "system", f"Runner {runner_id} shut down; the job is queued "
                                          "again."))
        return QUEUED
    return None


def recover_stale(session: Session, timeout: float, *, now: datetime | None = None,
                  max_attempts: int = MAX_ATTEMPTS) -> list[Recovered]:
    """Move on every active job whose runner has not beaten for `timeout` seconds.

    The runner is presumed dead (killed, crashed, machine gone) and its process with it (a
    job process dies with its runner, see `jobs.executor`). So:
    - CANCELLING -> CANCELLED: the user wanted it stopped, and it has stopped.
    - PREPARING/RUNNING -> QUEUED while the job has been started fewer than `max_attempts`
      times, so a runner restart does not cost the user the job; the next runner starts it
      afresh (its earlier logs and metrics stay, after a "system" line saying what happened).
    - otherwise -> FAILED with an errorMessage that says the runner stopped responding.
    Never left RUNNING: every stale job gets one of these, whichever runner looks first."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=timeout)
    stale = session.execute(
        select(Job.id, Job.job_id, Job.state, Job.runner_id, Job.heartbeat_time, Job.attempts)
        .where(Job.state.in_(ACTIVE_STATES),
               or_(Job.heartbeat_time.is_(None), Job.heartbeat_time < cutoff))
        .order_by(Job.id)).all()
    recovered = []
    for pk, job_id, state, runner_id, beat, attempts in stale:
        silent = f"no heartbeat for {(now - as_utc(beat)).total_seconds():.0f} s" if beat \
            else "no heartbeat at all"
        why = f"The runner {runner_id} running this job stopped responding ({silent})"
        if state == CANCELLING:
            new_state, message = CANCELLED, f"{why}; the job is cancelled as requested."
            values: dict[str, Any] = {"end_time": now}
        elif attempts < max_attempts:
            new_state = QUEUED
            message = (f"{why}; the job is queued again (attempt {attempts} of "
                       f"{max_attempts} lost).")
            values = {"runner_id": None, "start_time": None}
        else:
            new_state = FAILED
            message = (f"{why}; it was started {attempts} times and is not retried again.")
            values = {"end_time": now, "error_message": message}
        # Still stale and still that runner's: a late heartbeat or another recovering
        # runner makes this match nothing, and the job is left to them.
        stmt = (update(Job).where(Job.id == pk, Job.state == state,
                                  Job.runner_id == runner_id if runner_id is not None
                                  else Job.runner_id.is_(None),
                                  or_(Job.heartbeat_time.is_(None), Job.heartbeat_time < cutoff))
                .values(state=new_state, heartbeat_time=None, **values)
                .execution_options(synchronize_session=False))
        if session.execute(stmt).rowcount == 1:
            session.add(log_row(pk, "system", message, time=now))
            recovered.append(Recovered(pk, job_id, state, new_state, message))
    return recovered
