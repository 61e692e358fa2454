"""The README's walkthrough, run as written: its ```sh blocks (before the REST subsection)
in one bash session against a live server, in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Server, kumo

pytestmark = pytest.mark.timeout(240)

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_script() -> str:
    text = README.read_text()
    section = text[text.index("\n## Walkthrough\n"):]
    section = section[:section.index("\n### REST\n")]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)
    assert blocks, "the README's walkthrough has no ```sh block"
    return "\n".join(blocks)


def test_the_readme_walkthrough_runs(server: Server, tmp_path: Path) -> None:
    script = walkthrough_script()
    commands = [line.split()[1] for line in script.splitlines()
                if line.lstrip().startswith("kumo ")]
    assert {"local", "data", "jobs", "models", "versions", "predict"} <= set(commands)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    env.update(KUMO_HOME=str(server.home),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    out = proc.stdout
    assert out.count("\nsetosa ") == 2  # the tables of local predict and predict
    assert '"classes": "versicolor"' in out  # predict --format json, from stdin
    assert "Job iris_dnn_1 SUCCEEDED in " in out
    assert "Version v1 of model iris is READY (the default)." in out
    assert "Version v2 of model iris is READY (the default)." in out
    assert re.search(r"^Cancell(ed|ing) job iris_dnn_2", out, re.M)
    assert "•" in out  # the metrics chart
    assert kumo(server, "jobs", "describe", "iris_dnn_2", "--format",
                "value(state)").stdout.strip() in ("CANCELLING", "CANCELLED")
