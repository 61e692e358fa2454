"""The metadata DB on SQLite and PostgreSQL: migrations that match the models, safe when
processes start together, and sessions that commit or roll back as a whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.db import Database, DatabaseConfigError
from storage.models import Base, Job, Project, Token


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'kumo.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


def test_migrations_create_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert set(inspect(connection).get_table_names()) == {
            *Base.metadata.tables, "alembic_version"}


def test_migrate_again_is_a_no_op(db: Database) -> None:
    with db.session() as session:
        session.add(Project(name="kept"))
    db.migrate()
    with db.session() as session:
        assert session.scalars(select(Project.name)).all() == ["kept"]
        assert session.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("0001",)]


def test_concurrent_migrations_are_safe(db_url: str) -> None:
    """Several processes starting at once (here: threads, each with its own engine) all
    succeed and leave one schema."""
    starters = 4
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start() -> None:
        database = Database(db_url)
        try:
            barrier.wait()
            database.migrate()
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=start, daemon=True) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "migrations deadlocked"
    assert errors == []
    database = Database(db_url)
    with database.session() as session:
        assert session.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    database.dispose()


def test_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    with db.session() as session:
        project = Project(name="alpha")
        session.add(project)
    assert project.name == "alpha"  # still readable after the block
    assert project.create_time is not None

    with pytest.raises(RuntimeError), db.session() as session:
        session.add(Project(name="beta"))
        session.flush()
        raise RuntimeError("request failed half-way")
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Project(name="gamma"))
        session.add(Project(name="alpha"))  # duplicate key: the whole block is undone
    with db.session() as session:
        assert session.scalars(select(Project.name)).all() == ["alpha"]


def test_foreign_keys_are_enforced_and_cascade(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Token(token_sha256="0" * 64, project="missing"))
    with db.session() as session:
        session.add(Project(name="p"))
        session.add(Token(token_sha256="1" * 64, project="p"))
    with db.session() as session:
        session.delete(session.get(Project, "p"))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Token)) == 0


def test_concurrent_writers_do_not_fail(db: Database) -> None:
    """Runners and the API write from several threads at once; SQLite waits its turn."""
    with db.session() as session:
        session.add(Project(name="p"))
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(15):
                with db.session() as session:
                    session.add(Job(project="p", job_id=f"w{worker}-{n}", training_input={},
                                    job_dir="file:///tmp/x"))
                with db.session() as session:
                    job = session.scalars(select(Job).where(Job.job_id == f"w{worker}-{n}")).one()
                    job.attempts += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        assert session.scalar(select(func.sum(Job.attempts))) == 60


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'new' / 'dir' / 'kumo.db'}")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    assert database.dialect == "sqlite"
    database.dispose()


def test_in_memory_sqlite_is_shared_by_threads() -> None:
    database = Database("sqlite://")
    database.migrate()
    with database.session() as session:
        session.add(Project(name="p"))
    names: list[str] = []

    def read() -> None:
        with database.session() as session:
            names.extend(session.scalars(select(Project.name)))

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert names == ["p"]
    database.dispose()


def test_postgresql_urls_use_the_shipped_driver() -> None:
    database = Database("postgresql://user@db.invalid:5432/kumo")
    assert database.engine.url.drivername == "postgresql+psycopg"
    assert database.dialect == "postgresql"
    database.dispose()


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "not a database URL"),
    ("mysql://u@h/db", "not supported"),
    ("sqlite+nosuchdriver:///x.db", "no driver"),
])
def test_unusable_database_urls_say_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(DatabaseConfigError, match=message):
        Database(url)
