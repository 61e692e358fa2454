"""Fixtures of the runner's tests: settings with fast heartbeats, migrated databases, user
code packages, and runners that are stopped when the test ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from jobs.executor import LocalExecutor
from jobs.runner import Runner
from storage.config import Settings
from storage.db import Database
from tests.jobs.helpers import fast_settings, open_db, put_package, tar_gz


@pytest.fixture
def job_settings(embedded_settings: Settings) -> Settings:
    return fast_settings(embedded_settings)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_settings(request: pytest.FixtureRequest, job_settings: Settings) -> Settings:
    """The job settings on each metadata database (PostgreSQL skipped where none runs)."""
    if request.param == "sqlite":
        return job_settings
    return fast_settings(job_settings, database_url=request.getfixturevalue("pg_url"))


@pytest.fixture
def databases() -> Iterator[Callable[[Settings], Database]]:
    """Open migrated Databases, disposed at the end (request it before `start_runner`, so
    the runners stop first)."""
    opened: list[Database] = []

    def open_one(settings: Settings) -> Database:
        opened.append(open_db(settings))
        return opened[-1]

    yield open_one
    for database in opened:
        database.dispose()


@pytest.fixture
def job_db(databases: Callable[[Settings], Database], job_settings: Settings) -> Database:
    return databases(job_settings)


@pytest.fixture
def trainer_package(job_settings: Settings) -> Callable[..., str]:
    """Package `trainer/__init__.py` plus the given modules; returns the package's URI."""
    def make(name: str = "trainer.tar.gz", **modules: str) -> str:
        files = {"trainer/__init__.py": "", **{f"trainer/{m}.py": src
                                                for m, src in modules.items()}}
        return put_package(job_settings, name, tar_gz(files))
    return make


@pytest.fixture
def start_runner() -> Iterator[Callable[..., Runner]]:
    """Start runners on `run_forever` threads; all are stopped when the test ends."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(settings: Settings, db: Database, *, kill_grace: float = 5.0,
              runner_id: str | None = None) -> Runner:
        runner = Runner(settings, db, runner_id,
                        executor=LocalExecutor(settings, db, kill_grace=kill_grace))
        stop = threading.Event()
        thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
        thread.start()
        started.append((stop, thread))
        return runner

    yield start
    for stop, _thread in started:
        stop.set()
    for _stop, thread in started:
        thread.join(30)
