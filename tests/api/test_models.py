"""Models and versions over REST: a real snapshot (made with the engine, uploaded through
the data API) becomes READY and predicts; a bad one becomes FAILED saying why."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import engine as tf
from api.app import create_app
from storage import models
from tests.api.conftest import Api

MODELS = "/v1/projects/default/models"


@pytest.fixture(scope="module")
def snapshot_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """y = x @ [[1], [2]] + 0.5 for x of shape [None, 2], as snapshot files."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        w = tf.Variable([[1.0], [2.0]], name="w")
        y = tf.matmul(x, w) + 0.5
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = tf.saved_model.save(sess, tmp_path_factory.mktemp("snap") / "m",
                                       {"x": x}, {"y": y})
    return {p.name: p.read_bytes() for p in Path(path).iterdir()}


def deploy_uri(api: Api, files: dict[str, bytes], prefix: str = "snap") -> str:
    """Upload the snapshot files through the data API; the URI of their prefix."""
    for name, content in files.items():
        reply = api.client.put(f"/v1/projects/default/data/{prefix}/{name}", content=content,
                               headers=api.admin)
        assert reply.status_code == 200, reply.text
    return f"{api.settings.resolved_store_url}/projects/default/data/{prefix}"


def call(api: Api, method: str, path: str, body: Any = None, code: int = 200) -> Any:
    reply = api.client.request(method, f"{MODELS}{path}", json=body, headers=api.admin)
    assert reply.status_code == code, reply.text
    return reply.json()


def test_model_and_version_lifecycle(platform_api: Api, snapshot_files: dict[str, bytes]
                                     ) -> None:
    api = platform_api
    uri = deploy_uri(api, snapshot_files)
    model = call(api, "POST", "", {"name": "m1", "description": "linear",
                                   "labels": {"team": "ml"}})
    assert model["defaultVersion"] is None and model["labels"] == {"team": "ml"}
    assert call(api, "POST", "", {"name": "m1"}, 409)["error"]["status"] == "ALREADY_EXISTS"
    assert [m["name"] for m in call(api, "GET", "")["models"]] == ["m1"]

    created = call(api, "POST", "/m1/versions", {"name": "v1", "deploymentUri": uri + "/"})
    assert created["state"] == "CREATING" and created["deploymentUri"] == uri
    v1 = call(api, "GET", "/m1/versions/v1")  # loaded after the answer went out
    assert v1["state"] == "READY" and v1["isDefault"] and v1["errorMessage"] == ""
    assert v1["signature"]["inputs"]["x"]["shape"] == [None, 2]
    assert call(api, "GET", "/m1")["defaultVersion"] == {"name": "v1"}

    predictions = call(api, "POST", "/m1:predict", {"instances": [[1, 1], [0, 2]]})
    assert predictions == {"predictions": [[3.5], [4.5]]}
    by_version = call(api, "POST", "/m1/versions/v1:predict",
                      {"instances": [{"x": [1, 1]}, {"x": [0, 2]}]})
    assert by_version == predictions
    bad = call(api, "POST", "/m1:predict", {"instances": [[1, 1], [1, 2, 3]]}, 400)["error"]
    assert bad["status"] == "INVALID_ARGUMENT" and "instance 1" in bad["message"], bad
    assert "instances" in call(api, "POST", "/m1:predict", {"instances": []}, 400)["error"][
        "message"]

    call(api, "POST", "/m1/versions", {"name": "v2", "deploymentUri": uri})
    assert call(api, "GET", "/m1/versions/v2")["isDefault"] is False
    assert call(api, "POST", "/m1/versions/v2:setDefault")["isDefault"] is True
    assert call(api, "GET", "/m1")["defaultVersion"] == {"name": "v2"}
    assert [v["name"] for v in call(api, "GET", "/m1/versions")["versions"]] == ["v1", "v2"]

    error = call(api, "DELETE", "/m1", code=400)["error"]
    assert error["status"] == "FAILED_PRECONDITION" and "v1, v2" in error["message"]
    assert "default" in call(api, "DELETE", "/m1/versions/v2", code=400)["error"]["message"]
    call(api, "DELETE", "/m1/versions/v1")
    call(api, "DELETE", "/m1/versions/v2")  # the last one may go, default or not
    assert call(api, "GET", "/m1")["defaultVersion"] is None
    call(api, "DELETE", "/m1")
    call(api, "GET", "/m1", code=404)


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_bad_snapshot_fails_the_version_saying_why(api: Api, problem: str,
                                                   snapshot_files: dict[str, bytes]) -> None:
    files = {"model.json": b"{not json"} if problem == "corrupt" else {}
    uri = deploy_uri(api, files) if files else "file:///nonexistent/snapshot"
    call(api, "POST", "", {"name": "m"})
    call(api, "POST", "/m/versions", {"name": "v", "deploymentUri": uri})
    version = call(api, "GET", "/m/versions/v")
    assert version["state"] == "FAILED" and uri in version["errorMessage"]
    assert version["signature"] is None and not version["isDefault"]
    for path in ("/m:predict", "/m/versions/v:predict"):
        error = call(api, "POST", path, {"instances": [[1, 2]]}, 400)["error"]
        assert error["status"] == "FAILED_PRECONDITION", error
    assert call(api, "POST", "/m/versions/v:setDefault", code=400)["error"]["status"] == \
        "FAILED_PRECONDITION"


