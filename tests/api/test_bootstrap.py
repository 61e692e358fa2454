"""First start: a `default` project and an admin token, printed once and saved for the CLI."""

from __future__ import annotations

import json
import stat

import pytest
from fastapi.testclient import TestClient

from api.app import create_app, server_url
from storage.config import Settings
from tests.api.conftest import with_settings


def test_first_start_prints_and_saves_one_admin_token(
        embedded_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    settings = with_settings(embedded_settings, port=8123)
    with TestClient(create_app(settings)) as client:
        printed = capsys.readouterr().out
        path = settings.credentials_path
        saved = json.loads(path.read_text())
        assert saved == {"url": "http://127.0.0.1:8123", "token": saved["token"]}
        assert saved["token"] in printed and str(path) in printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        headers = {"Authorization": f"Bearer {saved['token']}"}
        projects = client.get("/v1/projects", headers=headers).json()["projects"]
        assert [p["name"] for p in projects] == ["default"]

    with TestClient(create_app(settings)) as client:  # second start: same DB
        assert capsys.readouterr().out == ""
        assert json.loads(path.read_text()) == saved
        assert client.get("/v1/projects", headers=headers).status_code == 200


def test_only_the_token_hash_is_stored(embedded_settings: Settings) -> None:
    with TestClient(create_app(embedded_settings)):
        token = json.loads(embedded_settings.credentials_path.read_text())["token"]
    for path in embedded_settings.data_dir.glob("kumo.db*"):
        assert token.encode() not in path.read_bytes()


@pytest.mark.parametrize(("host", "url"), [("0.0.0.0", "http://127.0.0.1:80"),
                                           ("::", "http://[::1]:80"),
                                           ("10.1.2.3", "http://10.1.2.3:80")])
def test_saved_url_is_reachable_from_this_machine(host: str, url: str) -> None:
    assert server_url(Settings(host=host, port=80)) == url
