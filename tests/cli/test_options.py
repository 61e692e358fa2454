"""The CLI's own pieces, no server: global options, credentials, output formats, help on
every command, and a start-up that loads no heavy module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from api.cli import app, hoist_global_options
from api.cli.client import credentials_path
from api.cli.output import emit, plot
from storage.config import Settings

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("httpx", "rich", "yaml", "numpy", "engine", "fastapi", "uvicorn", "sqlalchemy",
         "pydantic", "pydantic_settings", "jobs", "storage")


@pytest.mark.parametrize(("args", "hoisted"), [
    (["jobs", "list", "--format", "json"], ["--format", "json", "jobs", "list"]),
    (["jobs", "list", "--format=json", "--server", "http://h:1"],
     ["--format=json", "--server", "http://h:1", "jobs", "list"]),
    (["jobs", "submit", "training", "j", "--project", "p", "--", "--format", "x"],
     ["--project", "p", "jobs", "submit", "training", "j", "--", "--format", "x"]),
    (["--format", "json", "models", "list"], ["--format", "json", "models", "list"]),
])
def test_global_options_may_follow_the_command(args: list[str], hoisted: list[str]) -> None:
    assert hoist_global_options(args) == hoisted


@pytest.mark.parametrize("home", [None, "/tmp/kumo-home", "~/elsewhere"])
def test_credentials_path_is_the_servers(monkeypatch: pytest.MonkeyPatch,
                                         home: str | None) -> None:
    monkeypatch.delenv("KUMO_HOME", raising=False)
    if home is not None:
        monkeypatch.setenv("KUMO_HOME", home)
    assert credentials_path() == Settings().credentials_path


def test_value_and_json_formats(capsys: pytest.CaptureFixture[str]) -> None:
    jobs = [{"jobId": "a", "state": "RUNNING", "labels": {"team": "ml"}, "x": None},
            {"jobId": "b", "state": "QUEUED", "labels": {}}]
    emit("value(jobId, labels.team,state)", jobs, print)
    emit("value(labels)", jobs[0], print)
    assert capsys.readouterr().out == 'a\tml\tRUNNING\nb\t\tQUEUED\n{"team":"ml"}\n'
    emit("json", jobs, print)
    assert json.loads(capsys.readouterr().out) == jobs


def test_plot_draws_every_point_inside_its_axes() -> None:
    lines = plot([(10, 0.5), (20, 0.25), (30, 0.125)], width=30, height=5)
    assert lines[0].startswith("  0.5 ┤•") and lines[4].startswith("0.125 ┤")
    assert lines[4].endswith("•") and sum(line.count("•") for line in lines) == 3
    assert lines[5] == "      └" + "─" * 30 and lines[6].split() == ["10", "30"]


def _commands(group: typer.main.TyperGroup, path: list[str]) -> Iterator[list[str]]:
    for name, command in group.commands.items():
        if isinstance(command, typer.main.TyperGroup):
            yield from _commands(command, [*path, name])
        else:
            yield [*path, name]


def _groups(group: typer.main.TyperGroup, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, command in group.commands.items():
        if isinstance(command, typer.main.TyperGroup):
            yield from _groups(command, [*path, name])


ROOT_GROUP = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT_GROUP, []))


def test_every_verb_of_the_design_is_there() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert names == {
        "serve", "worker", "admin-token", "predict", "data upload", "data list", "data download",
        "data delete", "jobs submit training", "jobs describe", "jobs list", "jobs cancel",
        "jobs stream-logs", "jobs metrics", "models create", "models list", "models describe",
        "models delete", "versions create", "versions list", "versions describe",
        "versions set-default", "versions delete", "local train", "local predict"}


@pytest.mark.parametrize("command", COMMANDS + list(_groups(ROOT_GROUP, [])),
                         ids=lambda c: " ".join(["kumo", *c]))
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    """An `Example:` or `Examples:` section whose lines run this very command."""
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    heading = next(i for i, line in enumerate(lines)
                   if line.strip() in ("Example:", "Examples:"))
    examples = []
    for line in lines[heading + 1:]:
        if not line.startswith("    "):
            break
        examples.append(line)
    assert any(" ".join(["kumo", *command]) in line for line in examples), lines


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("kumo 0.")


SERVER_SIDE = ("numpy", "engine", "fastapi", "uvicorn", "sqlalchemy", "jobs", "storage")
"""What no REST verb needs: the engine, the server and its database."""
PRINT_MODULES = ("import atexit, json, sys; atexit.register(lambda: print(json.dumps("
                 "sorted(sys.modules)), file=sys.stderr)); sys.argv[0] = 'kumo'; "
                 "from api.cli import main; main()")


@pytest.mark.parametrize(("args", "unwanted"), [
    (["--help"], HEAVY),  # only Typer and the CLI
    (["jobs", "list", "--help"], SERVER_SIDE),  # Typer's parameter checks bring pydantic
    (["jobs", "list", "--server", "http://127.0.0.1:9"], SERVER_SIDE),  # httpx, the request
])
def test_start_up_loads_no_heavy_module(args: list[str], unwanted: tuple[str, ...]) -> None:
    """The modules loaded by the time the process exits (sys.modules, printed at exit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    proc = subprocess.run([sys.executable, "-c", PRINT_MODULES, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == (1 if "--server" in args else 0), proc.stderr
    loaded = {name.split(".")[0] for name in json.loads(proc.stderr.splitlines()[-1])}
    assert "typer" in loaded and not loaded & set(unwanted), sorted(loaded & set(unwanted))
