"""`tf.gfile`: files by path or URI, for the engine's own writers and for user code.

Local paths and `file://` URIs (a kumo job's `--job-dir` on the embedded default store) name
files on this machine. Other schemes (`s3://`) go to a `FileSystem` registered for them, by
`register_filesystem` or by an entry point in the group "engine.filesystems" (kumo's storage
package registers s3 that way: the engine itself imports nothing of kumo). Saver, the summary
FileWriter, saved_model and monitored sessions read and write through `read_file` /
`write_file`, so a TF 1.x trainer can keep its checkpoints and exports under its job dir on any
store.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob as _glob
import importlib.metadata
import io
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlparse

from engine import errors

__all__ = ["Copy", "DeleteRecursively", "Exists", "FastGFile", "FileSystem", "GFile", "Glob",
           "IsDirectory", "ListDirectory", "MakeDirs", "MkDir", "Open", "Remove", "Rename",
           "Walk", "local_path", "register_filesystem", "resolve"]

ENTRY_POINTS = "engine.filesystems"


class FileSystem(Protocol):
    """Files of one URI scheme, whole objects at a time (as object stores hold them)."""

    def read(self, uri: str) -> bytes:
        """The file's bytes; FileNotFoundError when there is none."""

    def write(self, uri: str, data: bytes) -> None:
        """Create or replace the file; a reader sees the old or the new bytes, never half."""

    def exists(self, uri: str) -> bool: ...

    def listdir(self, uri: str) -> list[str]:
        """Names directly under `uri`/, a subdirectory's with a trailing '/'."""

    def delete(self, uri: str) -> None:
        """Remove the file; FileNotFoundError when there is none."""


_FILESYSTEMS: dict[str, FileSystem] = {}


def register_filesystem(scheme: str, filesystem: FileSystem) -> None:
    """Serve URIs `scheme://...` from `filesystem`."""
    _FILESYSTEMS[scheme.lower()] = filesystem


def _scheme(path: str) -> str:
    return path.partition("://")[0].lower() if "://" in path else ""


def _remote(path: str | os.PathLike[str]) -> FileSystem | None:
    """The file system of a URI that is not a local file, or None for local ones."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"Expected a path or URI string, got {path!r}.")
    scheme = _scheme(text)
    if scheme in ("", "file"):
        return None
    found = _FILESYSTEMS.get(scheme)
    if found is None:
        for entry in importlib.metadata.entry_points(group=ENTRY_POINTS, name=scheme):
            register_filesystem(scheme, entry.load()())
            found = _FILESYSTEMS[scheme]
            break
    if found is None:
        raise errors.UnimplementedError(
            None, None, f"File system scheme '{scheme}' not implemented ({text}): read and "
                        f"write local paths or file:// URIs, or register a FileSystem for it "
                        f"(engine.gfile.register_filesystem).")
    return found


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a URI of a registered (or installable) non-local file system."""
    return _remote(path) is not None


def resolve(path: str | os.PathLike[str]) -> str:
    """`path` as the engine's writers take it: a remote URI as it is, a local path or
    file:// URI as a local path."""
    return os.fspath(path) if is_remote(path) else local_path(path)


def local_path(path: str | os.PathLike[str]) -> str:
    """The local file path named by `path`: a path as it is, a file:// URI's path (a remote
    URI is refused: it names no local file)."""
    text = os.fspath(path)
    if _remote(text) is not None:
        raise errors.InvalidArgumentError(
            None, None, f"{text} is not a local file: read it with tf.gfile.GFile, or copy it "
                        f"here with tf.gfile.Copy.")
    if "://" not in text:
        return text
    parsed = urlparse(text)
    if parsed.netloc not in ("", "localhost"):
        raise errors.InvalidArgumentError(
            None, None, f"{text}: a file:// URI names a file on this machine "
                        f"(file:///path), not on host {parsed.netloc!r}.")
    return unquote(parsed.path)


