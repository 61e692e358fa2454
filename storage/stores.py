"""Open the object store a URI names: `file:///abs/dir` or `s3://bucket[/prefix]`.

URIs are taken verbatim (no percent-decoding), matching the URIs stores hand out, so a key
with spaces or `#` round-trips. The store is rooted AT the URI: `open_store("s3://b/jobs/1",
settings).read_bytes("model/model.json")` reads `s3://b/jobs/1/model/model.json`.
"""

from __future__ import annotations

import re

from storage.config import Settings
from storage.filestore import FileStore
from storage.objectstore import InvalidKeyError, ObjectStore, StoreConfigError, check_key
from storage.s3store import S3Store

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SCHEMES = ("file", "s3")


def open_store(uri: str, settings: Settings) -> ObjectStore:
    """The store rooted at `uri`; StoreConfigError saying what to fix if it is unusable."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise StoreConfigError(f"{uri!r} is not a store URI; use file:///abs/dir or "
                               "s3://bucket[/prefix]")
    if scheme.lower() not in SCHEMES:
        raise StoreConfigError(f"unknown storage scheme {scheme!r} in {uri!r}; kumo reads "
                               "file:///abs/dir and s3://bucket[/prefix]")
    if scheme.lower() == "file":
        return FileStore(_file_path(uri, rest))
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StoreConfigError(f"{uri!r} names no bucket; use s3://bucket[/prefix]")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise StoreConfigError(f"{bucket!r} in {uri!r} is not a valid bucket name (3-63 "
                               "lowercase letters, digits, '.' or '-')")
    prefix = prefix.strip("/")
    _check_path(uri, prefix)
    return S3Store(bucket, prefix, settings)


def _file_path(uri: str, rest: str) -> str:
    """The absolute path of a `file://` URI (`file:///p` or `file://localhost/p`)."""
    if rest.startswith("localhost/"):
        rest = rest[len("localhost"):]
    if not rest.startswith("/"):
        raise StoreConfigError(f"{uri!r} is not an absolute file URI; use file:///abs/dir "
                               "(three slashes, then the absolute path)")
    path = rest.rstrip("/")
    _check_path(uri, path.lstrip("/"))
    return path or "/"


def _check_path(uri: str, path: str) -> None:
    """Reject `..`, empty segments and control characters in a store's root path."""
    if not path:
        return
    try:
        check_key(path)
    except InvalidKeyError as exc:
        raise StoreConfigError(f"{uri!r} is not a usable store location: {exc}") from None
