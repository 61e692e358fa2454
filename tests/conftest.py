"""Fixtures every platform test uses: a real S3 server (moto's, on loopback), a fresh
PostgreSQL database per test (skipped when no server answers), and the two platform
set-ups kumo supports: embedded (SQLite + file store) and s3+postgres."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from storage.config import Settings
from storage.s3store import S3Store

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
S3_ACCESS_KEY = "kumo-test"
S3_SECRET_KEY = "kumo-test-secret"


def wait_ready(proc: subprocess.Popen[Any], url: str, timeout: float = 60.0,
               output: Callable[[], str] = lambda: "") -> None:
    """Poll `url`/readyz until it answers 200; fail, showing `output()`, if the server
    process exits first or `timeout` passes."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the server exited: {output()}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server was not ready in {timeout:g} s"
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, as a service manager would, then SIGKILL if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """`host:port` of an S3 server on loopback (any credentials are accepted)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def _pg_admin_url() -> URL:
    """The base PostgreSQL URL, or a skip if no server answers there."""
    url = make_url(os.environ.get("KUMO_TEST_DATABASE_URL") or PG_DEFAULT)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL at {url.render_as_string()} is not reachable: "
                    f"{str(exc.orig).strip()}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_url(_pg_admin_url: URL) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"kumo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield _pg_admin_url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """SQLite + file store under tmp_path (explicit empty URLs: KUMO_* env cannot leak in)."""
    return Settings(data_dir=tmp_path / "kumo-data", home=tmp_path / "home",
                    database_url="", store_url="")


@pytest.fixture
def s3_pg_settings(tmp_path: Path, s3_endpoint: str, pg_url: str) -> Settings:
    """A fresh bucket on the loopback S3 server + a fresh PostgreSQL database."""
    bucket = f"kumo-test-{uuid.uuid4().hex[:12]}"
    settings = Settings(data_dir=tmp_path / "kumo-data", home=tmp_path / "home",
                        database_url=pg_url, store_url=f"s3://{bucket}",
                        s3_endpoint=s3_endpoint, s3_access_key=S3_ACCESS_KEY,
                        s3_secret_key=S3_SECRET_KEY, s3_secure=False)
    S3Store(bucket, "", settings).ensure_bucket()
    return settings


@pytest.fixture(params=["embedded", "s3+postgres"])
def platform_settings(request: pytest.FixtureRequest) -> Settings:
    """Each test using it runs twice: on the embedded set-up and on s3+postgres."""
    fixture = "embedded_settings" if request.param == "embedded" else "s3_pg_settings"
    return request.getfixturevalue(fixture)
