"""The verbs and options the walkthrough leaves out, through the real CLI against the live
server: where the server, project and token come from; directories uploaded recursively,
downloads and deletes; a tuning job from a package and an unchanged CloudML
hptuning_config.yaml, with its trials' logs and metrics; models and versions described,
created --async and deleted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.cli.client import DEFAULT_SERVER, Cli
from tests.cli.conftest import Server, kumo, ok, one_line_failure
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(240)

# Cloud ML Engine's census sample's hptuning_config.yaml, as it is written there (but for
# maxTrials), with a machine shape that --scale-tier overrides.
HPTUNING_CONFIG = """\
trainingInput:
  scaleTier: CUSTOM
  masterType: complex_model_m
  hyperparameters:
    goal: MAXIMIZE
    hyperparameterMetricTag: accuracy
    maxTrials: 2
    maxParallelTrials: 1
    enableTrialEarlyStopping: True
    params:
    - parameterName: first-layer-size
      type: INTEGER
      minValue: 50
      maxValue: 500
      scaleType: UNIT_LINEAR_SCALE
    - parameterName: scale-factor
      type: DOUBLE
      minValue: 0.1
      maxValue: 1.0
      scaleType: UNIT_REVERSE_LOG_SCALE
"""
TASK = """\
import argparse

from jobs.hypertune import HyperTune

parser = argparse.ArgumentParser()
parser.add_argument("--first-layer-size", type=int)
parser.add_argument("--scale-factor", type=float)
parser.add_argument("--steps", type=int)
parser.add_argument("--job-dir")
args = parser.parse_args()
print(f"training with scale={args.scale_factor}", flush=True)
for step in range(1, args.steps + 1):
    HyperTune().report_hyperparameter_tuning_metric(
        "accuracy", args.scale_factor * step / args.steps, global_step=step)
"""


def admin(server: Server) -> httpx.Client:
    token = json.loads((server.home / "credentials").read_text())["token"]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def test_server_and_token_come_from_flag_env_or_credentials(server: Server,
                                                            tmp_path: Path) -> None:
    """--server beats KUMO_SERVER, which beats the credentials file's URL; the token is the
    file's unless KUMO_TOKEN says otherwise."""
    dead = f"http://127.0.0.1:{free_port()}"
    saved = json.loads((server.home / "credentials").read_text())
    (tmp_path / "credentials").write_text(json.dumps({"url": dead, "token": saved["token"]}))
    home = str(tmp_path)
    assert f"cannot reach the kumo server at {dead} (" in one_line_failure(
        kumo(server, "jobs", "list", KUMO_HOME=home))
    ok(kumo(server, "jobs", "list", KUMO_HOME=home, KUMO_SERVER=server.url))
    ok(kumo(server, "jobs", "list", "--server", server.url, KUMO_HOME=home, KUMO_SERVER=dead))
    assert one_line_failure(kumo(server, "jobs", "list", "--server", server.url,
                                 KUMO_HOME=home, KUMO_TOKEN="bad")) == \
        "kumo: UNAUTHENTICATED: invalid token (token from KUMO_TOKEN)"


def test_the_default_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUMO_SERVER", raising=False)
    monkeypatch.delenv("KUMO_TOKEN", raising=False)
    monkeypatch.setenv("KUMO_HOME", str(tmp_path))
    api = Cli(None, "default", "text").api
    assert (api.server, api.token) == (DEFAULT_SERVER, None) == ("http://127.0.0.1:8080", None)


def test_project_flag_and_env(server: Server, tmp_path: Path) -> None:
    """--project (or KUMO_PROJECT) picks the project; --format json prints the API's own
    resources."""
    with admin(server) as http:
        http.post("/v1/projects", json={"name": "cli-other"}).raise_for_status()
        (tmp_path / "only-here.csv").write_text("x\n1\n")
        ok(kumo(server, "data", "upload", str(tmp_path / "only-here.csv"), "--project",
                "cli-other"))
        listed = json.loads(ok(kumo(server, "data", "list", "--project", "cli-other",
                                    "--format", "json")).stdout)
        assert listed == http.get("/v1/projects/cli-other/data").json()["objects"]
    assert [o["path"] for o in listed] == ["only-here.csv"]
    assert ok(kumo(server, "data", "list", "--format", "value(path)",
                   KUMO_PROJECT="cli-other")).stdout == "only-here.csv\n"
    assert "only-here.csv" not in ok(kumo(server, "data", "list")).stdout
    assert one_line_failure(kumo(server, "jobs", "list", "--project", "nope")) == \
        "kumo: NOT_FOUND: project 'nope' not found"


