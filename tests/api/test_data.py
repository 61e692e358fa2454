"""Data upload, listing, download and delete, on both platforms; streaming in constant
memory; cut-off uploads leave nothing behind."""

from __future__ import annotations

import hashlib
import socket
import time
import tracemalloc
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.config import Settings
from storage.stores import open_store
from tests.api.conftest import Api, LiveServer, admin_headers, with_settings

DATA = "/v1/projects/default/data"


def test_round_trip(platform_api: Api) -> None:
    c, h = platform_api.client, platform_api.admin
    body = b"a,b,label\n1,2,0\n3,4,1\n"
    reply = c.put(f"{DATA}/digits/train.csv", content=body, headers=h)
    assert reply.status_code == 200, reply.text
    stored = reply.json()
    store_url = platform_api.settings.resolved_store_url
    assert stored == {"uri": f"{store_url}/projects/default/data/digits/train.csv",
                      "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    c.put(f"{DATA}/digits/eval.csv", content=b"a,b,label\n", headers=h)
    c.put(f"{DATA}/other.txt", content=b"", headers=h)

    listed = c.get(DATA, params={"prefix": "digits/"}, headers=h).json()
    assert [o["path"] for o in listed["objects"]] == ["digits/train.csv", "digits/eval.csv"]
    assert listed["objects"][0]["uri"] == stored["uri"]
    assert listed["nextPageToken"] is None
    assert len(c.get(DATA, headers=h).json()["objects"]) == 3

    got = c.get(f"{DATA}/digits/train.csv", headers=h)
    assert got.status_code == 200 and got.content == body
    assert got.headers["content-type"] == "application/octet-stream"
    assert c.get(f"{DATA}/other.txt", headers=h).content == b""

    replaced = c.put(f"{DATA}/digits/train.csv", content=b"new", headers=h).json()
    assert replaced["size"] == 3
    assert c.get(f"{DATA}/digits/train.csv", headers=h).content == b"new"
    assert len(c.get(DATA, params={"prefix": "digits/"}, headers=h).json()["objects"]) == 2

    assert c.delete(f"{DATA}/digits/train.csv", headers=h).status_code == 200
    assert c.get(f"{DATA}/digits/train.csv", headers=h).status_code == 404
    assert c.delete(f"{DATA}/digits/train.csv", headers=h).status_code == 404
    store = open_store(store_url, platform_api.settings)
    assert [i.key for i in store.list("projects/default/data/digits/")] == [
        "projects/default/data/digits/eval.csv"]


def test_listing_pages(api: Api) -> None:
    c, h = api.client, api.admin
    for i in range(5):
        c.put(f"{DATA}/p/{i}", content=b"x", headers=h)
    c.put(f"{DATA}/p_other", content=b"x", headers=h)  # '_' is not a LIKE wildcard here
    seen, token = [], None
    while True:
        params = {"prefix": "p/", "pageSize": 2} | ({"pageToken": token} if token else {})
        page = c.get(DATA, params=params, headers=h).json()
        seen += [o["path"] for o in page["objects"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == [f"p/{i}" for i in range(5)]
    bad = c.get(DATA, params={"pageToken": "garbage"}, headers=h)
    assert bad.status_code == 400 and "pageToken" in bad.json()["error"]["message"]


# Dots percent-encoded, or the client would resolve them in the URL before sending it.
@pytest.mark.parametrize(("path", "problem"), [
    ("a//b", "empty, '.' or '..' segment"), ("a/%2E%2E/b", "empty, '.' or '..' segment"),
    ("%2E/a", "empty, '.' or '..' segment"), ("a/%2E", "empty, '.' or '..' segment"),
    ("a%5Cb", "backslash"), ("a%01b", "control character"), ("a/", "start or end with '/'"),
    ("x" * 1100, "longer than 1024")])
def test_bad_paths_are_400_saying_why(api: Api, path: str, problem: str) -> None:
    reply = api.client.put(f"{DATA}/{path}", content=b"x", headers=api.admin)
    assert reply.status_code == 400, reply.text
    assert problem in reply.json()["error"]["message"]
    assert api.client.get(f"{DATA}/{path}", headers=api.admin).status_code == 400
    assert api.client.get(DATA, headers=api.admin).json()["objects"] == []


def test_uploads_over_the_limit_are_413_and_not_stored(embedded_settings: Settings) -> None:
    settings = with_settings(embedded_settings, max_upload_bytes=100)
    with TestClient(create_app(settings)) as client:
        h = admin_headers(settings)
        reply = client.put(f"{DATA}/big", content=b"x" * 101, headers=h)
        assert reply.status_code == 413 and "KUMO_MAX_UPLOAD_BYTES" in reply.text

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
            yield b"x" * 60
            yield b"x" * 60

        reply = client.put(f"{DATA}/big", content=chunks(), headers=h)
        assert reply.status_code == 413, reply.text
        assert client.put(f"{DATA}/ok", content=b"x" * 100, headers=h).status_code == 200
        assert [o["path"] for o in client.get(DATA, headers=h).json()["objects"]] == ["ok"]


@pytest.fixture
def embedded_live(embedded_settings: Settings) -> Iterator[LiveServer]:
    from tests.api.conftest import run_live_server
    yield from run_live_server(embedded_settings)


def test_large_upload_streams_in_constant_memory(embedded_live: LiveServer) -> None:
    chunk, count = b"0123456789abcdef" * 65536, 64  # 1 MiB x 64
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(chunk)

    def body() -> Iterator[bytes]:
        for _ in range(count):
            yield chunk  # the same object each time: the client side allocates nothing

    tracemalloc.start()
    try:
        with httpx.Client(base_url=embedded_live.url, headers=embedded_live.admin,
                          timeout=60) as client:
            reply = client.put(f"{DATA}/big.bin", content=body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply.status_code == 200, reply.text
    assert reply.json()["size"] == len(chunk) * count
    assert reply.json()["sha256"] == digest.hexdigest()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB upload"
    with httpx.Client(base_url=embedded_live.url, headers=embedded_live.admin,
                      timeout=60) as client, client.stream("GET", f"{DATA}/big.bin") as got:
        back = hashlib.sha256()
        for part in got.iter_bytes():
            back.update(part)
    assert back.hexdigest() == digest.hexdigest()


def _send_partial(server: LiveServer, path: str, header: str, body: bytes) -> None:
    """Send request headers and part of a body, then drop the connection."""
    url = urlsplit(server.url)
    token = server.admin["Authorization"]
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                     f"Authorization: {token}\r\n{header}\r\n\r\n".encode() + body)
        time.sleep(0.3)  # let the server start streaming into the store


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_cut_off_upload_leaves_nothing(live_server: LiveServer, framing: str) -> None:
    path = f"{DATA}/cut/part.bin"
    part = b"y" * (6 * 2**20)  # past S3's 5 MiB minimum part: a multipart upload is open
    if framing == "chunked":
        header, body = "Transfer-Encoding: chunked", b"%x\r\n" % len(part) + part + b"\r\n"
    else:
        header, body = f"Content-Length: {20 * 2**20}", part
    _send_partial(live_server, path, header, body)
    assert live_server.wait_for_request("PUT", path) == 400
    store = open_store(live_server.settings.resolved_store_url, live_server.settings)
    assert store.list("projects/default/data/cut/") == []
    with httpx.Client(base_url=live_server.url, headers=live_server.admin) as client:
        assert client.get(DATA, params={"prefix": "cut/"}).json()["objects"] == []
        assert client.get(f"{DATA}/cut/part.bin").status_code == 404
        assert client.put(path, content=b"whole").status_code == 200  # the path still works
        assert client.get(f"{DATA}/cut/part.bin").content == b"whole"
