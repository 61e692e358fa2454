"""`packageUris`: user code as .tar.gz archives in the object store, unpacked for one run.

An archive comes from any `file://` or `s3://` URI the platform can read and is unpacked
into the job's work dir under the rules of Python's `tarfile.data_filter` (nothing outside
the destination after `..` or through links, no device files or FIFOs, no setuid bits),
with no absolute paths at all, and with caps on its total unpacked size and member count so
a hostile or broken archive cannot fill the disk. Each unpacked archive then goes on
PYTHONPATH: its root, and also its single top-level directory when it has one (a source
distribution such as `trainer-0.1/trainer/task.py`, as `python setup.py sdist` makes for
CloudML) and that directory's `src/` for src-layout projects.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from storage.config import Settings
from storage.objectstore import ObjectNotFoundError, StoreError
from storage.stores import open_store

MAX_PACKAGE_BYTES = 1 << 30
"""Largest archive, and largest unpacked total, of one package."""
MAX_PACKAGE_MEMBERS = 100_000


class PackageError(Exception):
    """A package that cannot be used; the message is the job's errorMessage."""


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/dir/pkg.tar.gz` -> (`s3://bucket/dir`, `pkg.tar.gz`)."""
    scheme, sep, rest = uri.partition("://")
    parent, slash, name = rest.rstrip("/").rpartition("/")
    if not sep or scheme not in ("file", "s3") or not slash or not name:
        raise PackageError(f"Package URI {uri!r} is not a file:// or s3:// URI of a .tar.gz "
                           "file.")
    return f"{scheme}://{parent}", name


def download(uri: str, settings: Settings, target: Path,
             max_bytes: int = MAX_PACKAGE_BYTES) -> None:
    """Copy the object at `uri` to the file `target`, streaming."""
    parent, name = split_uri(uri)
    size = 0
    try:
        chunks = open_store(parent, settings).get_stream(name)
        with open(target, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PackageError(f"Package {uri} is larger than the limit of "
                                       f"{max_bytes} bytes.")
                out.write(chunk)
    except ObjectNotFoundError:
        raise PackageError(f"Package {uri} was not found.") from None
    except (StoreError, OSError) as exc:
        raise PackageError(f"Package {uri} could not be read: {exc}") from exc


def unpack(archive: Path, dest: Path, uri: str, max_bytes: int = MAX_PACKAGE_BYTES) -> None:
    """Safely extract the .tar.gz `archive` (fetched from `uri`, for messages) into `dest`."""
    total = members = 0

    def check(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        nonlocal total, members
        if member.name.startswith("/"):  # data_filter would quietly make it relative
            raise PackageError(f"Package {uri} is unsafe to unpack: {member.name!r} is an "
                               "absolute path.")
        checked = tarfile.data_filter(member, path)
        members += 1
        total += checked.size
        if members > MAX_PACKAGE_MEMBERS:
            raise PackageError(f"Package {uri} has more than {MAX_PACKAGE_MEMBERS} files.")
        if total > max_bytes:
            raise PackageError(f"Package {uri} unpacks to more than the limit of {max_bytes} "
                               "bytes.")
        return checked

    dest.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter=check)
    except tarfile.FilterError as exc:
        raise PackageError(f"Package {uri} is unsafe to unpack: {exc}.") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackageError(f"Package {uri} is not a valid .tar.gz archive ({exc}).") from exc


def import_roots(root: Path) -> list[Path]:
    """The directories of an unpacked archive that go on PYTHONPATH (see module doc)."""
    roots = [root]
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not (entries[0] / "__init__.py").exists():
        roots.append(entries[0])
        if (entries[0] / "src").is_dir():
            roots.append(entries[0] / "src")
    return roots


def fetch_packages(uris: list[str], settings: Settings, dest: Path,
                   max_bytes: int = MAX_PACKAGE_BYTES) -> list[Path]:
    """Download and unpack each of `uris` under `dest`; returns the PYTHONPATH entries in
    order (the first package's modules win, as on a pip command line)."""
    paths: list[Path] = []
    dest.mkdir(parents=True, exist_ok=True)
    for index, uri in enumerate(uris):
        archive = dest / f"package-{index}.tar.gz"
        download(uri, settings, archive, max_bytes)
        unpack(archive, dest / f"package-{index}", uri, max_bytes)
        archive.unlink()
        paths += import_roots(dest / f"package-{index}")
    return paths
