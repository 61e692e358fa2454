"""`tf.gfile`: files by path or URI, and the one place the engine turns a URI into a path.

Local paths and `file://` URIs (what a kumo job's `--job-dir` is on the embedded default store)
name files on this machine; every engine function that writes or reads files (Saver, summary
FileWriter, saved_model, Estimator's model_dir, monitored sessions) goes through
`local_path`, so a TF 1.x trainer can write its checkpoints and exports under its job dir.
Other schemes (s3://, gs://) are not reachable from the engine itself and say so.
"""

from __future__ import annotations

import glob as _glob
import os
import shutil
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import unquote, urlparse

from engine import errors

__all__ = ["Copy", "DeleteRecursively", "Exists", "FastGFile", "GFile", "Glob", "IsDirectory",
           "ListDirectory", "MakeDirs", "MkDir", "Open", "Remove", "Rename", "Walk",
           "local_path"]


def local_path(path: str | os.PathLike[str]) -> str:
    """The local file path named by `path`: a path as it is, a file:// URI's path."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"Expected a path or URI string, got {path!r}.")
    if "://" not in text:
        return text
    parsed = urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise errors.InvalidArgumentError(
                None, None, f"{text}: a file:// URI names a file on this machine "
                            f"(file:///path), not on host {parsed.netloc!r}.")
        return unquote(parsed.path)
    raise errors.UnimplementedError(
        None, None, f"File system scheme '{parsed.scheme}' not implemented ({text}): the "
                    f"engine reads and writes local paths and file:// URIs; write locally and "
                    f"upload with kumo's object store client (or `kumo data upload`).")


def GFile(name: str, mode: str = "r") -> IO[Any]:  # TF's CamelCase names throughout
    """An open file (a context manager), as Python's open()."""
    return open(local_path(name), mode)


Open = FastGFile = GFile


def Exists(filename: str) -> bool:
    return os.path.exists(local_path(filename))


def IsDirectory(dirname: str) -> bool:
    return os.path.isdir(local_path(dirname))


def MakeDirs(dirname: str) -> None:
    """The directory and its missing parents; no error when it exists."""
    os.makedirs(local_path(dirname), exist_ok=True)


def MkDir(dirname: str) -> None:
    """One directory; AlreadyExistsError when it is there, as TF."""
    try:
        os.mkdir(local_path(dirname))
    except FileExistsError:
        raise errors.AlreadyExistsError(None, None, f"{dirname} already exists") from None


def ListDirectory(dirname: str) -> list[str]:
    """The entries' names (not paths), as TF; NotFoundError for a missing directory."""
    path = local_path(dirname)
    if not os.path.isdir(path):
        raise errors.NotFoundError(None, None, f"Could not find directory {dirname}")
    return sorted(os.listdir(path))


def Glob(filename: str) -> list[str]:
    return sorted(_glob.glob(local_path(filename)))


def Remove(filename: str) -> None:
    try:
        os.remove(local_path(filename))
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"{filename} not found") from None


def DeleteRecursively(dirname: str) -> None:
    path = local_path(dirname)
    if not os.path.exists(path):
        raise errors.NotFoundError(None, None, f"{dirname} not found")
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _move_or_copy(action: Any, old: str, new: str, overwrite: bool) -> None:
    target = local_path(new)
    if os.path.exists(target) and not overwrite:
        raise errors.AlreadyExistsError(None, None, f"{new} exists (pass overwrite=True)")
    try:
        action(local_path(old), target)
    except FileNotFoundError:
        raise errors.NotFoundError(None, None, f"{old} not found") from None


def Rename(oldname: str, newname: str, overwrite: bool = False) -> None:
    _move_or_copy(os.replace, oldname, newname, overwrite)


def Copy(oldpath: str, newpath: str, overwrite: bool = False) -> None:
    _move_or_copy(shutil.copyfile, oldpath, newpath, overwrite)


def Walk(top: str, in_order: bool = True) -> Iterator[tuple[str, list[str], list[str]]]:
    """(directory, subdirectory names, file names) for each directory under `top`."""
    yield from os.walk(local_path(top), topdown=in_order)
