"""The whole user path through the public HTTP API only, against a real `kumo serve` process:
upload digits as CSV, train a DNN classifier as a job, follow its logs, read its metrics,
deploy the exported snapshot as a model version and predict held-out rows.

Runs on the embedded default (file store + SQLite) and on s3:// (moto on loopback) +
PostgreSQL, through the `platform_settings` fixture.
"""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from storage.config import Settings

pytestmark = pytest.mark.timeout(240)


def _csv(x: np.ndarray, y: np.ndarray) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"p{i}" for i in range(x.shape[1])] + ["label"])
    for row, label in zip(x, y, strict=True):
        writer.writerow([*(int(v) for v in row), int(label)])
    return out.getvalue().encode()


def _wait(client: httpx.Client, url: str, done: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resource = client.get(url).raise_for_status().json()
        if resource["state"] in done:
            return resource
        assert time.monotonic() < deadline, f"{url} still {resource['state']}"
        time.sleep(0.3)


def test_upload_train_deploy_predict(server: tuple[httpx.Client, Settings]) -> None:
    client, _ = server
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x, y = digits.data[order], digits.target[order]
    train, held_out = slice(0, 1400), slice(1400, None)

    uploaded = {}
    for name, part in (("train.csv", train), ("eval.csv", held_out)):
        reply = client.put(f"/v1/projects/default/data/digits/{name}",
                           content=_csv(x[part], y[part]))
        assert reply.status_code == 200, reply.text
        uploaded[name] = reply.json()["uri"]
    listed = client.get("/v1/projects/default/data", params={"prefix": "digits/"}).json()
    assert len(json.dumps(listed)) and all(u in json.dumps(listed) for u in uploaded.values())

    job = {"jobId": "digits_dnn_1", "labels": {"dataset": "digits"}, "trainingInput": {
        "pythonModule": "jobs.builtin.dnn", "scaleTier": "BASIC",
        "args": ["--train-files", uploaded["train.csv"], "--eval-files", uploaded["eval.csv"],
                 "--label-column", "label", "--model-type", "classification",
                 "--hidden-units", "64,32", "--max-steps", "600", "--batch-size", "64"]}}
    reply = client.post("/v1/projects/default/jobs", json=job)
    assert reply.status_code == 200, reply.text
    job_dir = reply.json()["trainingInput"].get("jobDir") or reply.json()["jobDir"]

    with client.stream("GET", "/v1/projects/default/jobs/digits_dnn_1/logs",
                       params={"follow": "true"}) as stream:
        assert stream.status_code == 200
        followed = "".join(stream.iter_text())
    described = client.get("/v1/projects/default/jobs/digits_dnn_1").json()
    assert described["state"] == "SUCCEEDED", (described, followed[-3000:])
    assert described["startTime"] and described["endTime"]

    metrics = client.get("/v1/projects/default/jobs/digits_dnn_1/metrics").json()["metrics"]
    assert "accuracy" in metrics and "loss" in metrics, metrics.keys()
    assert metrics["accuracy"][-1]["value"] >= 0.9

    assert client.post("/v1/projects/default/models",
                       json={"name": "digits"}).status_code == 200
    reply = client.post("/v1/projects/default/models/digits/versions",
                        json={"name": "v1", "deploymentUri": f"{job_dir}/model"})
    assert reply.status_code == 200, reply.text
    version = _wait(client, "/v1/projects/default/models/digits/versions/v1",
                    {"READY", "FAILED"})
    assert version["state"] == "READY", version
    assert version["signature"]

    rows = [[int(v) for v in r] for r in x[held_out]]
    reply = client.post("/v1/projects/default/models/digits:predict", json={"instances": rows})
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    assert len(predictions) == len(rows)
    predicted = np.array([int(p["classes"]) for p in predictions])
    assert (predicted == y[held_out]).mean() >= 0.9

    keyed = [{f"p{i}": v for i, v in enumerate(rows[0])}]
    reply = client.post("/v1/projects/default/models/digits/versions/v1:predict",
                        json={"instances": keyed})
    assert reply.status_code == 200, reply.text
    assert reply.json()["predictions"][0]["classes"] == predictions[0]["classes"]

    reply = client.post("/v1/projects/default/models/digits:predict",
                        json={"instances": [rows[0], rows[1][:10]]})
    assert reply.status_code == 400
    assert "1" in reply.json()["error"]["message"]
