"""A live `kumo serve` on a free loopback port, shared by the CLI tests of a session, and
`kumo`: the real CLI (Typer's runner) pointed at it through the environment, as a user's
shell would be (KUMO_HOME holds the credentials the server wrote)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from typer.testing import CliRunner, Result

from api.cli import app
from tests.conftest import free_port, stop_process, wait_ready

KUMO = Path(sys.executable).with_name("kumo")
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
TRAINER_ARGS = ["--label-column", "species", "--model-type", "classification",
                "--hidden-units", "10,20,10", "--max-steps", "300", "--seed", "7"]


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    data_dir: Path

    def env(self, **extra: str | None) -> dict[str, str | None]:
        """The CLI's environment: this server's credentials, no stray KUMO_* settings."""
        unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KUMO_")}
        return {**unset, "KUMO_HOME": str(self.home), "KUMO_DATA_DIR": str(self.data_dir),
                **extra}


def kumo(server: Server, *args: str, input: str | None = None,
         **env: str | None) -> Result:
    """Run `kumo ARGS` in this process with the server's environment."""
    return CliRunner().invoke(app, list(args), input=input, env=server.env(**env))


def ok(result: Result) -> Result:
    """A command that must succeed."""
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def one_line_failure(result: Result) -> str:
    """The error line of a command that must fail cleanly: a non-zero exit, exactly one
    line `kumo: ...` on stderr, no traceback and nothing raised but the exit."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kumo: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@contextmanager
def running(argv: list[str], root: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A kumo process on the embedded setup under `root` (its output in root/<verb>.log),
    terminated at the end."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    full_env.update(KUMO_HOME=str(root / "home"), KUMO_DATA_DIR=str(root / "kumo-data"),
                    KUMO_HEARTBEAT_INTERVAL="0.5", KUMO_LOG_LEVEL="WARNING", **env)
    with open(root / f"{argv[0]}.log", "wb") as log:
        proc = subprocess.Popen([str(KUMO), *argv], env=full_env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            stop_process(proc)


@contextmanager
def serving(root: Path, *options: str) -> Iterator[Server]:
    """`kumo serve OPTIONS` (the console script) on a free loopback port, once ready."""
    port = free_port()
    srv = Server(url=f"http://127.0.0.1:{port}", home=root / "home",
                 data_dir=root / "kumo-data")
    with running(["serve", "--port", str(port), *options], root) as proc:
        wait_ready(proc, srv.url, output=(root / "serve.log").read_text)
        assert json.loads((srv.home / "credentials").read_text())["url"] == srv.url
        yield srv


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server of the session's CLI tests."""
    with serving(tmp_path_factory.mktemp("kumo-server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """iris_train.csv and iris_eval.csv as the README makes them (every fifth row held out)."""
    root = tmp_path_factory.mktemp("iris")
    data = load_iris()
    species = ["setosa", "versicolor", "virginica"]
    paths = []
    for name, rows in (("train", [i for i in range(150) if i % 5]),
                       ("eval", range(0, 150, 5))):
        path = root / f"iris_{name}.csv"
        with open(path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(IRIS_COLUMNS)
            out.writerows([*data.data[i], species[data.target[i]]] for i in rows)
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture(scope="session")
def iris_job(server: Server, iris_csv: tuple[Path, Path]) -> dict[str, Any]:
    """The iris data uploaded and a DNN trained on it with `--stream-logs` (job cli_iris)."""
    train, evaluation = iris_csv
    upload = kumo(server, "data", "upload", str(train), "cli/iris/train.csv")
    eval_uri = ok(kumo(server, "data", "upload", str(evaluation), "cli/iris/",
                       "--format", "value(uri)")).stdout.strip()
    train_uri = ok(upload).stdout.split()[0]
    submit = kumo(server, "jobs", "submit", "training", "cli_iris", "--module-name",
                  "jobs.builtin.dnn", "--labels", "suite=cli", "--stream-logs", "--",
                  "--train-files", train_uri, "--eval-files", eval_uri, *TRAINER_ARGS)
    return {"upload": upload, "train_uri": train_uri, "eval_uri": eval_uri, "submit": submit}
