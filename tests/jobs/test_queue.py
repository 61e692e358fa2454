"""The job state machine on SQLite and PostgreSQL, transition by transition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from jobs import queue
from storage.config import Settings
from storage.db import Database
from storage.models import Job, utcnow
from tests.jobs.helpers import fast_settings, job_row, logs, submit


@pytest.fixture(params=["sqlite", "postgresql"])
def qdb(request: pytest.FixtureRequest, job_settings: Settings,
        databases: Callable[[Settings], Database]) -> Database:
    return databases(job_settings if request.param == "sqlite" else fast_settings(
        job_settings, database_url=request.getfixturevalue("pg_url")))


def claim(db: Database, runner_id: str, limit: int = 1) -> list[queue.ClaimedJob]:
    with db.session() as session:
        return queue.claim(session, runner_id, limit)


def test_claim_takes_the_oldest_queued_jobs_once(qdb: Database, job_settings: Settings) -> None:
    pks = [submit(qdb, job_settings, "trainer.task", job_id=f"j{i}") for i in range(3)]
    first = claim(qdb, "a", 2)
    assert [c.pk for c in first] == pks[:2]
    assert first[0].training_input["pythonModule"] == "trainer.task"
    assert [c.pk for c in claim(qdb, "b", 5)] == pks[2:]
    assert claim(qdb, "c", 5) == []
    job = job_row(qdb, pks[0])
    assert (job.state, job.runner_id, job.attempts) == ("PREPARING", "a", 1)
    assert job.heartbeat_time is not None and job.start_time is None


def test_only_the_owner_moves_a_claimed_job(qdb: Database, job_settings: Settings) -> None:
    pk = submit(qdb, job_settings, "trainer.task")
    claim(qdb, "a")
    with qdb.session() as session:
        assert not queue.mark_running(session, pk, "b")
        assert queue.mark_running(session, pk, "a")
        assert queue.heartbeat(session, "b", [pk]) == {}
        assert queue.heartbeat(session, "a", [pk]) == {pk: "RUNNING"}
        assert not queue.finish(session, pk, "b", "SUCCEEDED")
        assert queue.finish(session, pk, "a", "FAILED", "it broke")
        assert not queue.finish(session, pk, "a", "SUCCEEDED")  # already ended
        assert queue.heartbeat(session, "a", [pk]) == {}
    job = job_row(qdb, pk)
    assert (job.state, job.error_message) == ("FAILED", "it broke")
    assert job.start_time is not None and job.end_time is not None


def _age(db: Database, pk: int, seconds: float, **values: object) -> None:
    with db.session() as session:
        session.execute(update(Job).where(Job.id == pk).values(
            heartbeat_time=utcnow() - timedelta(seconds=seconds), **values))


def test_stale_jobs_are_requeued_then_failed(qdb: Database, job_settings: Settings) -> None:
    pk = submit(qdb, job_settings, "trainer.task")
    fresh = submit(qdb, job_settings, "trainer.task", job_id="fresh")
    claim(qdb, "dead-runner", 2)
    _age(qdb, pk, 45)
    with qdb.session() as session:
        first = queue.recover_stale(session, 30)
    assert [(r.pk, r.old_state, r.new_state) for r in first] == [(pk, "PREPARING", "QUEUED")]
    job = job_row(qdb, pk)
    assert (job.state, job.runner_id, job.attempts, job.error_message) == ("QUEUED", None, 1, "")
    assert logs(qdb, pk, "system") == [
        "The runner dead-runner running this job stopped responding (no heartbeat for 45 s); "
        "the job is queued again (attempt 1 of 2 lost)."]
    assert job_row(qdb, fresh).state == "PREPARING"

    claim(qdb, "second-runner")
    with qdb.session() as session:
        queue.mark_running(session, pk, "second-runner")
    _age(qdb, pk, 31)
    with qdb.session() as session:
        [second] = queue.recover_stale(session, 30)
        assert queue.recover_stale(session, 30) == []  # nothing left to recover
    job = job_row(qdb, pk)
    assert (job.state, job.attempts, second.new_state) == ("FAILED", 2, "FAILED")
    assert job.error_message == (
        "The runner second-runner running this job stopped responding (no heartbeat for "
        "31 s); it was started 2 times and is not retried again.")
    assert job.end_time is not None


def test_stale_cancelling_job_ends_cancelled(qdb: Database, job_settings: Settings) -> None:
    pk = submit(qdb, job_settings, "trainer.task")
    claim(qdb, "a")
    _age(qdb, pk, 60, state="CANCELLING")
    with qdb.session() as session:
        [recovered] = queue.recover_stale(session, 30)
    assert recovered.new_state == "CANCELLED"
    job = job_row(qdb, pk)
    assert job.state == "CANCELLED" and job.end_time is not None


def test_release_at_shutdown_does_not_use_up_an_attempt(qdb: Database,
                                                        job_settings: Settings) -> None:
    running, cancelling = (submit(qdb, job_settings, "trainer.task", job_id=f"j{i}")
                           for i in range(2))
    claim(qdb, "a", 2)
    with qdb.session() as session:
        session.execute(update(Job).where(Job.id == cancelling).values(state="CANCELLING"))
        assert queue.release(session, running, "a") == "QUEUED"
        assert queue.release(session, cancelling, "a") == "CANCELLED"
        assert queue.release(session, running, "a") is None
    assert (job_row(qdb, running).state, job_row(qdb, running).attempts) == ("QUEUED", 0)