# -- what the engine's writers use ---------------------------------------------------------
def join(path: str, *names: str) -> str:
    """`path`/`names`: a URI stays a URI, a local path (or file:// URI) becomes a path."""
    if _remote(path) is not None:
        return "/".join([path.rstrip("/"), *names])
    return os.path.join(local_path(path), *names)


def parent_dir(path: str) -> str:
    """The directory `path` is in (a URI's parent URI)."""
    if _remote(path) is not None:
        return path.rstrip("/").rpartition("/")[0]
    return os.path.dirname(os.path.abspath(local_path(path)))


def read_file(path: str) -> bytes:
    """The bytes of file `path`; FileNotFoundError when there is none."""
    fs = _remote(path)
    if fs is not None:
        return fs.read(path)
    with open(local_path(path), "rb") as f:
        return f.read()


def write_file(path: str, data: bytes) -> None:
    """Create or replace file `path` atomically (locally: a temporary file renamed over it,
    in the same directory, which must exist)."""
    fs = _remote(path)
    if fs is not None:
        fs.write(path, data)
        return
    target = local_path(path)
    tmp = f"{target}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def remove_if_there(path: str) -> None:
    with contextlib.suppress(errors.NotFoundError):
        Remove(path)


# -- tf.gfile --------------------------------------------------------------------------------
class _Upload(io.BytesIO):
    """A remote file being written: its bytes go up when it is closed, and on flush() at most
    every FLUSH_SECONDS (an object is rewritten whole: a log flushed per line would upload
    its whole past each time)."""

    FLUSH_SECONDS = 5.0

    def __init__(self, fs: FileSystem, uri: str, initial: bytes) -> None:
        super().__init__(initial)
        self.seek(0, io.SEEK_END)
        self._fs, self._uri = fs, uri
        self._sent, self._sent_at = len(initial), time.monotonic()

    def flush(self) -> None:
        super().flush()
        if time.monotonic() - self._sent_at >= self.FLUSH_SECONDS:
            self.send()

    def close(self) -> None:
        if not self.closed:
            self.send()
        super().close()

    def send(self) -> None:
        """Upload the file's bytes (when they changed)."""
        data = self.getvalue()
        if len(data) != self._sent or not self._sent:
            self._fs.write(self._uri, data)
        self._sent, self._sent_at = len(data), time.monotonic()


def sync(f: IO[Any]) -> None:
    """Push what was written to a file opened with GFile out now (a remote one is uploaded;
    its flush() uploads only every few seconds)."""
    f.flush()
    raw = getattr(f, "buffer", f)
    if isinstance(raw, _Upload):
        raw.send()


def _remote_file(fs: FileSystem, uri: str, mode: str) -> IO[Any]:
    binary: IO[Any]
    if "r" in mode:
        try:
            binary = io.BytesIO(fs.read(uri))
        except FileNotFoundError:
            raise errors.NotFoundError(None, None, f"{uri} not found") from None
    else:
        initial = b""
        if "a" in mode:
            with contextlib.suppress(FileNotFoundError):
                initial = fs.read(uri)
        binary = _Upload(fs, uri, initial)
    return binary if "b" in mode else io.TextIOWrapper(binary, encoding="utf-8")


def GFile(name: str, mode: str = "r") -> IO[Any]:  # TF's CamelCase names throughout
    """An open file (a context manager), as Python's open(); a remote one is read whole on
    opening and written whole on closing."""
    fs = _remote(name)
    if fs is not None:
        return _remote_file(fs, name, mode)
    return open(local_path(name), mode, encoding=None if "b" in mode else "utf-8")


Open = FastGFile = GFile


def Exists(filename: str) -> bool:
    fs = _remote(filename)
    if fs is None:
        return os.path.exists(local_path(filename))
    return fs.exists(filename) or bool(fs.listdir(filename))


