"""Tuning jobs over REST: the HyperparameterSpec is validated at submit (400s naming the field)
and stored with CloudML's defaults; a study run by a real runner shows its trials in
trainingOutput, and its logs and metrics per trial."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from jobs.runner import Runner
from storage.db import Database
from tests.api.conftest import Api
from tests.jobs.helpers import fast_settings, put_package, tar_gz

JOBS = "/v1/projects/default/jobs"
LR = {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1}


def post(api: Api, job_id: str, hyperparameters: Any, **training: Any) -> Any:
    return api.client.post(JOBS, headers=api.admin, json={
        "jobId": job_id, "trainingInput": {"pythonModule": "trainer.task",
                                           "hyperparameters": hyperparameters, **training}})


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"params": []}, "trainingInput.hyperparameters.params is required"),
    ({"goal": "BIGGER", "params": [LR]}, "hyperparameters.goal must be one of"),
    ({"maxTrials": 0, "params": [LR]}, "hyperparameters.maxTrials must be at least 1"),
    ({"maxParallelTrials": "two", "params": [LR]}, "maxParallelTrials must be a number"),
    ({"algorithm": "GRID_SEARCH", "params": [LR]}, "params[0].type DOUBLE cannot be searched "
                                                   "with GRID_SEARCH"),
    ({"params": [{**LR, "scaleType": "UNIT_LOG_SCALE", "minValue": 0}]},
     "params[0].minValue must be positive for UNIT_LOG_SCALE"),
    ({"params": [{"parameterName": "n", "type": "DISCRETE", "discreteValues": [1, 3, 2]}]},
     "discreteValues must be strictly increasing"),
    ({"params": [{"parameterName": "k", "type": "CATEGORICAL"}]},
     "params[0].categoricalValues is required"),
    ({"params": [LR, LR]}, "params[1].parameterName 'lr' is already used"),
    ({"params": [{**LR, "parameterName": "--lr"}]}, "params[0].parameterName must start"),
    ({"maxTrial": 3, "params": [LR]}, "unknown field(s) 'maxTrial'"),
    ({"params": [LR], "resumePreviousJobId": "nope"},
     "resumePreviousJobId: job 'nope' not found in project 'default'"),
])
def test_bad_specs_are_400_naming_the_field(api: Api, spec: dict[str, Any],
                                            fragment: str) -> None:
    reply = post(api, "study", spec)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and fragment in error["message"], error
    assert api.client.get(JOBS, headers=api.admin).json()["jobs"] == []


def test_resume_needs_a_tuning_job_of_the_same_project(api: Api) -> None:
    assert api.client.post(JOBS, headers=api.admin, json={
        "jobId": "plain", "trainingInput": {"pythonModule": "trainer.task"}}).status_code == 200
    reply = post(api, "again", {"params": [LR], "resumePreviousJobId": "plain"})
    assert reply.status_code == 400
    assert "'plain' is not a hyperparameter tuning job" in reply.json()["error"]["message"]

    assert post(api, "first", {"params": [LR]}).status_code == 200
    other = api.project_token("other")
    reply = api.client.post("/v1/projects/other/jobs", headers=other, json={
        "jobId": "second", "trainingInput": {"pythonModule": "trainer.task", "hyperparameters": {
            "params": [LR], "resumePreviousJobId": "first"}}})
    assert reply.status_code == 400 and "not found in project 'other'" in reply.text
    resumed = post(api, "second", {"params": [LR], "resumePreviousJobId": "first",
                                   "maxTrials": "3"})
    assert resumed.status_code == 200, resumed.text
    stored = resumed.json()["trainingInput"]["hyperparameters"]
    assert stored["resumePreviousJobId"] == "first" and stored["maxTrials"] == 3


TASK = """
    import sys
    from jobs.hypertune import HyperTune
    lr = float(sys.argv[sys.argv.index("--job-dir") - 1].split("=")[1])
    print(f"training with lr={lr}", flush=True)
    for step in (1, 2):
        HyperTune().report_hyperparameter_tuning_metric("score", lr * step, global_step=step)
"""


def test_a_study_shows_its_trials_logs_and_metrics(api: Api) -> None:
    settings = fast_settings(api.settings)
    uri = put_package(settings, "task.tar.gz", tar_gz({"trainer/__init__.py": "",
                                                       "trainer/task.py": TASK}))
    reply = post(api, "tuned", {"hyperparameterMetricTag": "score", "maxTrials": 3,
                                "maxParallelTrials": 2, "params": [LR]}, packageUris=[uri])
    assert reply.status_code == 200, reply.text
    db: Database = api.client.app.state.kumo.db  # type: ignore[attr-defined]
    runner, stop = Runner(settings, db), threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while (job := api.client.get(f"{JOBS}/tuned", headers=api.admin).json())["state"] \
                not in ("SUCCEEDED", "FAILED") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
    assert job["state"] == "SUCCEEDED", job["errorMessage"]
    output = job["trainingOutput"]
    assert output["completedTrialCount"] == "3" and output["isHyperparameterTuningJob"]
    best = output["trials"][0]
    lr = float(best["hyperparameters"]["lr"])
    assert best["finalMetric"] == {"trainingStep": "2", "objectiveValue": pytest.approx(2 * lr)}
    assert lr == max(float(t["hyperparameters"]["lr"]) for t in output["trials"])

    trial = best["trialId"]
    logs = api.client.get(f"{JOBS}/tuned/logs", params={"trialId": trial},
                          headers=api.admin).json()["entries"]
    assert {e["trialId"] for e in logs} == {trial}
    assert f"training with lr={lr}" in [e["text"] for e in logs]
    metrics = api.client.get(f"{JOBS}/tuned/metrics", params={"trialId": trial},
                             headers=api.admin).json()["metrics"]
    assert [(p["step"], p["value"]) for p in metrics["score"]] == [
        (1, pytest.approx(lr)), (2, pytest.approx(2 * lr))]
    for what in ("logs", "metrics"):  # a trial the study does not have is a 404, not empty
        reply = api.client.get(f"{JOBS}/tuned/{what}", params={"trialId": "99"},
                               headers=api.admin)
        assert reply.status_code == 404 and "no trial '99'" in reply.text, reply.text
    reply = api.client.get(f"{JOBS}/tuned/logs", params={"trialId": "99", "follow": "true"},
                           headers=api.admin)
    assert reply.status_code == 404, reply.text
