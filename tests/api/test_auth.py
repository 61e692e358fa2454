"""Every /v1 route needs a token; another project's token cannot tell a resource of ours
from one that does not exist. The routes are enumerated from the app, so a new one cannot
be forgotten."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from api.app import ROUTERS
from tests.api.conftest import Api

# A value for each path parameter, naming resources the `populated` project really has.
PATH_VALUES = {"project": "default", "job_id": "job_1", "model": "m1", "version": "v1",
               "path": "dir/a.csv"}


def v1_requests() -> list[tuple[str, str]]:
    """(method, concrete path) for every /v1 operation the app serves."""
    requests = []
    for route in (route for router in ROUTERS for route in router.routes):
        if isinstance(route, APIRoute) and route.path.startswith("/v1"):
            path = re.sub(r"{(\w+)(?::path)?}", lambda m: PATH_VALUES[m.group(1)], route.path)
            requests.extend((method, path) for method in sorted(route.methods))
    assert len(requests) >= 25
    return sorted(requests, key=lambda r: r[0] == "DELETE")  # deletes last


def populate(api: Api) -> None:
    c, h = api.client, api.admin
    assert c.put("/v1/projects/default/data/dir/a.csv", content=b"x,y\n1,2\n",
                 headers=h).status_code == 200
    assert c.post("/v1/projects/default/jobs", headers=h, json={
        "jobId": "job_1", "trainingInput": {"pythonModule": "trainer.task"}}).status_code == 200
    assert c.post("/v1/projects/default/models", json={"name": "m1"},
                  headers=h).status_code == 200
    assert c.post("/v1/projects/default/models/m1/versions", headers=h, json={
        "name": "v1", "deploymentUri": "file:///nonexistent"}).status_code == 200


def test_every_v1_route_needs_a_valid_token(api: Api) -> None:
    for method, path in v1_requests():
        for headers in ({}, {"Authorization": "Bearer not-a-token"},
                        {"Authorization": "Basic dXNlcjpwYXNz"}):
            reply = api.client.request(method, path, json={}, headers=headers)
            assert reply.status_code == 401, (method, path, headers, reply.text)
            assert reply.headers["www-authenticate"].startswith("Bearer")
            assert reply.json()["error"]["status"] == "UNAUTHENTICATED"


def test_other_projects_resources_are_not_found(api: Api) -> None:
    populate(api)
    other = api.project_token("other")
    mine = api.project_token("default")
    requests = [r for r in v1_requests() if "/v1/projects/default" in r[1]]
    for method, path in requests:
        reply = api.client.request(method, path, json={}, headers=other)
        assert reply.status_code == 404, (method, path, reply.text)
        assert reply.json()["error"] == {"code": 404, "status": "NOT_FOUND",
                                         "message": "project 'default' not found"}
    for method, path in requests:  # the same requests with the owner's token get past auth
        reply = api.client.request(method, path, json={}, headers=mine)
        assert reply.status_code not in (401, 404), (method, path, reply.text)
    missing = api.client.get("/v1/projects/nope/jobs", headers=api.admin).json()["error"]
    assert missing["message"] == "project 'nope' not found"


def test_project_tokens_see_only_their_project_and_cannot_administer(api: Api) -> None:
    team = api.project_token("team-a")
    listed = api.client.get("/v1/projects", headers=team).json()["projects"]
    assert [p["name"] for p in listed] == ["team-a"]
    admin_listed = api.client.get("/v1/projects", headers=api.admin).json()["projects"]
    assert {p["name"] for p in admin_listed} == {"default", "team-a"}
    for path, body in (("/v1/projects", {"name": "mine"}), ("/v1/projects/team-a/tokens", {})):
        reply = api.client.post(path, json=body, headers=team)
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["status"] == "PERMISSION_DENIED"
    reply = api.client.post("/v1/projects/team-a/jobs", headers=team, json={
        "jobId": "j", "trainingInput": {"pythonModule": "m"}})
    assert reply.status_code == 200, reply.text


def test_project_names_are_checked_and_unique(api: Api) -> None:
    reply = api.client.post("/v1/projects", json={"name": "Bad_Name"}, headers=api.admin)
    assert reply.status_code == 400 and "project name 'Bad_Name'" in reply.json()["error"][
        "message"]
    assert api.client.post("/v1/projects", json={"name": "p1"},
                           headers=api.admin).status_code == 200
    reply = api.client.post("/v1/projects", json={"name": "p1"}, headers=api.admin)
    assert reply.status_code == 409 and reply.json()["error"]["status"] == "ALREADY_EXISTS"
    tokens = api.client.post("/v1/projects/p1/tokens", json={"description": "ci"},
                             headers=api.admin).json()
    assert tokens["project"] == "p1" and tokens["description"] == "ci"
    assert len(tokens["token"]) >= 40
