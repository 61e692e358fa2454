"""Several runners on one DB: no job runs twice, and a dead runner's job is recovered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from jobs.queue import as_utc
from jobs.runner import Runner
from storage.config import Settings
from storage.db import Database
from storage.models import Job, LogLine, utcnow
from tests.jobs.helpers import (
    SLEEPER,
    job_row,
    logs,
    pid_gone,
    submit,
    wait_for,
    wait_state,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

COUNTER = """
    import os, sys, time
    with open(sys.argv[sys.argv.index("--out") + 1], "a") as f:
        f.write(os.environ["CLOUD_ML_JOB_ID"] + "\\n")
    time.sleep(0.05)
"""


def start_worker(settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    """`python -m jobs.worker` configured by environment variables, as in production."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KUMO_")}
    env.update(KUMO_DATA_DIR=str(settings.data_dir), KUMO_HOME=str(settings.home),
               KUMO_HEARTBEAT_INTERVAL=str(settings.heartbeat_interval),
               KUMO_HEARTBEAT_TIMEOUT=str(settings.heartbeat_timeout),
               PYTHONPATH=str(REPO_ROOT))
    with open(log_file, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "jobs.worker"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def test_two_runners_never_run_a_job_twice(backend_settings: Settings,
                                           databases: Callable[[Settings], Database],
                                           trainer_package: Callable[..., str],
                                           start_runner: Callable[..., Runner],
                                           tmp_path: Path) -> None:
    out = tmp_path / "runs"
    db_a, db_b = databases(backend_settings), databases(backend_settings)  # two processes
    uri = trainer_package(counter=COUNTER)
    job_ids = [f"count_{i}" for i in range(20)]
    pks = [submit(db_a, backend_settings, "trainer.counter", args=["--out", str(out)],
                  package_uris=[uri], job_id=job_id) for job_id in job_ids]
    start_runner(backend_settings, db_a, runner_id="runner-a")
    start_runner(backend_settings, db_b, runner_id="runner-b")
    for pk in pks:
        job = wait_state(db_a, pk, "SUCCEEDED", "FAILED", timeout=60)
        assert (job.state, job.attempts) == ("SUCCEEDED", 1), job.error_message
    assert sorted(out.read_text().split()) == sorted(job_ids)
    assert {job_row(db_a, pk).runner_id for pk in pks} == {"runner-a", "runner-b"}


def test_killed_runner_job_is_recovered_and_its_process_dies(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str],
        start_runner: Callable[..., Runner], tmp_path: Path) -> None:
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper", args=["--out", str(out)],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    worker = start_worker(job_settings, tmp_path / "worker.log")
    pid = 0
    try:
        wait_for(lambda: job_row(job_db, pk).state == "RUNNING" and out.exists(), timeout=30,
                 what=f"the worker to run the job ({tmp_path / 'worker.log'})")
        worker_log = [json.loads(line)  # structured log lines
                      for line in (tmp_path / "worker.log").read_text().splitlines()]
        assert any(entry["message"] == "runner started" for entry in worker_log)
        pid = int(out.read_text())
        killed_at = utcnow()
        worker.kill()
        worker.wait()
        wait_for(lambda: pid_gone(pid), timeout=5, what="the job's process to die")
        start_runner(job_settings, job_db)  # another runner's loop recovers the job

        job = wait_state(job_db, pk, "SUCCEEDED", "FAILED", timeout=15)
        assert (job.state, job.attempts) == ("SUCCEEDED", 2)  # re-queued, run again
        with job_db.session() as session:
            note = session.execute(select(LogLine.text, LogLine.time).where(
                LogLine.job_pk == pk, LogLine.text.contains("stopped responding"))).one()
        assert "queued again (attempt 1 of 2 lost)" in note.text
        assert as_utc(note.time) - killed_at < timedelta(
            seconds=job_settings.heartbeat_timeout + 1.5)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if pid and not pid_gone(pid):  # the test failed: do not leave the orphan behind
            os.kill(pid, signal.SIGKILL)


def test_runner_stops_a_job_it_has_lost(job_settings: Settings, job_db: Database,
                                        trainer_package: Callable[..., str],
                                        start_runner: Callable[..., Runner],
                                        tmp_path: Path) -> None:
    """If a runner was presumed dead (e.g. paused past the timeout) and its job went to
    another runner, it must stop its copy and write nothing over the new owner's state."""
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper", args=["--out", str(out)],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    runner = start_runner(job_settings, job_db)
    wait_for(lambda: job_row(job_db, pk).state == "RUNNING" and out.exists(),
             what="the job to run")
    with job_db.session() as session:
        session.execute(update(Job).where(Job.id == pk).values(  # and its fresh heartbeats
            runner_id="new-owner", heartbeat_time=utcnow() + timedelta(hours=1)))
    wait_for(lambda: not runner.active_jobs, timeout=5, what="the runner to drop the job")
    assert pid_gone(int(out.read_text()))
    job = job_row(job_db, pk)
    assert (job.state, job.runner_id, job.end_time) == ("RUNNING", "new-owner", None)
    assert "Job cancelled." not in logs(job_db, pk, "system")


def test_sigterm_stops_a_worker_and_gives_its_job_back(
        job_settings: Settings, job_db: Database, trainer_package: Callable[..., str],
        tmp_path: Path) -> None:
    out = tmp_path / "pids"
    pk = submit(job_db, job_settings, "trainer.sleeper", args=["--out", str(out)],
                package_uris=[trainer_package(sleeper=SLEEPER)])
    worker = start_worker(job_settings, tmp_path / "worker.log")
    try:
        wait_for(lambda: job_row(job_db, pk).state == "RUNNING" and out.exists(), timeout=30,
                 what=f"the worker to run the job ({tmp_path / 'worker.log'})")
        worker.terminate()  # what `docker stop` does
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    job = job_row(job_db, pk)
    assert (job.state, job.attempts, job.runner_id) == ("QUEUED", 0, None)
    assert pid_gone(int(out.read_text()))
