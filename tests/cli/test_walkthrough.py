"""The user's path through the real CLI against a live server: upload with a progress bar,
submit a built-in DNN job with --stream-logs, deploy it, predict from a file and from stdin,
set the default version, cancel a running job, list with filters; and `kumo local train` +
`kumo local predict` giving the server's predictions for the same seed."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import Result

from tests.cli.conftest import TRAINER_ARGS, Server, kumo, ok, one_line_failure

pytestmark = pytest.mark.timeout(240)

INSTANCES = ["[5.1, 3.5, 1.4, 0.2]",
             '{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, '
             '"petal_width": 2.3}',
             "[6.0, 2.2, 4.0, 1.0]"]


def predictions(result: Result) -> list[dict[str, Any]]:
    return json.loads(ok(result).stdout)["predictions"]


def assert_same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert [p["classes"] for p in a] == [p["classes"] for p in b]
    np.testing.assert_allclose([p["probabilities"] for p in a],
                               [p["probabilities"] for p in b], rtol=1e-5, atol=1e-6)


def test_upload_shows_a_progress_bar_and_prints_the_uri(server: Server,
                                                        iris_job: dict[str, Any]) -> None:
    upload = iris_job["upload"]
    assert upload.stdout.startswith("file://") and "cli/iris/train.csv" in upload.stdout
    assert "cli/iris/train.csv" in upload.stderr and "kB" in upload.stderr  # the bar
    assert iris_job["eval_uri"].endswith("/cli/iris/iris_eval.csv")
    listed = ok(kumo(server, "data", "list", "cli/")).stdout.splitlines()
    assert listed[0].split() == ["PATH", "SIZE", "CREATED"]
    assert [line.split()[0] for line in listed[1:]] == ["cli/iris/train.csv",
                                                       "cli/iris/iris_eval.csv"]


def test_submit_streams_the_logs_until_success(server: Server,
                                               iris_job: dict[str, Any]) -> None:
    out = ok(iris_job["submit"]).stdout
    assert "[kumo] Running: python -m jobs.builtin.dnn" in out
    assert "Step 300/300" in out and "Exported the model to" in out
    assert out.rstrip().splitlines()[-1].startswith("Job cli_iris SUCCEEDED in ")

    job = json.loads(ok(kumo(server, "jobs", "describe", "cli_iris", "--format",
                             "json")).stdout)
    assert job["state"] == "SUCCEEDED" and job["labels"] == {"suite": "cli"}
    assert "state: SUCCEEDED" in ok(kumo(server, "jobs", "describe", "cli_iris")).stdout
    metrics = ok(kumo(server, "jobs", "metrics", "cli_iris")).stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in metrics[1:]}
    assert metrics[0].split() == ["TAG", "STEP", "VALUE"] and rows["accuracy"][0] == "300"
    assert float(rows["accuracy"][1]) >= 0.9
    chart = ok(kumo(server, "jobs", "metrics", "cli_iris", "--plot", "loss")).stdout
    assert "•" in chart and "300" in chart.splitlines()[-1]


def test_deploy_then_predict_from_a_file_and_from_stdin(server: Server, iris_job: dict[str, Any],
                                                        tmp_path: Path) -> None:
    ok(iris_job["submit"])
    job_dir = ok(kumo(server, "jobs", "describe", "cli_iris", "--format",
                      "value(jobDir)")).stdout.strip()
    assert "Created model cli_flowers." in ok(kumo(server, "models", "create", "cli_flowers",
                                                   "--description", "iris")).stdout
    created = ok(kumo(server, "versions", "create", "v1", "--model", "cli_flowers",
                      "--origin", f"{job_dir}/model"))
    assert created.stdout.strip() == "Version v1 of model cli_flowers is READY (the default)."
    (tmp_path / "instances.json").write_text("\n".join(INSTANCES) + "\n")

    table = ok(kumo(server, "predict", "--model", "cli_flowers", "--json-instances",
                    str(tmp_path / "instances.json"))).stdout.splitlines()
    assert table[0].split() == ["CLASSES", "PROBABILITIES", "LOGITS"]
    assert [row.split()[0] for row in table[1:]] == ["setosa", "virginica", "versicolor"]
    from_stdin = predictions(kumo(server, "predict", "--model", "cli_flowers",
                                  "--json-instances", "-", "--format", "json",
                                  input=INSTANCES[0] + "\n"))
    assert from_stdin[0]["classes"] == "setosa" and len(from_stdin) == 1
    request = json.dumps({"instances": [json.loads(i) for i in INSTANCES]})
    assert [p["classes"] for p in predictions(kumo(
        server, "predict", "--model", "cli_flowers", "--version", "v1", "--json-request", "-",
        "--format", "json", input=request))] == ["setosa", "virginica", "versicolor"]
    assert "cli_flowers  v1" in ok(kumo(server, "models", "list")).stdout
    assert one_line_failure(kumo(server, "predict", "--model", "cli_flowers",
                                 "--json-instances", "-", input="[1, 2]\n")).startswith(
        "kumo: INVALID_ARGUMENT: instance 0: expected 4 values")


def test_local_train_and_predict_match_the_server(server: Server, iris_job: dict[str, Any],
                                                  iris_csv: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Same data, same seed: the local snapshot predicts what the server's does; deployed
    from the local directory and made the default, the server serves it alike."""
    ok(iris_job["submit"])
    monkeypatch.chdir(tmp_path)
    train, evaluation = iris_csv
    (tmp_path / "instances.json").write_text("\n".join(INSTANCES) + "\n")
    job_dir = ok(kumo(server, "jobs", "describe", "cli_iris", "--format",
                      "value(jobDir)")).stdout.strip()
    ok(kumo(server, "models", "create", "cli_local"))
    ok(kumo(server, "versions", "create", "server_run", "--model", "cli_local", "--origin",
            f"{job_dir}/model"))
    served = predictions(kumo(server, "predict", "--model", "cli_local", "--json-instances",
                              "instances.json", "--format", "json"))

    ok(kumo(server, "local", "train", "--module-name", "jobs.builtin.dnn", "--job-dir",
            "local_run", "--", "--train-files", str(train), "--eval-files", str(evaluation),
            *TRAINER_ARGS))
    assert (tmp_path / "local_run/model/model.json").exists()
    tags = {json.loads(line)["tag"] for line in
            (tmp_path / "local_run/metrics.jsonl").read_text().splitlines()}
    assert {"loss", "accuracy", "train/loss"} <= tags
    local = predictions(kumo(server, "local", "predict", "--model-dir", "local_run/model",
                             "--json-instances", "instances.json", "--format", "json"))
    assert_same(local, served)

    created = ok(kumo(server, "versions", "create", "local_run", "--model", "cli_local",
                      "--origin", "local_run/model"))
    assert created.stdout.strip() == "Version local_run of model cli_local is READY."
    uploaded = ok(kumo(server, "versions", "describe", "local_run", "--model", "cli_local",
                       "--format", "value(deploymentUri)")).stdout.strip()
    assert re.search(r"/data/models/cli_local/local_run/[0-9a-f]{12}/?$", uploaded), uploaded
    assert "(the default)" in ok(kumo(server, "versions", "set-default", "local_run",
                                      "--model", "cli_local")).stdout
    listed = ok(kumo(server, "versions", "list", "--model", "cli_local")).stdout.splitlines()
    assert listed[0].split() == ["NAME", "STATE", "DEFAULT", "DEPLOYMENT_URI"]
    assert ok(kumo(server, "versions", "list", "--model", "cli_local", "--format",
                   "value(name,state,isDefault)")).stdout.splitlines() == [
        "server_run\tREADY\tfalse", "local_run\tREADY\ttrue"]
    assert_same(predictions(kumo(server, "predict", "--model", "cli_local", "--json-instances",
                                 "instances.json", "--format", "json")), local)


