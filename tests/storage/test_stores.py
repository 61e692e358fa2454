"""`open_store`: a URI names a store rooted at it, or a clear error says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.config import Settings
from storage.filestore import FileStore
from storage.objectstore import StoreConfigError
from storage.s3store import S3Store
from storage.stores import open_store


def test_file_uri_opens_a_store_rooted_at_it(tmp_path: Path) -> None:
    settings = Settings()
    parent = open_store(tmp_path.as_uri(), settings)
    parent.put_bytes("jobs/7/model/model.json", b"{}")
    job = open_store(f"{tmp_path.as_uri()}/jobs/7/", settings)
    assert isinstance(job, FileStore)
    assert job.base_uri == f"file://{tmp_path}/jobs/7"
    assert job.read_bytes("model/model.json") == b"{}"
    assert open_store(f"file://localhost{tmp_path}", settings).read_bytes(
        "jobs/7/model/model.json") == b"{}"


def test_uris_the_stores_hand_out_open_again(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri(), Settings())
    info = store.put_bytes("my data/train #1.csv", b"x,y")
    folder, _, name = info.uri.rpartition("/")
    assert open_store(folder, Settings()).read_bytes(name) == b"x,y"


def test_s3_uri_opens_a_store_on_the_configured_server(s3_pg_settings: Settings) -> None:
    root = open_store(s3_pg_settings.resolved_store_url, s3_pg_settings)
    assert isinstance(root, S3Store)
    root.put_bytes("projects/p/data/a.csv", b"1")
    data = open_store(f"{s3_pg_settings.resolved_store_url}/projects/p/data",
                      s3_pg_settings)
    assert data.base_uri == f"{s3_pg_settings.resolved_store_url}/projects/p/data"
    assert data.read_bytes("a.csv") == b"1"
    assert [i.uri for i in data.list()] == [f"{data.base_uri}/a.csv"]


def test_the_embedded_default_is_a_file_store(embedded_settings: Settings) -> None:
    store = open_store(embedded_settings.resolved_store_url, embedded_settings)
    assert isinstance(store, FileStore)
    assert store.root == (embedded_settings.data_dir / "objects").resolve()


@pytest.mark.parametrize(("uri", "message"), [
    ("gs://bucket/x", "unknown storage scheme 'gs'"),
    ("/srv/data", "not a store URI"),
    ("data/train.csv", "not a store URI"),
    ("file://relative/dir", "absolute"),
    ("file:relative", "not a store URI"),
    ("file:///srv/../etc", "not a usable store location"),
    ("s3://", "names no bucket"),
    ("s3:///prefix", "names no bucket"),
    ("s3://Bad_Bucket/x", "not a valid bucket name"),
    ("s3://bucket/a//b", "not a usable store location"),
    ("s3://bucket/../x", "not a usable store location"),
])
def test_unusable_uris_say_what_to_fix(uri: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        open_store(uri, Settings())


def test_a_bad_s3_endpoint_is_a_config_error() -> None:
    with pytest.raises(StoreConfigError, match="host:port"):
        open_store("s3://bucket", Settings(s3_endpoint="http://minio:9000"))
