"""What users expect of any service: JSON errors, probes, size limits, request logs and
API docs that work with no internet."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from minio import Minio

from api.app import create_app
from storage.config import Settings
from storage.logs import JsonFormatter, TextFormatter
from tests.api.conftest import Api, admin_headers, with_settings


def assert_error(reply: httpx.Response, code: int, status: str, *fragments: str) -> None:
    assert reply.status_code == code, reply.text
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert error["code"] == code and error["status"] == status
    for fragment in fragments:
        assert fragment in error["message"], error


def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    assert_error(api.client.get("/nope"), 404, "NOT_FOUND", "GET /nope")
    assert_error(api.client.get("/v1/projects/default/nothing", headers=api.admin), 404,
                 "NOT_FOUND")
    assert_error(api.client.delete("/v1/projects", headers=api.admin), 405, "UNIMPLEMENTED",
                 "DELETE")


def test_validation_errors_are_400_naming_the_field(api: Api) -> None:
    post = api.client.post
    reply = post("/v1/projects/default/jobs", headers=api.admin,
                 json={"jobId": "ok", "trainingInput": {"args": []}})
    assert_error(reply, 400, "INVALID_ARGUMENT", "trainingInput.pythonModule", "required")
    as_json = {**api.admin, "Content-Type": "application/json"}
    reply = post("/v1/projects/default/jobs", headers=as_json, content=b"{not json")
    assert_error(reply, 400, "INVALID_ARGUMENT", "not valid JSON")
    for body in (b'["a list"]', b'{"jobId": "x"}'):  # not an object; a form (as curl -d)
        headers = as_json if body.startswith(b"[") else {
            **api.admin, "Content-Type": "application/x-www-form-urlencoded"}
        reply = post("/v1/projects/default/jobs", headers=headers, content=body)
        assert_error(reply, 400, "INVALID_ARGUMENT", "must be a JSON object",
                     "Content-Type: application/json")
    reply = api.client.get("/v1/projects/default/jobs", params={"pageSize": "lots"},
                           headers=api.admin)
    assert_error(reply, 400, "INVALID_ARGUMENT", "pageSize (query parameter)")


def test_json_bodies_over_the_limit_are_413(embedded_settings: Settings) -> None:
    settings = with_settings(embedded_settings, max_json_bytes=1000)
    with TestClient(create_app(settings)) as client:
        headers = admin_headers(settings)
        big = {"jobId": "j", "trainingInput": {"pythonModule": "m", "args": ["x" * 2000]}}
        reply = client.post("/v1/projects/default/jobs", json=big, headers=headers)
        assert_error(reply, 413, "RESOURCE_EXHAUSTED", "1000 bytes", "KUMO_MAX_JSON_BYTES")

        def chunked():  # no Content-Length: counted while read
            yield b'{"jobId": "j", "trainingInput": {"pythonModule": "m", "args": ["'
            yield b"x" * 2000
            yield b'"]}}'

        reply = client.post("/v1/projects/default/jobs", content=chunked(),
                            headers={**headers, "Content-Type": "application/json"})
        assert_error(reply, 413, "RESOURCE_EXHAUSTED", "1000 bytes")
        small = client.post("/v1/projects/default/jobs", headers=headers, json={
            "jobId": "j", "trainingInput": {"pythonModule": "m"}})
        assert small.status_code == 200
        upload = client.put("/v1/projects/default/data/big.bin", content=b"x" * 5000,
                            headers=headers)
        assert upload.status_code == 200, "uploads have their own limit"


def test_unexpected_errors_are_logged_and_answer_json_500(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    app = api.client.app

    @app.get("/boom")  # type: ignore[attr-defined,misc]
    def boom() -> None:
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.INFO, logger="kumo"):
        reply = api.client.get("/boom")
    assert_error(reply, 500, "INTERNAL", "server log")
    assert "kaboom" not in reply.text
    crash = next(r for r in caplog.records if r.name == "kumo.api")
    assert crash.exc_info and "kaboom" in str(crash.exc_info[1])
    line = next(r for r in caplog.records if r.name == "kumo.api.access")
    assert (line.method, line.path, line.status) == ("GET", "/boom", 500)  # type: ignore[attr-defined]


def test_one_structured_log_line_per_request(api: Api,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kumo.api.access"):
        api.client.get("/healthz")
        api.client.get("/v1/projects")
    lines = [r for r in caplog.records if r.name == "kumo.api.access"]
    assert [(r.method, r.path, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/healthz", 200), ("GET", "/v1/projects", 401)]
    assert all(isinstance(r.ms, float) for r in lines)  # type: ignore[attr-defined]
    json_line = JsonFormatter().format(lines[0])
    assert re.fullmatch(r'\{"time":"[^"]+Z?[^"]*","level":"INFO","logger":"kumo\.api\.access",'
                        r'"message":"request","method":"GET","path":"/healthz","status":200,'
                        r'"ms":[0-9.]+\}', json_line), json_line
    assert TextFormatter().format(lines[0]).endswith(" path=/healthz status=200 ms="
                                                     f"{lines[0].ms}")  # type: ignore[attr-defined]


def test_probes(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}


def test_readyz_is_503_when_the_bucket_goes_away(embedded_settings: Settings,
                                                 s3_endpoint: str) -> None:
    settings = with_settings(embedded_settings, store_url="s3://goes-away",
                             s3_endpoint=s3_endpoint)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200  # the start created the bucket
        Minio(s3_endpoint, access_key=settings.s3_access_key,
              secret_key=settings.s3_secret_key, secure=False).remove_bucket("goes-away")
        assert client.get("/healthz").status_code == 200  # the process itself is fine
        assert_error(client.get("/readyz"), 503, "UNAVAILABLE", "object store",
                     "'goes-away' does not exist")


def test_docs_and_redoc_load_only_local_assets(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        html = api.client.get(page).text
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
        urls += re.findall(r"""url:\s*["']([^"']+)""", html)
        assert urls, html
        for url in urls:
            assert not re.match(r"(https?:)?//", url), (page, url)
            assert api.client.get(url).status_code == 200, url
        assert "fonts.googleapis" not in html
    schema = api.client.get("/openapi.json").json()
    assert "/v1/projects/{project}/jobs/{job_id}:cancel" in schema["paths"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