def test_cancel_a_running_job_then_list_with_filters(server: Server,
                                                     iris_job: dict[str, Any]) -> None:
    ok(iris_job["submit"])
    submitted = ok(kumo(server, "jobs", "submit", "training", "cli_long", "--module-name",
                        "jobs.builtin.dnn", "--labels", "suite=cli", "--async", "--",
                        "--train-files", iris_job["train_uri"], *TRAINER_ARGS,
                        "--max-steps", "10000000"))
    assert submitted.stdout.startswith("Job cli_long submitted (QUEUED).")
    deadline = time.monotonic() + 60
    while (state := ok(kumo(server, "jobs", "describe", "cli_long", "--format",
                            "value(state)")).stdout.strip()) != "RUNNING":
        assert state in ("QUEUED", "PREPARING") and time.monotonic() < deadline, state
        time.sleep(0.2)
    cancelled = ok(kumo(server, "jobs", "cancel", "cli_long"))
    assert cancelled.stdout.strip() == "Cancelling job cli_long: its process is being stopped."
    line = one_line_failure(kumo(server, "jobs", "stream-logs", "cli_long"))
    assert line.startswith("kumo: job cli_long CANCELLED")

    listed = ok(kumo(server, "jobs", "list", "--filter", "state=CANCELLED")).stdout
    assert "cli_long" in listed and "cli_iris" not in listed
    assert ok(kumo(server, "jobs", "list", "--filter", "labels.suite=cli AND state=SUCCEEDED",
                   "--format", "value(jobId)")).stdout == "cli_iris\n"
    newest = json.loads(ok(kumo(server, "jobs", "list", "--filter", "labels.suite=cli",
                                "--limit", "1", "--format", "json")).stdout)
    assert [j["jobId"] for j in newest] == ["cli_long"]
