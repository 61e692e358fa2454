"""An in-process kumo API per test (TestClient, lifespan run), or a real uvicorn server on
loopback where a test needs real sockets (streaming memory, cut-off uploads)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from storage.config import Settings
from tests.conftest import free_port


@dataclass
class Api:
    """A client for one app, with the bootstrap admin token's headers."""

    client: TestClient
    settings: Settings
    admin: dict[str, str]

    def project_token(self, project: str) -> dict[str, str]:
        """Headers with a new token scoped to `project` (created if needed)."""
        self.client.post("/v1/projects", json={"name": project}, headers=self.admin)
        reply = self.client.post(f"/v1/projects/{project}/tokens", headers=self.admin)
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['token']}"}


def with_settings(base: Settings, **overrides: Any) -> Settings:
    """`base` with some fields changed (a fresh object: Settings caches derived URLs)."""
    return Settings(**{**base.model_dump(), **overrides})


def admin_headers(settings: Settings) -> dict[str, str]:
    token = json.loads(settings.credentials_path.read_text())["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(embedded_settings: Settings) -> Iterator[Api]:
    """The app on the embedded default (SQLite + file store)."""
    with TestClient(create_app(embedded_settings)) as client:
        yield Api(client, embedded_settings, admin_headers(embedded_settings))


@pytest.fixture
def platform_api(platform_settings: Settings) -> Iterator[Api]:
    """The app on each platform: embedded, and s3:// (moto) + PostgreSQL."""
    with TestClient(create_app(platform_settings)) as client:
        yield Api(client, platform_settings, admin_headers(platform_settings))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    admin: dict[str, str]
    access: list[logging.LogRecord] = field(default_factory=list)

    def wait_for_request(self, method: str, path: str, timeout: float = 10) -> int:
        """The status the server logged for a request, once it has finished with it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in list(self.access):
                if (record.method, record.path) == (method, path):  # type: ignore[attr-defined]
                    return int(record.status)  # type: ignore[attr-defined]
            time.sleep(0.02)
        raise AssertionError(f"the server never finished {method} {path}")


def run_live_server(settings: Settings) -> Iterator[LiveServer]:
    port = free_port()
    settings = with_settings(settings, port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False))
    records = _Records()
    access = logging.getLogger("kumo.api.access")
    access.addHandler(records)
    level = access.level
    access.setLevel(logging.INFO)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield LiveServer(f"http://127.0.0.1:{port}", settings, admin_headers(settings),
                         records.records)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        access.removeHandler(records)
        access.setLevel(level)


@pytest.fixture
def live_server(platform_settings: Settings) -> Iterator[LiveServer]:
    """A real uvicorn server on loopback, on each platform."""
    yield from run_live_server(platform_settings)


@pytest.fixture
def live_client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=30) as c:
        yield c
