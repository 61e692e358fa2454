"""The metadata database: one `Database` per process, shared by its threads.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on, so
the API, runners and job collectors in several threads and processes can share one file;
PostgreSQL is for production. `migrate()` applies the Alembic migrations in
`storage/migrations/` and is safe when several processes start at once: it runs in one
transaction under a lock (PostgreSQL: an advisory lock; SQLite: `BEGIN IMMEDIATE`), so
the second starter waits, then finds the schema current.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock key for migrations: any constant no other code uses ("kumo" in hex).
MIGRATION_LOCK_ID = 0x6B756D6F


class DatabaseConfigError(ValueError):
    """A database URL kumo cannot use; the message says what to fix."""


class Database:
    """An engine plus a session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = _parse(url)
        self.engine: Engine = _create_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """`"sqlite"` or `"postgresql"`."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises.
        Objects stay readable after the block (no expiry on commit)."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is current."""
        with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                # Take the write lock first: a concurrent migrate() waits (busy_timeout)
                # and then sees the finished schema instead of racing to create it.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif self.dialect == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, or before forking)."""
        self.engine.dispose()


def alembic_config() -> Config:
    """Alembic's configuration, without an alembic.ini: the scripts live in the package.
    Set `attributes["connection"]` before running a command."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _parse(url: str) -> URL:
    """The SQLAlchemy URL, with PostgreSQL pointed at psycopg 3 (the driver kumo ships)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(
            f"KUMO_DATABASE_URL {url!r} is not a database URL; use e.g. "
            "sqlite:////abs/kumo.db or postgresql://user:password@host:5432/kumo") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseConfigError(f"database {parsed.get_backend_name()!r} is not supported; "
                                  "kumo runs on sqlite:// and postgresql://")
    return parsed


def _create_engine(url: URL) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise DatabaseConfigError(f"no driver for {url.drivername!r}: {exc}") from None


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (kept in the file, so a no-op after its first opening). The
    switch needs the file to itself and SQLite answers "locked" at once instead of waiting
    (the busy timeout does not apply to it), as happens when several processes open a new
    database together: retry until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False,
                                                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if memory:  # one shared connection, or each thread would see its own empty database
        options["poolclass"] = StaticPool
    else:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL-safe
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
