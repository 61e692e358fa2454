"""The API's start with an s3:// store: it creates the bucket (as MinIO's init container
would), and an S3 server that is down does not stop it, /readyz says so instead."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from api.app import create_app
from storage.config import Settings
from tests.api.conftest import admin_headers, with_settings


def test_first_start_creates_the_bucket(s3_pg_settings: Settings) -> None:
    settings = with_settings(s3_pg_settings, store_url=f"s3://fresh-{uuid.uuid4().hex[:10]}")
    with TestClient(create_app(settings)) as client:
        reply = client.put("/v1/projects/default/data/a.txt", content=b"hello",
                           headers=admin_headers(settings))
        assert reply.status_code == 200, reply.text
        assert reply.json()["uri"].startswith(settings.store_url)


def test_unreachable_s3_server_starts_but_is_not_ready(embedded_settings: Settings) -> None:
    settings = with_settings(embedded_settings, store_url="s3://kumo",
                             s3_endpoint="127.0.0.1:9")  # nothing listens on the discard port
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        reply = client.get("/readyz")
        assert reply.status_code == 503
        assert "error" in reply.json() or "checks" in reply.json()
