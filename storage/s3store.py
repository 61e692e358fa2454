"""`s3://` object store on any S3-compatible server, through the `minio` client.

Puts stream: objects up to one part are a single PUT; larger ones a multipart upload whose
parts (`part_size` each) go out on a few threads while the next part is read, so memory
stays at about `(UPLOAD_THREADS + 1) * part_size`. If the input raises or passes
`max_bytes`, the upload waits for the parts in flight and then aborts, so nothing becomes
visible and no incomplete upload is left behind. (minio-py has no public per-part API, so
the multipart calls are its internal `_create/_upload_part/_complete/_abort` methods; its
own `put_object` would abort while parts may still be in flight.)
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from itertools import islice

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from storage.config import Settings
from storage.objectstore import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    StoreConfigError,
    StoreError,
    UploadTooLargeError,
    check_key,
    check_prefix,
)

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 2**20  # S3's smallest non-last part
DEFAULT_PART_SIZE = 8 * 2**20  # 10,000 parts (S3's limit) = 78 GiB objects
UPLOAD_THREADS = 3
_DELETE_BATCH = 1000
_NOT_FOUND = {"NoSuchKey", "ResourceNotFound"}


@lru_cache(maxsize=16)
def _client(endpoint: str, access_key: str, secret_key: str, secure: bool,
            region: str) -> Minio:
    """One client (and connection pool) per server and identity, shared by all stores.
    Its pool fails fast on a server that is down (one connect retry, 5 s connect timeout:
    minio's default backs off for seconds, which stalls /readyz and start-up) and keeps
    retrying the S3 server's own 5xx answers."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=300), maxsize=10,
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, connect=1, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))
    return Minio(endpoint, access_key=access_key or None, secret_key=secret_key or None,
                 secure=secure, region=region or None, http_client=http)


def client_for(settings: Settings) -> Minio:
    """The minio client for the S3 server `settings` names."""
    if not settings.s3_endpoint or "/" in settings.s3_endpoint:
        raise StoreConfigError(f"KUMO_S3_ENDPOINT must be host:port (no scheme or path), got "
                               f"{settings.s3_endpoint!r}")
    return _client(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                   settings.s3_secure, settings.s3_region)


