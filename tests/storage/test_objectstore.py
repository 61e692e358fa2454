"""Both object stores through the same tests: what a user of `ObjectStore` relies on, on local
disk and on a real S3 server (moto's, on loopback)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from storage.config import Settings
from storage.filestore import FileStore
from storage.objectstore import (
    TEMP_MARKER,
    InvalidKeyError,
    ObjectNotFoundError,
    ObjectStore,
    StoreError,
    UploadTooLargeError,
)
from storage.s3store import MIN_PART_SIZE, UPLOAD_THREADS, S3Store
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY

MiB = 2**20
PART = MIN_PART_SIZE  # small parts, so a 12 MB object is a 3-part multipart upload
BIG = 12_000_000
STREAM_CHUNK = 64 * 1024


@pytest.fixture
def s3_settings(s3_endpoint: str) -> Settings:
    return Settings(s3_endpoint=s3_endpoint, s3_access_key=S3_ACCESS_KEY,
                    s3_secret_key=S3_SECRET_KEY, s3_secure=False)


def new_s3_store(settings: Settings, prefix: str = "team/a") -> S3Store:
    store = S3Store(f"kumo-test-{uuid.uuid4().hex[:12]}", prefix, settings, part_size=PART)
    store.ensure_bucket()
    return store


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "file":
        return FileStore(tmp_path / "objects")
    return new_s3_store(request.getfixturevalue("s3_settings"))


def incomplete_uploads(store: ObjectStore) -> list[dict]:
    """Multipart uploads S3 still holds (none for a file store), asked with another client."""
    if not isinstance(store, S3Store):
        return []
    endpoint = f"http://{store.endpoint}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY)
    return client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def chunks_of(data: bytes, size: int = STREAM_CHUNK) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def pattern(size: int) -> Iterator[bytes]:
    """`size` bytes of varied content, generated chunk by chunk (never held whole)."""
    for index, start in enumerate(range(0, size, STREAM_CHUNK)):
        block = hashlib.sha256(index.to_bytes(8, "little")).digest() * (STREAM_CHUNK // 32)
        yield block[:min(STREAM_CHUNK, size - start)]


def test_put_get_stat_list_delete(store: ObjectStore) -> None:
    info = store.put_bytes("data/train.csv", b"a,b\n1,2\n")
    assert info.key == "data/train.csv"
    assert info.uri == f"{store.base_uri}/data/train.csv"
    assert info.size == 8
    assert info.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert store.read_bytes("data/train.csv") == b"a,b\n1,2\n"
    assert store.exists("data/train.csv")
    stat = store.stat("data/train.csv")
    assert (stat.key, stat.uri, stat.size) == ("data/train.csv", info.uri, 8)
    assert stat.last_modified is not None and stat.last_modified.tzinfo is not None
    assert [i.key for i in store.list()] == ["data/train.csv"]

    store.delete("data/train.csv")
    assert not store.exists("data/train.csv")
    assert store.list() == []


def test_missing_objects_raise_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError, match=r"nope\.bin"):
        store.get_stream("nope.bin")  # on the call, before any chunk is asked for
    with pytest.raises(ObjectNotFoundError):
        store.stat("nope.bin")
    with pytest.raises(ObjectNotFoundError):
        store.delete("nope.bin")
    store.put_bytes("dir/file", b"x")
    with pytest.raises(ObjectNotFoundError):  # a "folder" is not an object
        store.stat("dir")


def test_overwrite_replaces_the_whole_object(store: ObjectStore) -> None:
    store.put_bytes("k", b"old contents, longer")
    info = store.put_bytes("k", b"new")
    assert store.read_bytes("k") == b"new"
    assert store.stat("k").size == info.size == 3


def test_empty_object(store: ObjectStore) -> None:
    info = store.put_stream("empty", iter(()))
    assert info.size == 0
    assert info.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.read_bytes("empty") == b""


def test_list_by_prefix_is_sorted_and_respects_segments(store: ObjectStore) -> None:
    for key in ["b/2", "a/x/1", "a/1", "ab/1", "a/x/0", "c"]:
        store.put_bytes(key, key.encode())
    assert [i.key for i in store.list()] == ["a/1", "a/x/0", "a/x/1", "ab/1", "b/2", "c"]
    assert [i.key for i in store.list("a/")] == ["a/1", "a/x/0", "a/x/1"]
    assert [i.key for i in store.list("a")] == ["a/1", "a/x/0", "a/x/1", "ab/1"]
    assert [i.key for i in store.list("a/x/")] == ["a/x/0", "a/x/1"]
    assert [i.key for i in store.list("a/x/1")] == ["a/x/1"]
    assert store.list("zzz") == []
    assert [i.size for i in store.list("b")] == [3]


def test_delete_prefix(store: ObjectStore) -> None:
    for key in ["job/1/model.json", "job/1/vars", "job/10/x", "keep"]:
        store.put_bytes(key, b"x")
    assert store.delete_prefix("job/1/") == 2
    assert [i.key for i in store.list()] == ["job/10/x", "keep"]


def test_large_stream_in_chunks(store: ObjectStore) -> None:
    expected = hashlib.sha256()
    for chunk in pattern(BIG):
        expected.update(chunk)
    info = store.put_stream("big/blob.bin", pattern(BIG))
    assert (info.size, info.sha256) == (BIG, expected.hexdigest())
    assert store.stat("big/blob.bin").size == BIG

    read = hashlib.sha256()
    sizes = set()
    for chunk in store.get_stream("big/blob.bin", chunk_size=MiB):
        sizes.add(len(chunk))
        read.update(chunk)
    assert read.hexdigest() == expected.hexdigest()
    assert max(sizes) <= MiB
    assert incomplete_uploads(store) == []


MEMORY_PROBE = """
import sys, tracemalloc
from storage.config import Settings
from storage.filestore import FileStore
from storage.s3store import S3Store
from tests.storage.test_objectstore import PART, pattern

