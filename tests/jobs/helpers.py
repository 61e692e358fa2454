"""Helpers of the runner's tests: jobs inserted the way the API queues them, user code
shipped as real .tar.gz packages through the object store, polling for states. Heartbeats
are fast (0.2 s, stale after 2 s) so tests are."""

from __future__ import annotations

import io
import tarfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.config import Settings
from storage.db import Database
from storage.models import Job, LogLine, Project
from storage.stores import open_store

FAST = {"heartbeat_interval": 0.2, "heartbeat_timeout": 2.0, "workers": 2}

# A tiny job module, shipped in packages as `trainer/sleeper.py`: announces its pid, then
# runs until killed; a second attempt ends at once.
SLEEPER = """
    import os, sys, time
    out = sys.argv[sys.argv.index("--out") + 1]
    again = os.path.exists(out)
    with open(out, "a") as f:
        f.write(f"{os.getpid()}\\n")
    if not again:
        if "--ignore-term" in sys.argv:
            import signal
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("sleeping", flush=True)
        time.sleep(120)
"""


def fast_settings(base: Settings, **overrides: Any) -> Settings:
    """`base` with the tests' fast heartbeats (a fresh object: Settings caches URLs)."""
    return Settings(**{**base.model_dump(), **FAST, **overrides})


def open_db(settings: Settings) -> Database:
    database = Database(settings.resolved_database_url)
    database.migrate()
    return database


def submit(db: Database, settings: Settings, module: str, *, args: list[str] | None = None,
           package_uris: list[str] | None = None, job_id: str | None = None,
           project: str = "default") -> int:
    """Queue a job as the API does; returns its primary key."""
    with db.session() as session:
        if session.get(Project, project) is None:
            session.add(Project(name=project))
            session.flush()
        job_id = job_id or f"job_{session.scalar(select(Job.id).order_by(Job.id.desc())) or 0}"
        training_input = {"pythonModule": module, "args": args or [],
                          "packageUris": package_uris or [], "scaleTier": "BASIC"}
        job = Job(project=project, job_id=job_id, training_input=training_input,
                  job_dir=f"{settings.resolved_store_url}/projects/{project}/jobs/{job_id}")
        session.add(job)
        session.flush()
        return job.id


def job_row(db: Database, pk: int) -> Job:
    with db.session() as session:
        job = session.get_one(Job, pk)
        session.expunge(job)
        return job


def logs(db: Database, pk: int, stream: str | None = None) -> list[str]:
    with db.session() as session:
        stmt = select(LogLine.text).where(LogLine.job_pk == pk).order_by(LogLine.id)
        if stream:
            stmt = stmt.where(LogLine.stream == stream)
        return list(session.scalars(stmt))


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.05)
    return value


def wait_state(db: Database, pk: int, *states: str, timeout: float = 15.0) -> Job:
    return wait_for(lambda: (job := job_row(db, pk)).state in states and job,
                    timeout, f"job {pk} to be {'/'.join(states)}")


def tar_gz(files: dict[str, str | bytes]) -> bytes:
    """A .tar.gz of `files` (name -> content; str content is dedented Python source)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = textwrap.dedent(content).encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def put_package(settings: Settings, name: str, data: bytes) -> str:
    """Store a package in the object store; returns its URI."""
    return open_store(settings.resolved_store_url, settings).put_bytes(f"packages/{name}",
                                                                        data).uri


def pid_gone(pid: int) -> bool:
    """True once `pid` has exited (gone, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
