"""The README's walkthrough, run as written: its ```sh blocks (before the REST subsection),
then the tuning section's (its ```yaml block saved as the hptuning_config.yaml it names), in
one bash session against a live server, in a fresh directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Server, kumo

pytestmark = pytest.mark.timeout(300)

README = Path(__file__).resolve().parents[2] / "README.md"


def section(start: str, end: str) -> str:
    text = README.read_text()
    part = text[text.index(f"\n{start}\n"):]
    return part[:part.index(f"\n{end}\n")]


def blocks(text: str, language: str) -> list[str]:
    found = re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)
    assert found, f"no ```{language} block in the README section"
    return found


def walkthrough_script() -> str:
    walkthrough = section("## Walkthrough", "### REST")
    tuning = section("## Hyperparameter tuning", "## Configuration")
    config = f"cat > hptuning_config.yaml <<'YAML'\n{blocks(tuning, 'yaml')[0]}YAML\n"
    return "\n".join([*blocks(walkthrough, "sh"), config, *blocks(tuning, "sh")])


def test_the_readme_walkthrough_runs(server: Server, tmp_path: Path) -> None:
    script = walkthrough_script()
    commands = [line.split()[1] for line in script.splitlines()
                if line.lstrip().startswith("kumo ")]
    assert {"local", "data", "jobs", "models", "versions", "predict"} <= set(commands)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    env.update(KUMO_HOME=str(server.home),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=260)
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
    assert "Job iris_tuned SUCCEEDED in " in out
    assert "Version tuned of model iris is READY" in out
    trials = kumo(server, "jobs", "describe", "iris_tuned", "--format",
                  "value(trainingOutput.trials)")
    assert len(json.loads(trials.stdout)) == 6