def IsDirectory(dirname: str) -> bool:
    fs = _remote(dirname)
    return os.path.isdir(local_path(dirname)) if fs is None else bool(fs.listdir(dirname))


def MakeDirs(dirname: str) -> None:
    """The directory and its missing parents; no error when it exists (a no-op on object
    stores, which have no directories)."""
    if _remote(dirname) is None:
        os.makedirs(local_path(dirname), exist_ok=True)


def MkDir(dirname: str) -> None:
    """One directory; AlreadyExistsError when it is there, as TF."""
    if _remote(dirname) is not None:
        return
    try:
        os.mkdir(local_path(dirname))
    except FileExistsError:
        raise errors.AlreadyExistsError(None, None, f"{dirname} already exists") from None


def ListDirectory(dirname: str) -> list[str]:
    """The entries' names (not paths), as TF; NotFoundError for a missing directory."""
    fs = _remote(dirname)
    if fs is not None:
        names = fs.listdir(dirname)
        if not names:
            raise errors.NotFoundError(None, None, f"Could not find directory {dirname}")
        return sorted(names)
    path = local_path(dirname)
    if not os.path.isdir(path):
        raise errors.NotFoundError(None, None, f"Could not find directory {dirname}")
    return sorted(os.listdir(path))


def Glob(filename: str) -> list[str]:
    """Files matching a pattern (wildcards in the last part only, on a remote store)."""
    fs = _remote(filename)
    if fs is None:
        return sorted(_glob.glob(local_path(filename)))
    parent, _, pattern = filename.rpartition("/")
    return sorted(f"{parent}/{name}" for name in fs.listdir(parent)
                  if fnmatch.fnmatchcase(name.rstrip("/"), pattern))


def Remove(filename: str) -> None:
    fs = _remote(filename)
    try:
        if fs is None:
            os.remove(local_path(filename))
        else:
            fs.delete(filename)
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"{filename} not found") from None


def DeleteRecursively(dirname: str) -> None:
    fs = _remote(dirname)
    if fs is not None:
        if not Exists(dirname):
            raise errors.NotFoundError(None, None, f"{dirname} not found")
        for top, _, files in list(Walk(dirname)):
            for name in files:
                fs.delete(f"{top.rstrip('/')}/{name}")
        if fs.exists(dirname):
            fs.delete(dirname)
        return
    path = local_path(dirname)
    if not os.path.exists(path):
        raise errors.NotFoundError(None, None, f"{dirname} not found")
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _move_or_copy(old: str, new: str, overwrite: bool, move: bool) -> None:
    if Exists(new) and not overwrite:
        raise errors.AlreadyExistsError(None, None, f"{new} exists (pass overwrite=True)")
    try:
        if _remote(old) is None and _remote(new) is None:
            (os.replace if move else shutil.copyfile)(local_path(old), local_path(new))
            return
        write_file(new, read_file(old))  # between file systems: bytes across
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"{old} not found") from None
    if move:
        Remove(old)


def Rename(oldname: str, newname: str, overwrite: bool = False) -> None:
    _move_or_copy(oldname, newname, overwrite, move=True)


def Copy(oldpath: str, newpath: str, overwrite: bool = False) -> None:
    _move_or_copy(oldpath, newpath, overwrite, move=False)


def Walk(top: str, in_order: bool = True) -> Iterator[tuple[str, list[str], list[str]]]:
    """(directory, subdirectory names, file names) for each directory under `top`."""
    fs = _remote(top)
    if fs is None:
        yield from os.walk(local_path(top), topdown=in_order)
        return
    names = fs.listdir(top)
    dirs = [n.rstrip("/") for n in names if n.endswith("/")]
    files = [n for n in names if not n.endswith("/")]
    if in_order:
        yield top, dirs, files
    for d in dirs:
        yield from Walk(f"{top.rstrip('/')}/{d}", in_order)
    if not in_order:
        yield top, dirs, files
