"""`file://` object store: objects are plain files below a root directory.

Writes go to a temp file in the target's own directory (so `os.replace` is an atomic rename
on one file system), are fsynced, then renamed over the key; readers see the old object or
the new one, never half. Temp names start with `TEMP_MARKER`, which keys may not use, so
they are never listed. Folders are created on write and removed again once empty.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat as stat_mode
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.objectstore import (
    CHUNK_SIZE,
    TEMP_MARKER,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    StoreConfigError,
    StoreError,
    UploadTooLargeError,
    check_key,
    check_prefix,
)

_CREATE_ATTEMPTS = 5  # a concurrent delete may remove a just-created empty folder


class FileStore(ObjectStore):
    """Objects under the absolute directory `root`, which is created on the first write."""

    def __init__(self, root: Path | str) -> None:
        root = Path(root)
        if not root.is_absolute():
            raise StoreConfigError(f"a file store needs an absolute directory, got {str(root)!r}")
        self.root = Path(os.path.normpath(root))
        self.base_uri = f"file://{self.root.as_posix()}".rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _missing(self, key: str) -> ObjectNotFoundError:
        return ObjectNotFoundError(f"no object at {self.uri(key)}")

    def put_stream(self, key: str, chunks: Iterable[bytes], *,
                   max_bytes: int | None = None) -> ObjectInfo:
        path = self._path(key)
        tmp, out = self._create_temp(key, path.parent)
        digest, size = hashlib.sha256(), 0
        try:
            with out:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise UploadTooLargeError(
                            f"{self.uri(key)}: the data is larger than the {max_bytes} bytes "
                            "allowed; nothing was stored")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.replace(tmp, path)
            except IsADirectoryError:
                raise StoreError(f"cannot store {self.uri(key)}: it is a folder of other "
                                 "objects") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            self._prune(path.parent)
            raise
        _fsync_dir(path.parent)
        info = self._info(key, path.stat())
        return ObjectInfo(key, info.uri, size, digest.hexdigest(), info.last_modified)

    def _create_temp(self, key: str, folder: Path) -> tuple[Path, BinaryIO]:
        """A new, empty temp file in `folder` (created with its parents if needed)."""
        for _ in range(_CREATE_ATTEMPTS):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f"{TEMP_MARKER}{secrets.token_hex(8)}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                return tmp, os.fdopen(fd, "wb")
            except (FileExistsError, NotADirectoryError) as exc:
                if exc.errno == errno.EEXIST and folder.is_dir():
                    continue  # temp name taken (vanishingly rare): draw another
                raise StoreError(f"cannot store {self.uri(key)}: a part of its path is an "
                                 "object, not a folder") from None
            except FileNotFoundError:
                continue  # a concurrent delete pruned the folder between mkdir and open
        raise StoreError(f"cannot store {self.uri(key)}: its folder keeps disappearing")

    def _prune(self, folder: Path) -> None:
        """Remove `folder` and its parents up to (not including) the root while empty."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): parents are not empty either
                return
            folder = folder.parent

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(key, self.uri(key), st.st_size, None,
                          datetime.fromtimestamp(st.st_mtime, UTC))

    def get_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        path = self._path(key)
        try:
            # O_NONBLOCK: a FIFO planted under the root must not hang the caller.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None
        reader = os.fdopen(fd, "rb")
        if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
            reader.close()
            raise self._missing(key)
        return _read_chunks(reader, chunk_size)

    def stat(self, key: str) -> ObjectInfo:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(key) from None
        if not stat_mode.S_ISREG(st.st_mode):
            raise self._missing(key)
        return self._info(key, st)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        folder = check_prefix(prefix).rpartition("/")[0]
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        infos = [self._info(key, st) for key, st in self._walk(start, folder, prefix)]
        return sorted(infos, key=lambda info: info.key)

    def _walk(self, folder: Path, key: str,
              prefix: str) -> Iterator[tuple[str, os.stat_result]]:
        """(key, stat) of the files below `folder` (whose key is `key`) matching `prefix`;
        symlinks and temp files are skipped."""
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            child = f"{key}/{entry.name}" if key else entry.name
            if entry.name.startswith(TEMP_MARKER):
                continue
            if entry.is_dir(follow_symlinks=False):
                if (child + "/").startswith(prefix) or prefix.startswith(child + "/"):
                    yield from self._walk(Path(entry.path), child, prefix)
            elif entry.is_file(follow_symlinks=False) and child.startswith(prefix):
                try:
                    yield child, entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we listed

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if not stat_mode.S_ISREG(path.lstat().st_mode):
                raise self._missing(key)
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(key) from None
        self._prune(path.parent)


def _read_chunks(reader: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(chunk_size):
            yield chunk


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