def test_directories_upload_recursively_then_download_and_delete(server: Server,
                                                                 tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": "a\n", "sub/b.txt": "bb\n", "sub/big.txt": "x" * (5 << 19),
             "sub/deeper/c.txt": "ccc\n"}
    for name, text in files.items():
        (tree / name).write_text(text)
    upload = ok(kumo(server, "data", "upload", str(tree), "verbs/tree"))
    assert [line.split("/data/", 1)[1] for line in upload.stdout.splitlines()] == [
        f"verbs/tree/{name}  ({len(text)} bytes)" for name, text in sorted(files.items())]
    # One bar for the whole tree, its bytes/s measured over the chunks (1 MiB each).
    assert "2.6/2.6 MB" in upload.stderr, upload.stderr
    assert re.search(r" \d+(\.\d+)? (bytes|kB|MB|GB)/s ", upload.stderr), upload.stderr
    assert ok(kumo(server, "data", "list", "verbs/tree/", "--format",
                   "value(path,size)")).stdout.splitlines() == [
        f"verbs/tree/{name}\t{len(text)}" for name, text in sorted(files.items())]

    out = tmp_path / "out"
    out.mkdir()
    download = ok(kumo(server, "data", "download", "verbs/tree/sub/deeper/c.txt", str(out)))
    assert download.stdout == f"{out / 'c.txt'}  (4 bytes)\n"
    assert (out / "c.txt").read_text() == "ccc\n" and [p.name for p in out.iterdir()] == ["c.txt"]
    renamed = json.loads(ok(kumo(server, "data", "download", "verbs/tree/a.txt",
                                 str(out / "renamed.txt"), "--format", "json")).stdout)
    assert renamed["file"] == str(out / "renamed.txt") and renamed["size"] == 2
    assert one_line_failure(kumo(server, "data", "download", "verbs/tree/a.txt",
                                 str(out / "missing" / "a.txt"))) == \
        f"kumo: cannot write {out / 'missing' / 'a.txt'}: No such file or directory"
    assert sorted(p.name for p in out.iterdir()) == ["c.txt", "renamed.txt"]

    assert ok(kumo(server, "data", "delete", "verbs/tree/a.txt")).stdout == \
        "Deleted verbs/tree/a.txt.\n"
    left = ok(kumo(server, "data", "list", "verbs/tree/", "--format", "value(path)")).stdout
    assert left.split() == [f"verbs/tree/{name}" for name in sorted(files) if name != "a.txt"]
    assert one_line_failure(kumo(server, "data", "delete", "verbs/tree/a.txt")).startswith(
        "kumo: NOT_FOUND: ")