class S3Store(ObjectStore):
    """Objects under `prefix` in `bucket` on the S3 server `settings` names."""

    def __init__(self, bucket: str, prefix: str, settings: Settings, *,
                 part_size: int = DEFAULT_PART_SIZE) -> None:
        if not bucket:
            raise StoreConfigError("an s3:// store needs a bucket: s3://bucket[/prefix]")
        if part_size < MIN_PART_SIZE:
            raise StoreConfigError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3)")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = check_key(prefix) if prefix else ""
        self.part_size = part_size
        self.endpoint = settings.s3_endpoint
        self.client = client_for(settings)
        self.base_uri = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _name(self, key: str) -> str:
        """The S3 object name of `key`."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1:] if self.prefix else name

    @contextmanager
    def _errors(self, what: str, key: str = "") -> Iterator[None]:
        """Turn client and network errors into store errors that name the object."""
        try:
            yield
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                raise ObjectNotFoundError(f"no object at {self.uri(key)}") from None
            if exc.code == "NoSuchBucket":
                raise StoreError(f"bucket {self.bucket!r} does not exist on "
                                 f"{self.endpoint}") from None
            raise StoreError(f"S3 {what} of {self.uri(key)} failed: {exc.code}: "
                             f"{exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StoreError(f"S3 {what} of {self.uri(key)} failed: cannot talk to "
                             f"{self.endpoint}: {exc}") from exc

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (safe if several processes race)."""
        with self._errors("bucket creation"):
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   max_bytes: int | None = None) -> ObjectInfo:
        name = self._name(key)
        digest = hashlib.sha256()
        parts = _parts(chunks, self.part_size, digest, max_bytes, self.uri(key))
        head = list(islice(parts, 2))  # one part or less: a plain PUT, atomic by itself
        with self._errors("upload", key):
            if len(head) < 2:
                data = head[0] if head else b""
                self.client.put_object(self.bucket, name, io.BytesIO(data), len(data))
                size = len(data)
            else:
                size = self._multipart(name, head, parts)
        info = self.stat(key)
        return ObjectInfo(key, info.uri, size, digest.hexdigest(), info.last_modified)

    def _multipart(self, name: str, head: list[bytes], rest: Iterator[bytes]) -> int:
        """Upload `head` then `rest` as the parts of one object; abort on any failure."""
        client = self.client
        upload_id = client._create_multipart_upload(
            self.bucket, name, {"Content-Type": "application/octet-stream"})
        pending: set[Future[Part]] = set()
        done: list[Future[Part]] = []
        size = 0
        try:
            with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="s3-part") as pool:
                try:
                    for number, data in enumerate(_drain(head, rest), start=1):
                        while len(pending) >= UPLOAD_THREADS:
                            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                            done.extend(finished)
                            for future in finished:
                                future.result()  # raise a failed part's error now
                        size += len(data)
                        pending.add(pool.submit(self._upload_part, name, upload_id,
                                                number, data))
                    done.extend(pending)
                    parts = sorted((future.result() for future in done),
                                   key=lambda part: part.part_number)
                finally:
                    for future in pending:
                        future.cancel()
            # Leaving the pool's `with` waited for every part in flight: an abort now is final.
            client._complete_multipart_upload(self.bucket, name, upload_id, parts)
        except BaseException:
            self._abort(name, upload_id)
            raise
        return size

    def _upload_part(self, name: str, upload_id: str, number: int, data: bytes) -> Part:
        etag = self.client._upload_part(self.bucket, name, data, None, upload_id, number)
        return Part(number, etag)

    def _abort(self, name: str, upload_id: str) -> None:
        try:
            self.client._abort_multipart_upload(self.bucket, name, upload_id)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            log.warning("could not abort multipart upload %s of s3://%s/%s: %s (a bucket "
                        "lifecycle rule for incomplete uploads will clean it up)",
                        upload_id, self.bucket, name, exc)

    def get_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self._errors("download", key):
            response = self.client.get_object(self.bucket, self._name(key))
        return self._read_chunks(response, key, chunk_size)

    def _read_chunks(self, response: urllib3.BaseHTTPResponse, key: str,
                     chunk_size: int) -> Iterator[bytes]:
        try:
            with self._errors("download", key):
                yield from response.stream(chunk_size)
        finally:
            response.close()
            response.release_conn()

    def stat(self, key: str) -> ObjectInfo:
        with self._errors("stat", key):
            obj = self.client.stat_object(self.bucket, self._name(key))
        return ObjectInfo(key, self.uri(key), obj.size or 0, None, obj.last_modified)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        with self._errors("listing", prefix):
            infos = [ObjectInfo(self._key(obj.object_name), f"s3://{self.bucket}/"
                                f"{obj.object_name}", obj.size or 0, None, obj.last_modified)
                     for obj in self.client.list_objects(self.bucket, prefix=full,
                                                         recursive=True)
                     if obj.object_name and not obj.is_dir]
        return sorted(infos, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        self.stat(key)  # S3 deletes of missing objects succeed silently; callers want to know
        with self._errors("delete", key):
            self.client.remove_object(self.bucket, self._name(key))

    def delete_prefix(self, prefix: str) -> int:
        """Batch deletes (1000 keys a request) instead of one request per object."""
        names = [self._name(info.key) for info in self.list(prefix)]
        with self._errors("delete", prefix):
            for start in range(0, len(names), _DELETE_BATCH):
                batch = [DeleteObject(name) for name in names[start:start + _DELETE_BATCH]]
                errors = list(self.client.remove_objects(self.bucket, batch))
                if errors:
                    raise StoreError(f"could not delete {len(errors)} objects under "
                                     f"{self.uri(prefix)}: {errors[0].message}")
        return len(names)

    def presigned_get(self, key: str, expires_seconds: int = 3600) -> str | None:
        with self._errors("presigning", key):
            return self.client.presigned_get_object(self.bucket, self._name(key),
                                                    expires=timedelta(seconds=expires_seconds))


def _drain(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    """`head`'s items then `rest`'s, dropping each from `head` so memory is freed."""
    while head:
        yield head.pop(0)
    yield from rest


def _parts(chunks: Iterable[bytes], part_size: int, digest: hashlib._Hash,
           max_bytes: int | None, uri: str) -> Iterator[bytes]:
    """Re-cut `chunks` into `part_size` pieces (the last may be shorter, an empty input
    gives none), hashing and counting on the way."""
    buffer = bytearray()
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise UploadTooLargeError(f"{uri}: the data is larger than the {max_bytes} bytes "
                                      "allowed; nothing was stored")
        digest.update(chunk)
        buffer += chunk
        while len(buffer) >= part_size:
            with memoryview(buffer) as view, view[:part_size] as piece:
                part = bytes(piece)
            del buffer[:part_size]
            yield part
    if buffer:
        yield bytes(buffer)
