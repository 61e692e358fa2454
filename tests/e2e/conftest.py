"""A real `kumo serve` process on a free loopback port, for tests that use only HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.config import Settings
from tests.conftest import free_port, stop_process, wait_ready


def _env(settings: Settings) -> dict[str, str]:
    """The settings as the KUMO_* environment a server process reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    for name, value in settings.model_dump().items():
        env[f"KUMO_{name.upper()}"] = str(value)
    return env


@pytest.fixture
def server(platform_settings: Settings) -> Iterator[tuple[httpx.Client, Settings]]:
    """`kumo serve` on a free loopback port; yields an authenticated client."""
    port = free_port()
    settings = platform_settings.model_copy(update={
        "port": port, "heartbeat_interval": 0.5, "heartbeat_timeout": 10.0})
    kumo = Path(sys.executable).with_name("kumo")
    proc = subprocess.Popen([str(kumo), "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, output=lambda: proc.stdout.read() if proc.stdout else "")
        credentials = json.loads(settings.credentials_path.read_text())
        headers = {"Authorization": f"Bearer {credentials['token']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            yield client, settings
    finally:
        stop_process(proc, timeout=20)
