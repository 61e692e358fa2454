"""The built-in trainers run as job processes do (`python -m jobs.builtin.dnn ...` with the
KUMO_* environment), reading data from and writing the snapshot to the object store: on the
embedded file store and on S3. Argument and data errors exit with status 2 and say what to
fix."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits

import jobs
from api.prediction import PredictionService
from engine import saved_model
from jobs.builtin import dnn, linear
from jobs.builtin.common import Trainer, build_parser, main, run
from jobs.executor import settings_env
from storage.config import Settings
from storage.stores import open_store

ROOT = Path(jobs.__file__).resolve().parent.parent
DIGIT_COLUMNS = [f"p{i}" for i in range(64)]


# -- data and helpers (also used by tests/api/test_prediction.py) ----------------------------------
def table_csv(x: np.ndarray, y: Sequence[Any], names: list[str], label: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*names, label])
    for row, target in zip(x, y, strict=True):
        writer.writerow([*(v.item() if isinstance(v, np.generic) else v for v in row), target])
    return out.getvalue().encode()


@cache
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits, shuffled: 1400 training rows, 397 held out (integer pixels)."""
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))
    x, y = data.data[order].astype(np.int64), data.target[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


@cache
def diabetes() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    data = load_diabetes()
    order = np.random.default_rng(0).permutation(len(data.target))
    x, y = data.data[order], data.target[order]
    return x[:350], y[:350], x[350:], y[350:], list(data.feature_names)


def put(settings: Settings, key: str, data: bytes) -> str:
    """Store `data` under `key` in the configured store; its URI."""
    return open_store(settings.resolved_store_url, settings).put_bytes(key, data).uri


def upload_digits(settings: Settings) -> tuple[str, str]:
    train_x, train_y, eval_x, eval_y = digits()
    return (put(settings, "data/digits/train.csv",
                table_csv(train_x, train_y, DIGIT_COLUMNS, "label")),
            put(settings, "data/digits/eval.csv",
                table_csv(eval_x, eval_y, DIGIT_COLUMNS, "label")))


def train_in_process(trainer: Trainer, argv: list[str], settings: Settings) -> dict[str, float]:
    """The trainer's run without a process (for tests that need a snapshot fast)."""
    return run(trainer, build_parser(trainer).parse_args(argv), settings, None)


def run_module(module: str, argv: list[str], settings: Settings,
               metrics_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m jobs.builtin.<module> argv` with the environment a runner gives a job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    env.update(settings_env(settings), PYTHONPATH=str(ROOT))
    if metrics_file is not None:
        env["KUMO_METRICS_FILE"] = str(metrics_file)
    return subprocess.run([sys.executable, "-m", f"jobs.builtin.{module}", *argv], env=env,
                          capture_output=True, text=True, timeout=120, cwd=metrics_file.parent
                          if metrics_file else None)


def read_metrics(path: Path) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        assert set(record) == {"tag", "value", "step", "wall_time"}
        series.setdefault(record["tag"], []).append(record)
    return series


def job_dir(settings: Settings, name: str) -> str:
    return f"{settings.resolved_store_url}/jobs/{name}"


# -- training ---------------------------------------------------------------------------------
def test_dnn_classifies_digits_csv_and_exports_a_servable_snapshot(
        platform_settings: Settings, tmp_path: Path) -> None:
    settings = platform_settings
    train, evaluation = upload_digits(settings)
    metrics_file = tmp_path / "metrics.jsonl"
    done = run_module("dnn", ["--train-files", train, "--eval-files", evaluation,
                              "--label-column", "label", "--model-type", "classification",
                              "--hidden-units", "64,32", "--max-steps", "300",
                              "--job-dir", job_dir(settings, "digits")], settings, metrics_file)
    assert done.returncode == 0, done.stderr
    assert "Step 300/300" in done.stdout and "/jobs/digits/model" in done.stdout

    metrics = read_metrics(metrics_file)
    assert {"loss", "accuracy", "train/loss"} <= set(metrics)
    assert not [tag for tag in metrics if tag.startswith("eval")]  # each line once, re-tagged
    assert [m["step"] for m in metrics["accuracy"]][-1] == 300
    assert metrics["accuracy"][-1]["value"] >= 0.9

    model = open_store(f"{job_dir(settings, 'digits')}/model", settings)
    metadata = saved_model.load(model).metadata
    assert metadata["columns"] == [{"name": n, "type": "numeric"} for n in DIGIT_COLUMNS]
    assert metadata["label_column"] == "label" and metadata["classes"] == list(range(10))
    assert metadata["head"] == "classification" and metadata["trainer"] == "jobs.builtin.dnn"

    _, _, eval_x, eval_y = digits()
    predictions = PredictionService(settings).predict(model.base_uri, eval_x.tolist())
    accuracy = np.mean([p["classes"] for p in predictions] == eval_y)
    assert accuracy >= 0.9


@pytest.mark.parametrize(("module", "steps"), [("linear", 600), ("dnn", 150)])
@pytest.mark.parametrize("units", [1.0, 1000.0])
def test_regression_on_diabetes_beats_the_mean_in_any_units(
        module: str, steps: int, units: float, embedded_settings: Settings,
        tmp_path: Path) -> None:
    """The targets are learnt standardized: scaled by 1000 they train as well as they are,
    and the snapshot predicts in their units."""
    train_x, train_y, eval_x, eval_y, names = diabetes()
    train_y, eval_y = train_y * units, eval_y * units
    settings = embedded_settings
    train = put(settings, "diabetes/train.csv", table_csv(train_x, train_y, names, "target"))
    evaluation = put(settings, "diabetes/eval.csv", table_csv(eval_x, eval_y, names, "target"))
    metrics_file = tmp_path / "metrics.jsonl"
    # Flags as hyperparameter tuning appends them: underscores and `=`.
    done = run_module(module, [f"--train_files={train}", f"--eval_files={evaluation}",
                               "--label_column=target", "--model_type=regression",
                               f"--max_steps={steps}", f"--job_dir={job_dir(settings, module)}"],
                      settings, metrics_file)
    assert done.returncode == 0, done.stderr
    rmse = read_metrics(metrics_file)["rmse"][-1]["value"]
    baseline = float(np.sqrt(np.mean((eval_y - train_y.mean()) ** 2)))
    assert rmse < 0.85 * baseline

    predictions = PredictionService(settings).predict(f"{job_dir(settings, module)}/model",
                                                      eval_x.tolist())
    values = np.array([p["predictions"] for p in predictions])
    assert np.sqrt(np.mean((values - eval_y) ** 2)) == pytest.approx(rmse, rel=1e-4)


def test_npz_arrays_and_named_columns(embedded_settings: Settings, tmp_path: Path) -> None:
    """x/y arrays (x of any shape per example, flattened), no eval files (a share of the
    training rows is held out); and one array per column, with text as a categorical column."""
    settings = embedded_settings
    images = load_digits()
    buffer = io.BytesIO()
    np.savez(buffer, x=images.images, y=images.target)
    uri = put(settings, "digits.npz", buffer.getvalue())
    done = run_module("linear", ["--train-files", uri, "--model-type", "classification",
                                 "--max-steps", "200", "--job-dir", job_dir(settings, "npz")],
                      settings, tmp_path / "metrics.jsonl")
    assert done.returncode == 0, done.stderr
    assert "1438 training rows, 359 evaluation rows" in done.stdout
    assert read_metrics(tmp_path / "metrics.jsonl")["accuracy"][-1]["value"] >= 0.85
    metadata = saved_model.load(open_store(f"{job_dir(settings, 'npz')}/model",
                                           settings)).metadata
    assert [c["name"] for c in metadata["columns"]] == [f"x{i}" for i in range(64)]
    assert metadata["label_column"] == "y"

    rng = np.random.default_rng(1)
    color = rng.choice(["red", "green", "blue"], 300)
    size = rng.normal(10, 3, 300)
    price = np.where(color == "red", 20.0, 5.0) + size
    buffer = io.BytesIO()
    np.savez(buffer, size=size, color=color, price=price)
    uri = put(settings, "prices.npz", buffer.getvalue())
    train_in_process(dnn.TRAINER, ["--train-files", uri, "--label-column", "price",
                                   "--model-type", "regression", "--max-steps", "300",
                                   "--job-dir", job_dir(settings, "prices")], settings)
    service = PredictionService(settings)
    described = service.describe(f"{job_dir(settings, 'prices')}/model")
    assert described["columns"] == [{"name": "size", "type": "numeric"},
                                    {"name": "color", "type": "categorical"}]
    red, blue = service.predict(f"{job_dir(settings, 'prices')}/model",
                                [[10.0, "red"], {"size": 10.0, "color": "blue"}])
    assert red["predictions"] - blue["predictions"] > 8  # the true gap is 15


# -- errors -----------------------------------------------------------------------------------
def test_a_bad_argument_exits_2_naming_the_flag(embedded_settings: Settings) -> None:
    done = run_module("dnn", ["--train-files", "file:///nowhere/train.csv", "--model-type",
                              "classification", "--hidden-units", "64,x",
                              "--job-dir", job_dir(embedded_settings, "bad")],
                      embedded_settings)
    assert done.returncode == 2
    assert "--hidden-units" in done.stderr.splitlines()[-1]


@pytest.fixture
def data_uris(embedded_settings: Settings) -> dict[str, str]:
    """Small CSV files to point the trainer at, by name."""
    ok = table_csv(np.array([[1, "a"], [2, "b"], [3, "a"], [4, "b"], [5, "a"]], dtype=object),
                   [0, 1, 0, 1, 0], ["x", "kind"], "label")
    files = {
        "ok": ok,
        "text_labels": b"x,label\n1,cat\n2,dog\n3,cat\n",
        "no_kind": b"x,label\n1,0\n2,1\n",
        "bad_number": b"x,kind,label\n1,a,0\nlots,b,1\n",
        "ragged": b"x,kind,label\n1,a,0\n2,b\n",
        "gaps": b"x,kind,label\n1,a,0\n,b,1\n3,a,0\n",
        "fractions": b"x,label\n1,0.5\n2,1.5\n3,0.5\n",
        "empty": b"",
    }
    return {name: put(embedded_settings, f"bad/{name}.csv", data)
            for name, data in files.items()}


@pytest.mark.parametrize(("args", "expected"), [
    (["--label-column", "label", "--model-type", "ranking"], "--model-type"),
    (["--label-column", "label", "--max-steps", "0"], "--max-steps"),
    (["--label-column", "label", "--learning-rate", "-1"], "--learning-rate"),
    (["--label-column", "label", "--dropout", "1.5"], "--dropout"),
    (["--label-column", "label", "--no-such-flag", "1"], "--no-such-flag"),
    ([], "--label-column is required"),
    (["--label-column", "price"], "'price' is not a column"),
    (["--label-column", "label", "--train-files", "{missing}"], "does not exist"),
    (["--label-column", "label", "--train-files", "s3:/bucket"], "--train-files"),
    (["--label-column", "label", "--job-dir", "ftp://host/dir"], "--job-dir"),
    (["--label-column", "label", "--eval-files", "{no_kind}"], "lacks the column(s) ['kind']"),
    (["--label-column", "label", "--eval-files", "{bad_number}"], "row 2 holds 'lots'"),
    (["--label-column", "label", "--train-files", "{ragged}"], "line 3: 2 fields"),
    (["--label-column", "label", "--train-files", "{gaps}"], "column 'x'"),
    (["--label-column", "label", "--train-files", "{empty}"], "empty"),
    (["--label-column", "label", "--train-files", "{text_labels}", "--model-type",
      "regression"], "not a number"),
    (["--label-column", "label", "--train-files", "{fractions}"], "non-integer numbers"),
    (["--label-column", "label", "--eval-fraction", "0.01"], "hold out"),
])
def test_unusable_arguments_and_data_exit_2_saying_what_to_fix(
        args: list[str], expected: str, data_uris: dict[str, str],
        embedded_settings: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings_env(embedded_settings).items():
        monkeypatch.setenv(name, value)
    argv = ["--train-files", data_uris["ok"], "--model-type", "classification",
            "--max-steps", "5", "--job-dir", job_dir(embedded_settings, "bad")]
    argv += [a.format(missing=data_uris["ok"] + ".missing", **data_uris) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(dnn.TRAINER if "--dropout" in args else linear.TRAINER, argv)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert "error:" in message and expected in message
