"""Jobs over REST: submit, describe, list (filters, pages), cancel, logs and metrics. The
runner's side (state changes, log lines, metric points) is played by writing DB rows."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from storage import models
from tests.api.conftest import Api

JOBS = "/v1/projects/default/jobs"


def submit(api: Api, job_id: str, **fields: Any) -> dict[str, Any]:
    body = {"jobId": job_id, "trainingInput": {"pythonModule": "trainer.task"}} | fields
    reply = api.client.post(JOBS, json=body, headers=api.admin)
    assert reply.status_code == 200, reply.text
    return reply.json()


def set_state(api: Api, job_id: str, state: str) -> None:
    with api.client.app.state.kumo.db.session() as session:  # type: ignore[attr-defined]
        session.execute(update(models.Job).where(models.Job.job_id == job_id)
                        .values(state=state))


def job_pk(api: Api, job_id: str) -> int:
    with api.client.app.state.kumo.db.session() as session:  # type: ignore[attr-defined]
        return session.scalars(select(models.Job.id).where(models.Job.job_id == job_id)).one()


def test_submit_and_describe(platform_api: Api) -> None:
    job = submit(platform_api, "census_1", labels={"team": "ml"}, trainingInput={
        "pythonModule": "trainer.task", "args": ["--epochs", "3"], "scaleTier": "BASIC_GPU",
        "packageUris": ["s3://bucket/pkg.tar.gz"], "runtimeVersion": "1.15",
        "hyperparameters": {"maxTrials": 4, "params": [
            {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1}]}})
    job_dir = f"{platform_api.settings.resolved_store_url}/projects/default/jobs/census_1"
    assert job["state"] == "QUEUED" and job["jobId"] == "census_1"
    assert job["jobDir"] == job["trainingInput"]["jobDir"] == job_dir
    assert job["trainingInput"]["hyperparameters"] == {  # CloudML's defaults filled in
        "goal": "MAXIMIZE", "hyperparameterMetricTag": "training/hptuning/metric",
        "maxTrials": 4, "maxParallelTrials": 1, "maxFailedTrials": 0,
        "enableTrialEarlyStopping": False, "algorithm": "ALGORITHM_UNSPECIFIED",
        "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1}]}
    assert job["trainingInput"]["runtimeVersion"] == "1.15"
    assert job["labels"] == {"team": "ml"}
    assert job["createTime"].endswith("Z") and job["startTime"] is None
    described = platform_api.client.get(f"{JOBS}/census_1", headers=platform_api.admin).json()
    assert described == job
    own = submit(platform_api, "own_dir", trainingInput={"pythonModule": "m",
                                                         "jobDir": "file:///tmp/out/"})
    assert own["jobDir"] == "file:///tmp/out"


def test_duplicate_job_is_409(api: Api) -> None:
    submit(api, "j1")
    reply = api.client.post(JOBS, headers=api.admin, json={
        "jobId": "j1", "trainingInput": {"pythonModule": "m"}})
    assert reply.status_code == 409 and reply.json()["error"]["status"] == "ALREADY_EXISTS"


@pytest.mark.parametrize(("body", "fragment"), [
    ({"jobId": "1abc"}, "jobId '1abc' is invalid"),
    ({"jobId": "has-dash"}, "jobId 'has-dash' is invalid"),
    ({"jobId": "x" * 129}, "at most 128"),
    ({"jobId": ""}, "jobId '' is invalid"),
    ({"labels": {"Team": "ml"}}, "label key 'Team'"),
    ({"labels": {"team": "M L"}}, "label 'team' value"),
    ({"trainingInput": {}}, "trainingInput.pythonModule: Field required"),
    ({"trainingInput": {"pythonModule": "rm -rf"}}, "not a Python module name"),
    ({"trainingInput": {"pythonModule": "m", "packageUris": ["gs://b/p.tar.gz"]}},
     "must be an s3:// or file:// URI"),
    ({"trainingInput": {"pythonModule": "m", "jobDir": "/tmp/x"}}, "jobDir '/tmp/x'"),
    ({"trainingInput": {"pythonModule": "m", "hyperparameters": [1]}},
     "trainingInput.hyperparameters"),
    ({"trainingInput": {"pythonModule": "m", "scaleTier": "HUGE"}},
     "trainingInput.scaleTier"),
    ({"trainingInput": {"pythonModule": "m", "args": "--epochs 3"}}, "trainingInput.args"),
    ({"trainingInput": {"pythonModule": "m", "pythonModul": "x"}},
     "trainingInput.pythonModul: Extra inputs are not permitted"),
])
def test_bad_submissions_are_400_naming_the_problem(api: Api, body: dict[str, Any],
                                                    fragment: str) -> None:
    full = {"jobId": "ok", "trainingInput": {"pythonModule": "m"}} | body
    reply = api.client.post(JOBS, json=full, headers=api.admin)
    assert reply.status_code == 400, reply.text
    assert fragment in reply.json()["error"]["message"]
    assert api.client.get(JOBS, headers=api.admin).json()["jobs"] == []


def test_list_filters_and_pages(platform_api: Api) -> None:
    api = platform_api
    for i in range(5):
        submit(api, f"job_{i}", labels={"team": "ml" if i % 2 else "data", "n": str(i)})
    set_state(api, "job_1", "RUNNING")
    set_state(api, "job_3", "RUNNING")

    def ids(**params: Any) -> list[str]:
        reply = api.client.get(JOBS, params=params, headers=api.admin)
        assert reply.status_code == 200, reply.text
        return [j["jobId"] for j in reply.json()["jobs"]]

    assert ids() == ["job_4", "job_3", "job_2", "job_1", "job_0"]  # newest first
    assert ids(filter="state=RUNNING") == ["job_3", "job_1"]
    assert ids(filter="labels.team=ml") == ["job_3", "job_1"]
    assert ids(filter='labels.team="data" AND state=QUEUED') == ["job_4", "job_2", "job_0"]
    assert ids(filter="state=RUNNING AND labels.n=3") == ["job_3"]
    assert ids(filter="jobId=job_2") == ["job_2"]
    assert ids(filter="labels.nothere=x") == []

    pages, token = [], None
    while True:
        params = {"pageSize": 2} | ({"pageToken": token} if token else {})
        page = api.client.get(JOBS, params=params, headers=api.admin).json()
        pages.append([j["jobId"] for j in page["jobs"]])
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == [["job_4", "job_3"], ["job_2", "job_1"], ["job_0"]]


@pytest.mark.parametrize(("params", "fragment"), [
    ({"filter": "state=SLEEPING"}, "unknown state 'SLEEPING'"),
    ({"filter": "owner=me"}, "unknown field 'owner'"),
    ({"filter": "state RUNNING"}, "is not key=value"),
    ({"filter": "state=RUNNING OR state=QUEUED"}, "is not key=value"),
    ({"pageSize": 0}, "pageSize"), ({"pageSize": 1001}, "pageSize"),
    ({"pageToken": "bm90LWpzb24"}, "pageToken is invalid"),
])
def test_bad_list_parameters_are_400(api: Api, params: dict[str, Any], fragment: str) -> None:
    reply = api.client.get(JOBS, params=params, headers=api.admin)
    assert reply.status_code == 400, reply.text
    assert fragment in reply.json()["error"]["message"]


def test_cancel(api: Api) -> None:
    submit(api, "queued")
    reply = api.client.post(f"{JOBS}/queued:cancel", headers=api.admin)
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "CANCELLED" and reply.json()["endTime"]

    submit(api, "running")
    set_state(api, "running", "RUNNING")
    assert api.client.post(f"{JOBS}/running:cancel",
                           headers=api.admin).json()["state"] == "CANCELLING"
    assert api.client.post(f"{JOBS}/running:cancel",  # again: still on its way
                           headers=api.admin).json()["state"] == "CANCELLING"

    set_state(api, "running", "SUCCEEDED")
    for ended in ("queued", "running"):
        reply = api.client.post(f"{JOBS}/{ended}:cancel", headers=api.admin)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["status"] == "FAILED_PRECONDITION"
        assert "already ended" in reply.json()["error"]["message"]
    assert api.client.post(f"{JOBS}/nope:cancel", headers=api.admin).status_code == 404
    assert api.client.post(f"{JOBS}/queued:explode", headers=api.admin).status_code in (404,
                                                                                        405)


def add_logs(api: Api, job_id: str, lines: list[tuple[str, str]],
             trial: str | None = None) -> None:
    pk = job_pk(api, job_id)
    with api.client.app.state.kumo.db.session() as session:  # type: ignore[attr-defined]
        if trial is not None:
            session.add(models.Trial(job_pk=pk, trial_id=trial))
        session.add_all(models.LogLine(job_pk=pk, stream=s, text=t, trial_id=trial)
                        for s, t in lines)


def test_logs_pages(api: Api) -> None:
    submit(api, "talky")
    add_logs(api, "talky", [("stdout", f"line {i}") for i in range(5)])
    add_logs(api, "talky", [("stderr", "trial says hi")], trial="1")
    url = f"{JOBS}/talky/logs"
    page = api.client.get(url, params={"pageSize": 4}, headers=api.admin).json()
    assert [e["text"] for e in page["entries"]] == [f"line {i}" for i in range(4)]
    assert set(page["entries"][0]) == {"time", "stream", "text", "trialId"}
    rest = api.client.get(url, params={"pageToken": page["nextPageToken"]},
                          headers=api.admin).json()
    assert [(e["stream"], e["text"], e["trialId"]) for e in rest["entries"]] == [
        ("stdout", "line 4", None), ("stderr", "trial says hi", "1")]
    assert rest["nextPageToken"] is None
    trial = api.client.get(url, params={"trialId": "1"}, headers=api.admin).json()
    assert [e["text"] for e in trial["entries"]] == ["trial says hi"]
    assert api.client.get(f"{JOBS}/nope/logs", headers=api.admin).status_code == 404


def test_follow_streams_until_the_job_ends(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.services.jobs.FOLLOW_POLL_SECONDS", 0.05)
    submit(api, "live")
    add_logs(api, "live", [("stdout", "starting")])

    def runner() -> None:  # plays the runner: more output, then the end
        time.sleep(0.3)
        set_state(api, "live", "RUNNING")
        add_logs(api, "live", [("stdout", f"step {i}") for i in range(3)])
        time.sleep(0.3)
        add_logs(api, "live", [("system", "done")])
        set_state(api, "live", "SUCCEEDED")

    thread = threading.Thread(target=runner)
    thread.start()
    with api.client.stream("GET", f"{JOBS}/live/logs", params={"follow": "true"},
                           headers=api.admin) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "application/x-ndjson"
        entries = [orjson.loads(line) for line in stream.iter_lines() if line]
    thread.join()
    assert [e["text"] for e in entries] == ["starting", "step 0", "step 1", "step 2", "done"]
    reply = api.client.get(f"{JOBS}/nope/logs", params={"follow": "true"}, headers=api.admin)
    assert reply.status_code == 404


def test_metrics_series(api: Api) -> None:
    submit(api, "learner")
    pk = job_pk(api, "learner")
    with api.client.app.state.kumo.db.session() as session:  # type: ignore[attr-defined]
        for step, loss in ((20, 0.5), (10, 0.9)):
            session.add(models.Metric(job_pk=pk, tag="loss", step=step, value=loss,
                                      wall_time=1000.0 + step))
        session.add(models.Trial(job_pk=pk, trial_id="2"))
        session.add(models.Metric(job_pk=pk, tag="accuracy", step=20, value=0.8,
                                  wall_time=1020.0, trial_id="2"))
    metrics = api.client.get(f"{JOBS}/learner/metrics", headers=api.admin).json()["metrics"]
    assert metrics == {
        "accuracy": [{"step": 20, "value": 0.8, "wallTime": 1020.0, "trialId": "2"}],
        "loss": [{"step": 10, "value": 0.9, "wallTime": 1010.0, "trialId": None},
                 {"step": 20, "value": 0.5, "wallTime": 1020.0, "trialId": None}]}
    trial = api.client.get(f"{JOBS}/learner/metrics", params={"trialId": "2"},
                           headers=api.admin).json()["metrics"]
    assert list(trial) == ["accuracy"]