@pytest.mark.parametrize(("path", "body", "fragment"), [
    ("", {"name": "9lives"}, "model name '9lives' is invalid"),
    ("", {"name": "m", "labels": {"A": "b"}}, "label key 'A'"),
    ("/m/versions", {"name": "v-1", "deploymentUri": "file:///x"}, "version name 'v-1'"),
    ("/m/versions", {"name": "v1", "deploymentUri": "gs://b/m"}, "s3:// or file://"),
    ("/m/versions", {"name": "v1"}, "deploymentUri: Field required"),
    ("/m:predict", {"instances": "nope"}, "instances"),
    ("/m:predict", {}, "instances: Field required"),
])
def test_bad_requests_are_400_naming_the_problem(api: Api, path: str, body: dict[str, Any],
                                                 fragment: str) -> None:
    call(api, "POST", "", {"name": "m"})
    error = call(api, "POST", path, body, 400)["error"]
    assert fragment in error["message"], error


def test_missing_things_are_404(api: Api) -> None:
    call(api, "POST", "", {"name": "m"})
    for method, path in (("GET", "/nope"), ("DELETE", "/nope"), ("GET", "/nope/versions"),
                         ("GET", "/m/versions/nope"), ("DELETE", "/m/versions/nope"),
                         ("POST", "/m/versions/nope:setDefault")):
        assert call(api, method, path, code=404)["error"]["status"] == "NOT_FOUND"
    error = call(api, "POST", "/m:predict", {"instances": [[1]]}, 400)["error"]
    assert "no default version" in error["message"]
    assert call(api, "POST", "/m/versions/nope:predict", {"instances": [[1]]},
                404)["error"]["status"] == "NOT_FOUND"


def test_a_version_left_creating_is_loaded_at_the_next_start(
        api: Api, snapshot_files: dict[str, bytes]) -> None:
    """A server that stopped while loading a version left it CREATING; the next one loads
    it instead of leaving it CREATING for ever."""
    uri = deploy_uri(api, snapshot_files)
    call(api, "POST", "", {"name": "m1"})
    db = api.client.app.state.kumo.db  # type: ignore[attr-defined]
    with db.session() as session:  # what a server killed mid-load leaves behind
        model_pk = session.scalars(select(models.Model.id).where(
            models.Model.name == "m1")).one()
        session.add(models.Version(model_pk=model_pk, name="v1", deployment_uri=uri,
                                   state="CREATING"))
    with TestClient(create_app(api.settings)) as restarted:
        deadline = time.monotonic() + 10
        while (version := restarted.get(f"{MODELS}/m1/versions/v1", headers=api.admin)
               .json())["state"] == "CREATING" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert version["state"] == "READY" and version["isDefault"], version
        reply = restarted.post(f"{MODELS}/m1:predict", json={"instances": [[1, 1]]},
                               headers=api.admin)
        assert reply.json() == {"predictions": [[3.5]]}, reply.text
