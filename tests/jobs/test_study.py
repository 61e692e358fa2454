"""Hyperparameter tuning studies end to end: a real runner, real trial processes (the built-in
DNN trainer on a slice of digits, or tiny modules whose metric is designed), the real DB."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.prediction import PredictionService
from api.services.jobs import cancel_job
from jobs import queue
from jobs.hypertune import HyperTune
from jobs.runner import Runner
from jobs.study import Study, format_value, median_to_beat, study_seed, value_at
from jobs.tuning.search import make_searcher
from jobs.tuning.spec import parse_spec
from storage.config import Settings
from storage.db import Database
from storage.models import Job, LogLine, Metric, Project, Trial
from storage.stores import open_store
from tests.jobs.helpers import fast_settings, job_row, pid_gone, wait_for, wait_state
from tests.jobs.test_builtin_trainers import DIGIT_COLUMNS, digits, put, table_csv

# Reports `score` through the hypertune reporter: trial 4 (when --bad-trial 4) stays far
# behind and slow, the others finish at once.
CURVE = """
    import os, sys, time
    from jobs.hypertune import HyperTune
    bad = os.environ["CLOUD_ML_TRIAL_ID"] == "4"
    reporter = HyperTune()
    for step in range(1, 11):
        reporter.report_hyperparameter_tuning_metric("score", 0.1 if bad else 0.8 + step / 100,
                                                     global_step=step)
        time.sleep(0.5 if bad else 0.01)
"""

# --mode ok reports score = x; crash raises; silent exits 0 without reporting. With --pids,
# first writes its pid there, reports x and waits until the file --gate exists.
FLAKY = """
    import argparse, os, time
    from jobs.hypertune import HyperTune
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--pids")
    parser.add_argument("--gate")
    parser.add_argument("--job-dir")
    args = parser.parse_args()
    if args.pids:
        with open(args.pids, "a") as f:
            f.write(f"{os.getpid()}\\n")
        HyperTune().report_hyperparameter_tuning_metric("score", args.x)
        while not os.path.exists(args.gate):
            time.sleep(0.02)
    if args.mode == "crash":
        raise ValueError("boom")
    if args.mode == "ok":
        HyperTune().report_hyperparameter_tuning_metric("score", args.x)
