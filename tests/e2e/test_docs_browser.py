"""/docs renders Swagger UI in a real headless Chromium with no network: every asset comes
from kumo itself. Skipped where Debian's `chromium` is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from storage.config import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
              pytest.mark.timeout(120)]

# No background traffic and no host name resolves: a page that renders here needs nothing
# but the kumo server on 127.0.0.1.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
         "--virtual-time-budget=15000", "--window-size=1280,1000"]


@pytest.fixture
def platform_settings(embedded_settings: Settings) -> Settings:
    return embedded_settings


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=90, check=True)


def test_swagger_ui_renders_offline(server: tuple[httpx.Client, Settings],
                                    tmp_path: Path) -> None:
    client, _ = server
    url = str(client.base_url.join("/docs"))
    dom = _chromium(tmp_path, "--dump-dom", url).stdout
    # These nodes exist only once swagger-ui's JavaScript has run and fetched openapi.json.
    assert 'class="swagger-ui' in dom
    assert "opblock-tag" in dom and "/v1/projects/{project}/jobs" in dom
    shot = tmp_path / "docs.png"
    _chromium(tmp_path, f"--screenshot={shot}", url)
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a blank page is a few KB