@pytest.fixture(scope="module")
def tuning_job(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A study of a user package, from CloudML's config file, waited for with the spinner."""
    root = tmp_path_factory.mktemp("tuning")
    (root / "trainer").mkdir()
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text(TASK)
    (root / "hptuning_config.yaml").write_text(HPTUNING_CONFIG)
    submit = ok(kumo(server, "jobs", "submit", "training", "cli_tuned", "--module-name",
                     "trainer.task", "--package-path", str(root / "trainer"), "--config",
                     str(root / "hptuning_config.yaml"), "--scale-tier", "BASIC", "--labels",
                     "suite=verbs,kind=tuning", "--", "--steps", "3"))
    job = json.loads(ok(kumo(server, "jobs", "describe", "cli_tuned", "--format",
                             "json")).stdout)
    return {"submit": submit, "job": job}


def test_a_tuning_job_from_a_package_and_cloudml_config(tuning_job: dict[str, Any]) -> None:
    assert tuning_job["submit"].stdout.startswith("Job cli_tuned SUCCEEDED in ")
    job = tuning_job["job"]
    training = job["trainingInput"]
    assert training["scaleTier"] == "BASIC" and training["masterType"] == "complex_model_m"
    (package,) = training["packageUris"]  # in a folder of its own: a resubmit replaces nothing
    assert re.search(r"/data/packages/cli_tuned/[0-9a-f]{12}/trainer.tar.gz$", package)
    bar = tuning_job["submit"].stderr.splitlines()  # the upload's, on one line
    assert len(bar) == 1 and bar[0].startswith("packages/cli_tuned/") and "bytes" in bar[0]
    assert training["args"] == ["--steps", "3"]
    given = yaml.safe_load(HPTUNING_CONFIG)["trainingInput"]["hyperparameters"]
    assert {key: training["hyperparameters"][key] for key in given} == given
    assert job["labels"] == {"suite": "verbs", "kind": "tuning"}
    assert job["trainingOutput"]["completedTrialCount"] == "2"


def test_a_refused_resubmit_leaves_the_jobs_package_alone(server: Server, tmp_path: Path,
                                                         tuning_job: dict[str, Any]) -> None:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("raise SystemExit('other code')\n")
    refused = kumo(server, "jobs", "submit", "training", "cli_tuned", "--module-name",
                   "trainer.task", "--package-path", str(tmp_path / "trainer"), "--async")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.stderr.splitlines()[-1] == \
        "kumo: ALREADY_EXISTS: job 'cli_tuned' already exists in project 'default'"
    (package,) = tuning_job["job"]["trainingInput"]["packageUris"]
    objects = json.loads(ok(kumo(server, "data", "list", "packages/cli_tuned/", "--format",
                                 "json")).stdout)
    assert len(objects) == 2 and objects[0]["uri"] == package
    assert objects[0]["sha256"] != objects[1]["sha256"]


def test_trials_logs_and_metrics(server: Server, tuning_job: dict[str, Any]) -> None:
    trials = {t["trialId"]: float(t["hyperparameters"]["scale-factor"])
              for t in tuning_job["job"]["trainingOutput"]["trials"]}
    assert sorted(trials) == ["1", "2"]
    logs = ok(kumo(server, "jobs", "stream-logs", "cli_tuned")).stdout.splitlines()
    for trial, scale in trials.items():
        assert f"[trial {trial}] training with scale={scale}" in logs
    assert "[kumo] Study finished: 2 trial(s) succeeded, 0 failed" in "\n".join(logs)
    only_two = ok(kumo(server, "jobs", "stream-logs", "cli_tuned", "--trial", "2"))
    assert only_two.stdout.splitlines() and all(
        line.startswith("[trial 2] ") for line in only_two.stdout.splitlines())

    table = ok(kumo(server, "jobs", "metrics", "cli_tuned")).stdout.splitlines()
    assert table[0].split() == ["TRIAL", "TAG", "STEP", "VALUE"]
    assert [row.split()[:3] for row in table[1:]] == [["1", "accuracy", "3"],
                                                      ["2", "accuracy", "3"]]
    assert [float(row.split()[3]) for row in table[1:]] == pytest.approx(
        [trials["1"], trials["2"]], rel=1e-3)
    assert one_line_failure(kumo(server, "jobs", "metrics", "cli_tuned", "--plot",
                                 "accuracy")) == \
        "kumo: metric 'accuracy' comes from 2 trials (1, 2); choose one with --trial"
    assert one_line_failure(kumo(server, "jobs", "metrics", "cli_tuned", "--plot", "loss")) \
        == "kumo: job cli_tuned has no metric 'loss'; it has: accuracy"
    chart = ok(kumo(server, "jobs", "metrics", "cli_tuned", "--plot", "accuracy", "--trial",
                    "2")).stdout.splitlines()
    assert chart[0] == "accuracy of job cli_tuned, over steps:"
    assert sum(line.count("•") for line in chart) == 3 and chart[-1].split() == ["1", "3"]
    points = json.loads(ok(kumo(server, "jobs", "metrics", "cli_tuned", "--trial", "1",
                                "--format", "json")).stdout)["metrics"]["accuracy"]
    assert [p["step"] for p in points] == [1, 2, 3] and {p["trialId"] for p in points} == {"1"}


def test_local_train_runs_a_package_as_a_job_would(server: Server, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The package as the platform unpacks it; its hypertune reports in metrics.jsonl."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text(TASK)
    ok(kumo(server, "local", "train", "--module-name", "trainer.task", "--package-path",
            "trainer", "--job-dir", "out", "--", "--steps", "2", "--scale-factor", "0.5"))
    reports = [json.loads(line) for line in (tmp_path / "out/metrics.jsonl").read_text()
               .splitlines()]
    assert [(r["global_step"], r["accuracy"]) for r in reports] == [(1, 0.25), (2, 0.5)]


def test_models_and_versions_describe_async_and_delete(server: Server,
                                                       iris_job: dict[str, Any]) -> None:
    ok(iris_job["submit"])
    job_dir = ok(kumo(server, "jobs", "describe", "cli_iris", "--format",
                      "value(jobDir)")).stdout.strip()
    ok(kumo(server, "models", "create", "cli_crud", "--labels", "team=ml"))
    ok(kumo(server, "versions", "create", "v1", "--model", "cli_crud", "--origin",
            f"{job_dir}/model"))
    later = json.loads(ok(kumo(server, "versions", "create", "v2", "--model", "cli_crud",
                               "--origin", f"{job_dir}/model", "--async", "--format",
                               "json")).stdout)
    assert later["name"] == "v2" and later["state"] in ("CREATING", "READY")

    model = ok(kumo(server, "models", "describe", "cli_crud")).stdout
    assert "name: cli_crud" in model and "team: ml" in model and "name: v1" in model
    version = ok(kumo(server, "versions", "describe", "v1", "--model", "cli_crud")).stdout
    assert "state: READY" in version and "isDefault: true" in version
    assert "signature:" in version and "instanceFormat:" in version  # what to send

    failed = one_line_failure(kumo(server, "versions", "create", "broken", "--model",
                                   "cli_crud", "--origin", f"{job_dir}/no_such_model"))
    assert failed.startswith("kumo: version broken FAILED: ")
    assert one_line_failure(kumo(server, "models", "delete", "cli_crud")).startswith(
        "kumo: FAILED_PRECONDITION: ")
    for name in ("broken", "v2", "v1"):
        assert ok(kumo(server, "versions", "delete", name, "--model", "cli_crud")).stdout == \
            f"Deleted version {name} of model cli_crud.\n"
    assert ok(kumo(server, "models", "delete", "cli_crud")).stdout == \
        "Deleted model cli_crud.\n"
    assert one_line_failure(kumo(server, "models", "describe", "cli_crud")).startswith(
        "kumo: NOT_FOUND: ")
