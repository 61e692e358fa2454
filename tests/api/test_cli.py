"""`kumo serve` and `kumo worker` as users run them: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app
from storage.config import Settings
from tests.conftest import free_port, wait_ready

# The console script's code, run the way the installed `kumo` runs it.
KUMO = [sys.executable, "-m", "api.cli"]
ROOT = Path(__file__).resolve().parents[2]


def kumo_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    env.update(KUMO_DATA_DIR=str(settings.data_dir), KUMO_HOME=str(settings.home), **extra)
    return env


def test_help_lists_the_server_verbs() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "worker" in result.output
    serve_help = CliRunner().invoke(app, ["serve", "--help"]).output
    assert "--host" in serve_help and "--port" in serve_help


def test_serve_runs_until_sigterm_then_exits_cleanly(embedded_settings: Settings) -> None:
    port = free_port()
    proc = subprocess.Popen([*KUMO, "serve", "--port", str(port)], cwd=ROOT,
                            env=kumo_env(embedded_settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}")
        credentials = json.loads(embedded_settings.credentials_path.read_text())
        assert credentials["url"] == f"http://127.0.0.1:{port}"
        reply = httpx.get(f"http://127.0.0.1:{port}/v1/projects",
                          headers={"Authorization": f"Bearer {credentials['token']}"})
        assert reply.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert credentials["token"] in out  # printed once, on stdout
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e.get("path") == "/v1/projects" and e.get("status") == 200 for e in logged), err


def test_admin_token_lets_an_operator_back_in(embedded_settings: Settings) -> None:
    """The credentials are lost: `kumo admin-token` makes a new admin token in the database,
    which the running server accepts at once."""
    env = kumo_env(embedded_settings)
    port = free_port()
    proc = subprocess.Popen([*KUMO, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(proc, url)
        embedded_settings.credentials_path.unlink()
        made = subprocess.run([*KUMO, "admin-token"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert json.loads(embedded_settings.credentials_path.read_text())["token"] == token
        assert embedded_settings.credentials_path.stat().st_mode & 0o777 == 0o600
        reply = httpx.post(f"{url}/v1/projects", json={"name": "again"},
                           headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200, reply.text  # an admin's right
        unsaved = subprocess.run([*KUMO, "admin-token", "--no-save"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=30)
        assert unsaved.returncode == 0 and unsaved.stdout.strip() not in ("", token)
        assert json.loads(embedded_settings.credentials_path.read_text())["token"] == token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(("verb", "variable", "value", "fragment"), [
    ("serve", "KUMO_PORT", "eighty", "KUMO_PORT"),
    ("serve", "KUMO_STORE_URL", "gs://bucket", "unknown storage scheme 'gs'"),
    ("worker", "KUMO_DATABASE_URL", "mysql://db/kumo", "not supported"),
    ("admin-token", "KUMO_DATABASE_URL", "mysql://db/kumo", "not supported"),
])
def test_bad_configuration_is_one_line(embedded_settings: Settings, verb: str, variable: str,
                                       value: str, fragment: str) -> None:
    proc = subprocess.run([*KUMO, verb], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          env=kumo_env(embedded_settings, **{variable: value}))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and fragment in proc.stderr, proc.stderr