kind, where, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "file":
    store = FileStore(where)
else:
    endpoint, bucket = where.split("/")
    settings = Settings(s3_endpoint=endpoint, s3_access_key="k", s3_secret_key="s")
    store = S3Store(bucket, "mem", settings, part_size=PART)
tracemalloc.start()
store.put_stream("mem.bin", pattern(size))
put_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
total = sum(len(chunk) for chunk in store.get_stream("mem.bin"))
print(put_peak, tracemalloc.get_traced_memory()[1], total)
"""


def test_put_and_get_use_constant_memory(store: ObjectStore) -> None:
    """Python memory stays bounded by the parts in flight, not by the object's size. (Measured
    in a child process: moto keeps the objects in this one.)"""
    size = 40 * MiB
    if isinstance(store, FileStore):
        kind, where, bound = "file", str(store.root), MiB
    else:
        assert isinstance(store, S3Store)
        kind, where, bound = "s3", f"{store.endpoint}/{store.bucket}", (UPLOAD_THREADS + 3) * PART
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, kind, where, str(size)],
                           capture_output=True, text=True, check=True, timeout=120,
                           cwd=Path(__file__).parents[2])
    put_peak, get_peak, total = map(int, probe.stdout.split())
    assert total == size
    assert put_peak < bound, f"put held {put_peak / MiB:.1f} MiB"
    assert get_peak < 3 * MiB, f"get held {get_peak / MiB:.1f} MiB"


def failing_stream(data_size: int, error: Exception) -> Iterator[bytes]:
    yield from pattern(data_size)
    raise error


@pytest.mark.parametrize("size", [10_000, BIG], ids=["small", "multipart"])
def test_a_stream_that_raises_half_way_leaves_nothing(store: ObjectStore, size: int) -> None:
    store.put_bytes("upload/keep.csv", b"previous version")
    for key in ["upload/new.csv", "upload/keep.csv"]:
        with pytest.raises(ConnectionResetError, match="client went away"):
            store.put_stream(key, failing_stream(size, ConnectionResetError("client went away")))
    assert [i.key for i in store.list()] == ["upload/keep.csv"]
    assert store.read_bytes("upload/keep.csv") == b"previous version"
    assert incomplete_uploads(store) == []


def test_readers_never_see_a_write_in_progress(store: ObjectStore) -> None:
    store.put_bytes("model.json", b'{"v": 1}')
    seen: list[tuple[list[str], bytes]] = []

    def watching() -> Iterator[bytes]:
        for index, chunk in enumerate(pattern(BIG)):
            if index % 60 == 30:
                seen.append(([i.key for i in store.list()], store.read_bytes("model.json")))
            yield chunk

    store.put_stream("model.json", watching())
    assert seen and all(state == (["model.json"], b'{"v": 1}') for state in seen)
    assert store.stat("model.json").size == BIG


@pytest.mark.parametrize("size", [10_000, BIG], ids=["small", "multipart"])
def test_max_bytes(store: ObjectStore, size: int) -> None:
    store.put_bytes("limited", b"before")
    with pytest.raises(UploadTooLargeError, match=f"{size - 1} bytes"):
        store.put_stream("limited", pattern(size), max_bytes=size - 1)
    with pytest.raises(UploadTooLargeError):
        store.put_stream("other", pattern(size), max_bytes=size - 1)
    assert [i.key for i in store.list()] == ["limited"]
    assert store.read_bytes("limited") == b"before"
    assert incomplete_uploads(store) == []
    assert store.put_stream("limited", pattern(size), max_bytes=size).size == size


BAD_KEYS = ["", "/etc/passwd", "..", "../outside", "a/../../outside", "a/./b", "a//b",
            "a/", "nul\x00byte", "new\nline", f"dir/{TEMP_MARKER}1234", "x" * 256]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused(store: ObjectStore, key: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"), lambda: store.get_stream(key),
        lambda: store.stat(key), lambda: store.delete(key), lambda: store.exists(key),
        lambda: store.sub("ok").put_bytes(key, b"x")]
    for call in calls:
        with pytest.raises(InvalidKeyError):
            call()
    assert store.list() == []


@pytest.mark.parametrize("prefix", ["/abs", "../", "a/../", "a//", "a\x00"])
def test_invalid_list_prefixes_are_refused(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.list(prefix)


def test_keys_with_unusual_characters_round_trip(store: ObjectStore) -> None:
    keys = ["with space.csv", "hash#and?query.txt", "ünïcødé/データ.bin", "..dots"]
    for key in keys:
        assert store.put_bytes(key, key.encode()).uri == f"{store.base_uri}/{key}"
    assert sorted(i.key for i in store.list()) == sorted(keys)
    assert all(store.read_bytes(key) == key.encode() for key in keys)


def test_sub_is_a_view_under_a_prefix(store: ObjectStore) -> None:
    store.put_bytes("outside", b"o")
    job = store.sub("jobs/42/")
    assert job.base_uri == f"{store.base_uri}/jobs/42"
    info = job.put_bytes("model/model.json", b"{}")
    assert info.key == "model/model.json"
    assert info.uri == f"{store.base_uri}/jobs/42/model/model.json"
    assert store.read_bytes("jobs/42/model/model.json") == b"{}"
    model = job.sub("model")
    assert model.read_bytes("model.json") == b"{}"
    assert model.base_uri == store.sub("jobs/42/model").base_uri
    assert [i.key for i in job.list()] == ["model/model.json"]
    assert job.stat("model/model.json").key == "model/model.json"
    assert [i.key for i in store.sub("jobs/4").list()] == []  # segments, not string prefixes
    assert job.delete_prefix("") == 1
    assert [i.key for i in store.list()] == ["outside"]
    assert store.sub("") is store
    with pytest.raises(InvalidKeyError):
        store.sub("../escape")


def test_concurrent_writers_to_one_key_leave_one_whole_object(store: ObjectStore) -> None:
    payloads = [bytes([n]) * 300_000 for n in range(4)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            store.put_stream("shared", chunks_of(data))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(data,)) for data in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.read_bytes("shared") in payloads
    assert [i.key for i in store.list()] == ["shared"]


def test_presigned_get(store: ObjectStore) -> None:
    store.put_bytes("share/me.txt", b"hello")
    url = store.presigned_get("share/me.txt", expires_seconds=60)
    if isinstance(store, FileStore):
        assert url is None  # local files have no URL to hand out
        return
    assert url is not None
    reply = httpx.get(url)
    assert reply.status_code == 200
    assert reply.content == b"hello"
    assert "X-Amz-Expires=60" in url


# -- file store specifics ---------------------------------------------------------------


def test_file_store_writes_only_inside_its_root(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "root")
    for key in ["../escape", "a/../../escape", "/tmp/escape"]:
        with pytest.raises(InvalidKeyError):
            store.put_bytes(key, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # root created on first write only


def test_file_store_leaves_no_temp_files_or_empty_folders(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "root")
    store.put_bytes("a/b/c", b"x")
    with pytest.raises(UploadTooLargeError):
        store.put_stream("d/e/f", [b"12345"], max_bytes=4)
    with pytest.raises(RuntimeError):
        store.put_stream("a/b/g", failing_stream(1000, RuntimeError("cut")))
    assert sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*")) == [
        "a", "a/b", "a/b/c"]
    store.delete("a/b/c")
    assert list(store.root.iterdir()) == []  # emptied folders go with their last object


def test_file_store_hides_foreign_temp_files_and_reports_path_conflicts(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "root")
    store.put_bytes("a/b", b"x")
    (store.root / "a" / f"{TEMP_MARKER}left-by-a-crash").write_bytes(b"half")
    assert [i.key for i in store.list()] == ["a/b"]
    with pytest.raises(StoreError, match="not a folder"):
        store.put_bytes("a/b/c", b"x")
    with pytest.raises(StoreError, match="folder"):
        store.put_bytes("a", b"x")
    assert store.read_bytes("a/b") == b"x"


def test_file_store_needs_an_absolute_root() -> None:
    with pytest.raises(StoreError, match="absolute"):
        FileStore(Path("relative/dir"))


def test_file_store_root_is_normalized(tmp_path: Path) -> None:
    FileStore(tmp_path / "root").put_bytes("x/y", b"kept")
    reopened = FileStore(str(tmp_path / "root") + os.sep)
    assert reopened.read_bytes("x/y") == b"kept"
    assert reopened.base_uri == f"file://{tmp_path}/root"
