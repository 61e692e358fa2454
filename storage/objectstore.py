"""The object store interface shared by `file://` and `s3://` backends.

A store is rooted at a base URI (`file:///srv/kumo/objects`, `s3://bucket/prefix`); keys
are relative, `/`-separated paths below it. Every write is atomic (a reader sees the whole
object or none) and streaming (constant memory, sha256 computed on the way). Keys that try
to escape the root (`..`, absolute, empty segments, NUL) raise `InvalidKeyError`.
URIs are not percent-encoded: a key appears verbatim after the base URI, as in `aws s3`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

CHUNK_SIZE = 1 << 20
MAX_KEY_BYTES = 1024  # S3's limit; file stores keep it too, so a key works on both
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common file systems
TEMP_MARKER = ".kumo-tmp-"  # names of in-progress writes; reserved, never listed


class StoreError(Exception):
    """Base class of object store errors."""


class InvalidKeyError(StoreError, ValueError):
    """A key that is empty, absolute, contains `..`/empty segments/NUL or other control
    characters, uses the reserved temp-file prefix, or is too long."""


class ObjectNotFoundError(StoreError, KeyError):
    """No object under that key."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message.
        return str(self.args[0]) if self.args else "object not found"


class StoreConfigError(StoreError, ValueError):
    """A URI or configuration the store cannot use (unknown scheme, missing bucket, ...)."""


class UploadTooLargeError(StoreError, ValueError):
    """The stream went past the `max_bytes` the caller allowed; nothing was stored."""


def check_key(key: str) -> str:
    """`key` if it names an object inside a store's root, else InvalidKeyError saying why.
    The same rules hold for every backend so that a key valid on one is valid on all."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("an object key must be a non-empty string")
    if any(ord(c) < 32 or c == "\x7f" for c in key):
        raise InvalidKeyError(f"object key {key!r} contains a NUL or control character")
    if key.startswith("/"):
        raise InvalidKeyError(f"object key {key!r} must be relative (no leading '/')")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"object key {key[:40]!r}... is longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKeyError(f"object key {key!r} has an empty, '.' or '..' path segment")
        if segment.startswith(TEMP_MARKER):
            raise InvalidKeyError(f"object key {key!r}: names starting with {TEMP_MARKER!r} "
                                  "are reserved for writes in progress")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidKeyError(f"object key {key!r} has a path segment longer than "
                                  f"{MAX_SEGMENT_BYTES} bytes")
    return key


def check_prefix(prefix: str) -> str:
    """`prefix` if it is usable for listing: "" (everything), complete valid segments, and
    optionally a partial last segment (`data/ima` matches `data/image.png`)."""
    if not isinstance(prefix, str):
        raise InvalidKeyError("a prefix must be a string")
    folder, _, partial = prefix.rpartition("/")
    if folder:
        check_key(folder)
    elif prefix.startswith("/"):
        raise InvalidKeyError(f"prefix {prefix!r} must be relative (no leading '/')")
    if "\x00" in partial:
        raise InvalidKeyError(f"prefix {prefix!r} contains a NUL character")
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object."""

    key: str
    uri: str
    size: int
    sha256: str | None = None
    last_modified: datetime | None = None


class ObjectStore(abc.ABC):
    """Streaming, atomic object storage under one base URI."""

    base_uri: str

    def uri(self, key: str) -> str:
        """The full URI of `key` (`<base_uri>/<key>`)."""
        return f"{self.base_uri}/{key}" if key else self.base_uri

    @abc.abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   max_bytes: int | None = None) -> ObjectInfo:
        """Store the concatenated chunks under `key` atomically and return its size and
        sha256. If the iterable raises, or passes `max_bytes` (UploadTooLargeError), nothing
        is stored and any partial upload is cleaned up; an existing object is untouched."""

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        """Store `data` under `key` atomically."""
        return self.put_stream(key, [data])

    @abc.abstractmethod
    def get_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the object's bytes in chunks; ObjectNotFoundError if missing (raised on
        the call, before the first chunk)."""

    def read_bytes(self, key: str) -> bytes:
        """The whole object (for small objects such as model.json)."""
        return b"".join(self.get_stream(key))

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size and time of one object; ObjectNotFoundError if missing."""

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFoundError:
            return False
        return True

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with `prefix`, sorted by key."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object; ObjectNotFoundError if missing."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix`; returns how many this call removed (objects
        someone else deleted meanwhile are not counted)."""
        removed = 0
        for info in self.list(prefix):
            try:
                self.delete(info.key)
            except ObjectNotFoundError:
                continue
            removed += 1
        return removed

    def presigned_get(self, key: str, expires_seconds: int = 3600) -> str | None:
        """A URL anyone can GET for a while, where the backend has them (S3); else None."""
        return None

    def sub(self, prefix: str) -> ObjectStore:
        """A view of this store rooted at `prefix` (`store.sub("a").put_bytes("b", ...)`
        writes `a/b`); its base_uri is `self.uri(prefix)`. An empty prefix is the store."""
        prefix = prefix.strip("/")
        return PrefixStore(self, prefix) if prefix else self


class PrefixStore(ObjectStore):
    """A store's objects below one prefix, with keys relative to it. Every call maps to one
    call of the parent store, so atomicity and streaming are the parent's."""

    def __init__(self, parent: ObjectStore, prefix: str) -> None:
        self.parent = parent
        self.prefix = check_key(prefix)
        self.base_uri = parent.uri(prefix)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}"

    def _relative(self, info: ObjectInfo) -> ObjectInfo:
        return replace(info, key=info.key[len(self.prefix) + 1:])

    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   max_bytes: int | None = None) -> ObjectInfo:
        return self._relative(self.parent.put_stream(self._full(key), chunks,
                                                     max_bytes=max_bytes))

    def get_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        return self.parent.get_stream(self._full(key), chunk_size)

    def stat(self, key: str) -> ObjectInfo:
        return self._relative(self.parent.stat(self._full(key)))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        infos = self.parent.list(f"{self.prefix}/{check_prefix(prefix)}")
        return [self._relative(info) for info in infos]

    def delete(self, key: str) -> None:
        self.parent.delete(self._full(key))

    def delete_prefix(self, prefix: str) -> int:
        return self.parent.delete_prefix(f"{self.prefix}/{check_prefix(prefix)}")

    def presigned_get(self, key: str, expires_seconds: int = 3600) -> str | None:
        return self.parent.presigned_get(self._full(key), expires_seconds)

    def sub(self, prefix: str) -> ObjectStore:
        prefix = prefix.strip("/")
        return PrefixStore(self.parent, f"{self.prefix}/{prefix}") if prefix else self