"""


def submit_study(db: Database, settings: Settings, module: str, hyperparameters: dict[str, Any],
                 *, job_id: str, args: list[str] | None = None,
                 package_uris: list[str] | None = None) -> int:
    """Queue a tuning job as the API does (spec normalized); its primary key."""
    with db.session() as session:
        if session.get(Project, "default") is None:
            session.add(Project(name="default"))
            session.flush()
        job = Job(project="default", job_id=job_id,
                  training_input={"pythonModule": module, "args": args or [],
                                  "packageUris": package_uris or [],
                                  "hyperparameters": parse_spec(hyperparameters).to_api()},
                  job_dir=f"{settings.resolved_store_url}/projects/default/jobs/{job_id}")
        session.add(job)
        session.flush()
        return job.id


def trials(db: Database, pk: int) -> list[Trial]:
    with db.session() as session:
        rows = list(session.scalars(select(Trial).where(Trial.job_pk == pk).order_by(Trial.id)))
        session.expunge_all()
        return rows


def metric_count(db: Database, pk: int) -> int:
    with db.session() as session:
        return len(session.scalars(select(Metric.id).where(Metric.job_pk == pk)).all())


def output_trials(db: Database, pk: int) -> list[dict[str, Any]]:
    return job_row(db, pk).training_output["trials"]


@pytest.fixture
def digits_args(job_settings: Settings) -> list[str]:
    """The DNN trainer on 300 digits, 20 steps: about a second a trial."""
    train_x, train_y, eval_x, eval_y = digits()
    train = put(job_settings, "digits/train.csv",
                table_csv(train_x[:300], train_y[:300], DIGIT_COLUMNS, "label"))
    evaluation = put(job_settings, "digits/eval.csv",
                     table_csv(eval_x[:100], eval_y[:100], DIGIT_COLUMNS, "label"))
    return ["--train-files", train, "--eval-files", evaluation, "--label-column", "label",
            "--model-type", "classification", "--hidden-units", "8", "--max-steps", "20",
            "--eval-every-steps", "10"]


# -- the built-in DNN trainer ------------------------------------------------------------------
def test_grid_runs_every_combination_once_and_reports_best_first(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        digits_args: list[str]) -> None:
    pk = submit_study(job_db, job_settings, "jobs.builtin.dnn", {
        "algorithm": "GRID_SEARCH", "hyperparameterMetricTag": "accuracy", "maxTrials": 10,
        "maxParallelTrials": 2, "params": [
            {"parameterName": "learning_rate", "type": "DISCRETE",
             "discreteValues": [0.05, 0.3]},
            {"parameterName": "hidden_units", "type": "CATEGORICAL",
             "categoricalValues": ["8", "16,8"]}]}, job_id="grid", args=digits_args)
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED", timeout=60)
    assert job.state == "SUCCEEDED", job.error_message

    rows = trials(job_db, pk)
    assert sorted(r.trial_id for r in rows) == ["1", "2", "3", "4"]  # the grid, then done
    assert sorted((r.hyperparameters["learning_rate"], r.hyperparameters["hidden_units"])
                  for r in rows) == sorted(product([0.05, 0.3], ["8", "16,8"]))
    output = job.training_output
    assert output["isHyperparameterTuningJob"] is True
    assert output["completedTrialCount"] == "4" and output["hyperparameterMetricTag"] == "accuracy"
    values = [t["finalMetric"]["objectiveValue"] for t in output["trials"]]
    assert values == sorted(values, reverse=True)  # MAXIMIZE: best first
    for entry in output["trials"]:
        assert entry["state"] == "SUCCEEDED" and not entry["isTrialStoppedEarly"]
        assert entry["finalMetric"]["trainingStep"] == "20"
        assert entry["startTime"] <= entry["endTime"]
    # Each trial: its own values on the command line, its own job dir, its own logs/metrics.
    with job_db.session() as session:
        commands = dict(session.execute(select(LogLine.trial_id, LogLine.text).where(
            LogLine.job_pk == pk, LogLine.text.startswith("Running: "))).all())
        metric_trials = set(session.scalars(select(Metric.trial_id).where(Metric.job_pk == pk)))
    assert metric_trials == {"1", "2", "3", "4"}
    for row in rows:
        hp = row.hyperparameters
        assert (f"--learning_rate={format_value(hp['learning_rate'])} "
                f"--hidden_units={hp['hidden_units']} --job-dir {job.job_dir}/{row.trial_id}"
                in commands[row.trial_id])
        store = open_store(f"{job.job_dir}/{row.trial_id}/model", job_settings)
        assert store.exists("model.json")
    # The best trial's snapshot is a deployment URI as it is: it serves predictions.
    served = PredictionService(job_settings).predict(
        f"{job.job_dir}/{output['trials'][0]['trialId']}/model", digits()[2][:3].tolist())
    assert len(served) == 3 and all(p["classes"] in range(10) for p in served), served


def test_random_search_draws_over_orders_of_magnitude_reproducibly(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        digits_args: list[str]) -> None:
    spec = {"algorithm": "RANDOM_SEARCH", "hyperparameterMetricTag": "loss",
            "goal": "MINIMIZE", "maxTrials": 4, "params": [
                {"parameterName": "learning-rate", "type": "DOUBLE", "minValue": 1e-4,
                 "maxValue": 1.0, "scaleType": "UNIT_LOG_SCALE"}]}
    pk = submit_study(job_db, job_settings, "jobs.builtin.dnn", spec, job_id="rand",
                      args=digits_args)
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED", timeout=60)
    assert job.state == "SUCCEEDED", job.error_message
    rates = [r.hyperparameters["learning-rate"] for r in trials(job_db, pk)]
    assert len(rates) == 4 and all(1e-4 <= r <= 1.0 for r in rates)
    assert math.log10(max(rates) / min(rates)) >= 1  # log-uniform, not bunched near 1
    # The searcher is seeded by the job: the same job ID gets the same draws.
    searcher, drawn = make_searcher(parse_spec(spec), study_seed("default", "rand")), []
    for _ in rates:
        drawn += searcher.suggest([], drawn, 1)
    assert [d["learning-rate"] for d in drawn] == rates
    losses = [t["finalMetric"]["objectiveValue"] for t in job.training_output["trials"]]
    assert losses == sorted(losses)  # MINIMIZE: best first


def test_bayesian_study_with_parallel_trials_completes(
        backend_settings: Settings, databases: Callable[[Settings], Database],
        start_runner: Callable[..., Runner], digits_args: list[str]) -> None:
    job_settings, job_db = backend_settings, databases(backend_settings)
    pk = submit_study(job_db, job_settings, "jobs.builtin.dnn", {
        "hyperparameterMetricTag": "accuracy", "maxTrials": 6, "maxParallelTrials": 2,
        "params": [{"parameterName": "learning_rate", "type": "DOUBLE", "minValue": 0.01,
                    "maxValue": 0.5, "scaleType": "UNIT_LOG_SCALE"},
                   {"parameterName": "hidden_units", "type": "INTEGER", "minValue": 4,
                    "maxValue": 32}]}, job_id="bayes", args=digits_args)
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED", timeout=60)
    assert job.state == "SUCCEEDED", job.error_message
    rows = trials(job_db, pk)
    assert [r.trial_id for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert len({tuple(sorted(r.hyperparameters.items())) for r in rows}) == 6
    assert all(isinstance(r.hyperparameters["hidden_units"], int) for r in rows)
    assert job.training_output["completedTrialCount"] == "6"


# -- designed trials ---------------------------------------------------------------------------
def test_early_stopping_stops_a_trial_behind_the_median(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str]) -> None:
    pk = submit_study(job_db, job_settings, "trainer.curve", {
        "algorithm": "RANDOM_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 4,
        "enableTrialEarlyStopping": True, "params": [
            {"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]},
        job_id="early", package_uris=[trainer_package(curve=CURVE)])
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED", timeout=30)
    assert job.state == "SUCCEEDED", job.error_message
    by_id = {t["trialId"]: t for t in job.training_output["trials"]}
    bad = by_id["4"]
    assert bad["state"] == "SUCCEEDED" and bad["isTrialStoppedEarly"] is True
    assert bad["finalMetric"]["objectiveValue"] == 0.1
    assert int(bad["finalMetric"]["trainingStep"]) < 10  # stopped, not finished
    assert [t["trialId"] for t in job.training_output["trials"]][-1] == "4"
    assert not any(by_id[i]["isTrialStoppedEarly"] for i in "123")
    assert job.training_output["completedTrialCount"] == "4"


def test_resume_continues_numbering_and_skips_what_was_tried(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str]) -> None:
    uri = trainer_package(flaky=FLAKY)
    spec = {"algorithm": "GRID_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 2,
            "params": [{"parameterName": "x", "type": "DISCRETE",
                        "discreteValues": [1, 2, 3, 4]}]}
    first = submit_study(job_db, job_settings, "trainer.flaky", spec, job_id="first",
                         package_uris=[uri])
    start_runner(job_settings, job_db)
    assert wait_state(job_db, first, "SUCCEEDED", "FAILED").state == "SUCCEEDED"
    second = submit_study(job_db, job_settings, "trainer.flaky",
                          {**spec, "resumePreviousJobId": "first"}, job_id="second",
                          package_uris=[uri])
    job = wait_state(job_db, second, "SUCCEEDED", "FAILED")
    assert job.state == "SUCCEEDED", job.error_message
    assert [(r.trial_id, r.hyperparameters["x"]) for r in trials(job_db, first)] == [
        ("1", 1), ("2", 2)]
    assert [(r.trial_id, r.hyperparameters["x"]) for r in trials(job_db, second)] == [
        ("3", 3), ("4", 4)]
    assert [t["trialId"] for t in job.training_output["trials"]] == ["4", "3"]


def test_failed_trials_are_recorded_and_the_study_goes_on(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str]) -> None:
    pk = submit_study(job_db, job_settings, "trainer.flaky", {
        "algorithm": "GRID_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 4,
        "maxFailedTrials": 3, "params": [
            {"parameterName": "mode", "type": "CATEGORICAL",
             "categoricalValues": ["crash", "silent", "ok"]},
            {"parameterName": "x", "type": "DISCRETE", "discreteValues": [0.5]}]},
        job_id="flaky", package_uris=[trainer_package(flaky=FLAKY)])
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert job.state == "SUCCEEDED", job.error_message
    ok, crash, silent = job.training_output["trials"]  # the succeeded one first
    assert ok["trialId"] == "3" and ok["finalMetric"] == {"trainingStep": "1",
                                                          "objectiveValue": 0.5}
    assert crash["state"] == "FAILED" and "ValueError: boom" in crash["errorMessage"]
    assert silent["state"] == "FAILED" and "finalMetric" not in silent
    assert "reported no value for hyperparameterMetricTag 'score'" in silent["errorMessage"]
    assert job.training_output["completedTrialCount"] == "1"


def test_too_many_failed_trials_fail_the_job(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str]) -> None:
    """maxFailedTrials 0: the job fails once more than half of maxTrials failed."""
    pk = submit_study(job_db, job_settings, "trainer.flaky", {
        "algorithm": "GRID_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 3,
        "params": [{"parameterName": "mode", "type": "CATEGORICAL",
                    "categoricalValues": ["crash", "silent", "ok"]}]},
        job_id="broken", package_uris=[trainer_package(flaky=FLAKY)])
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert job.state == "FAILED"
    assert job.error_message.startswith("2 trials failed, more than half of maxTrials (3)")
    assert "reported no value" in job.error_message  # the last failure says why
    assert [r.state for r in trials(job_db, pk)] == ["FAILED", "FAILED"]  # "ok" never ran


def test_cancel_stops_running_trials(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str], tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pk = submit_study(job_db, job_settings, "trainer.flaky", {
        "algorithm": "RANDOM_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 5,
        "maxParallelTrials": 2, "params": [
            {"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]},
        job_id="cancel_me", args=["--pids", str(pids), "--gate", str(tmp_path / "never")],
        package_uris=[trainer_package(flaky=FLAKY)])
    start_runner(job_settings, job_db, kill_grace=1.0)
    running = wait_for(lambda: pids.exists() and len(lines := pids.read_text().split()) == 2
                       and lines, what="two trials running")
    wait_state(job_db, pk, "RUNNING")
    with job_db.session() as session:
        cancel_job(session, "default", "cancel_me")
    job = wait_state(job_db, pk, "CANCELLED", "FAILED", "SUCCEEDED")
    assert job.state == "CANCELLED"
    assert all(pid_gone(int(pid)) for pid in running)
    assert [r.state for r in trials(job_db, pk)] == ["CANCELLED", "CANCELLED"]
    assert [t["state"] for t in output_trials(job_db, pk)] == ["CANCELLED", "CANCELLED"]


def test_a_runner_failure_mid_study_leaves_no_trial_running(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own error stops the study's trials, records how they ended and fails the
    job; no trial is left RUNNING in the job's resource."""
    launch, pids = Study._launch, tmp_path / "pids"

    def failing_launch(self: Study) -> None:  # breaks once the first trial runs
        if pids.exists():
            raise RuntimeError("the searcher broke")
        launch(self)

    monkeypatch.setattr(Study, "_launch", failing_launch)
    pk = submit_study(job_db, job_settings, "trainer.flaky", {
        "algorithm": "RANDOM_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 3,
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]},
        job_id="broken", args=["--pids", str(pids), "--gate", str(tmp_path / "never")],
        package_uris=[trainer_package(flaky=FLAKY)])
    start_runner(job_settings, job_db, kill_grace=1.0)
    job = wait_state(job_db, pk, "FAILED", "SUCCEEDED", "CANCELLED")
    assert job.state == "FAILED" and "the searcher broke" in job.error_message
    assert pid_gone(int(pids.read_text().split()[0]))
    assert [r.state for r in trials(job_db, pk)] == ["CANCELLED"]
    assert [t["state"] for t in output_trials(job_db, pk)] == ["CANCELLED"]


def test_a_study_cancelled_before_its_first_trial_started_ends_cancelled(
        job_settings: Settings, databases: Callable[[Settings], Database],
        start_runner: Callable[..., Runner], trainer_package: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelled while PREPARING: the first trial's start finds it so and the study ends
    CANCELLED, as a plain job does, trying no other trial (a slow heartbeat, so the study
    does not wait for it to notice)."""
    settings = fast_settings(job_settings, heartbeat_interval=5.0, heartbeat_timeout=60.0)
    db = databases(settings)
    mark_running = queue.mark_running

    def cancelled_meanwhile(session: Session, pk: int, runner_id: str, **kwargs: Any) -> bool:
        cancel_job(session, "default", "late")
        return mark_running(session, pk, runner_id, **kwargs)

    monkeypatch.setattr(queue, "mark_running", cancelled_meanwhile)
    pk = submit_study(db, settings, "trainer.flaky", {
        "algorithm": "GRID_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 3,
        "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3]}]},
        job_id="late", package_uris=[trainer_package(flaky=FLAKY)])
    start_runner(settings, db)
    job = wait_state(db, pk, "CANCELLED", "FAILED", "SUCCEEDED")
    assert job.state == "CANCELLED", job.error_message
    assert [(r.trial_id, r.state) for r in trials(db, pk)] == [("1", "CANCELLED")]


def test_a_runner_shutdown_gives_trials_back_and_the_next_runner_reruns_them(
        job_settings: Settings, job_db: Database, start_runner: Callable[..., Runner],
        trainer_package: Callable[..., str], tmp_path: Path) -> None:
    pids, gate = tmp_path / "pids", tmp_path / "go"
    pk = submit_study(job_db, job_settings, "trainer.flaky", {
        "algorithm": "GRID_SEARCH", "hyperparameterMetricTag": "score", "maxTrials": 3,
        "maxParallelTrials": 2, "params": [
            {"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3]}]},
        job_id="restart", args=["--pids", str(pids), "--gate", str(gate)],
        package_uris=[trainer_package(flaky=FLAKY)])
    first = start_runner(job_settings, job_db, kill_grace=1.0)
    wait_for(lambda: metric_count(job_db, pk) == 2, what="two trials reporting")
    first.stop()
    assert job_row(job_db, pk).state == "QUEUED"
    assert [(r.trial_id, r.state) for r in trials(job_db, pk)] == [("1", "QUEUED"),
                                                                    ("2", "QUEUED")]
    gate.touch()
    start_runner(job_settings, job_db)
    job = wait_state(job_db, pk, "SUCCEEDED", "FAILED")
    assert job.state == "SUCCEEDED", job.error_message
    assert [(r.trial_id, r.hyperparameters["x"], r.state) for r in trials(job_db, pk)] == [
        ("1", 1, "SUCCEEDED"), ("2", 2, "SUCCEEDED"), ("3", 3, "SUCCEEDED")]
    assert [t["trialId"] for t in job.training_output["trials"]] == ["3", "2", "1"]
    with job_db.session() as session:  # two values each: the first attempt's were cleared
        assert sorted(session.scalars(select(Metric.trial_id).where(Metric.job_pk == pk))) \
            == ["1", "1", "2", "2", "3", "3"]


# -- pieces ------------------------------------------------------------------------------------
def test_median_stopping_rule() -> None:
    completed = [[(1, 0.5), (5, 0.7)], [(2, 0.6)], [(1, 0.4), (4, 0.9)], [(9, 0.1)]]
    assert value_at(completed[0], 4) == 0.5 and value_at(completed[3], 4) is None
    # At step 4: values 0.5, 0.6, 0.9 (the 4th trial has none yet); median 0.6.
    assert median_to_beat("MAXIMIZE", (4, 0.55), completed) == 0.6
    assert median_to_beat("MAXIMIZE", (4, 0.6), completed) is None  # not worse
    assert median_to_beat("MINIMIZE", (4, 0.65), completed) == 0.6
    assert median_to_beat("MAXIMIZE", (1, 0.0), completed) is None  # 2 values < 3 needed


def test_values_as_flags() -> None:
    assert [format_value(v) for v in (32, 32.0, 0.001, 1e-7, "16,8")] == [
        "32", "32", "0.001", "1e-07", "16,8"]


def test_hypertune_reporter_appends_lines_the_collector_parses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.collect import parse_metric_line

    path = tmp_path / "sub" / "metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(path))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "7")
    reporter = HyperTune()
    reporter.report_hyperparameter_tuning_metric("accuracy", 0.5, global_step=10)
    reporter.report_hyperparameter_tuning_metric("accuracy", 0.75)
    points = [parse_metric_line(line)[0] for line in path.read_text().splitlines()]
    assert [(p.tag, p.value, p.step) for p in points] == [("accuracy", 0.5, 10),
                                                         ("accuracy", 0.75, None)]
    with pytest.raises(ValueError, match="finite"):
        reporter.report_hyperparameter_tuning_metric("accuracy", float("nan"))
