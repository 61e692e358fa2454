"""packageUris: fetched from the object store, unpacked safely, put on the module path."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from jobs.packages import PackageError, fetch_packages, import_roots, split_uri, unpack
from storage.config import Settings
from tests.jobs.helpers import put_package, tar_gz


def write_archive(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_fetches_and_unpacks_an_sdist_onto_the_path(job_settings: Settings,
                                                    tmp_path: Path) -> None:
    sdist = put_package(job_settings, "trainer-0.1.tar.gz", tar_gz({
        "trainer-0.1/setup.py": "", "trainer-0.1/trainer/__init__.py": "",
        "trainer-0.1/trainer/task.py": "X = 1"}))
    flat = put_package(job_settings, "util.tar.gz", tar_gz({"util/__init__.py": "Y = 2"}))
    paths = fetch_packages([sdist, flat], job_settings, tmp_path / "packages")
    dest = tmp_path / "packages"
    assert paths == [dest / "package-0", dest / "package-0" / "trainer-0.1",
                     dest / "package-1"]
    assert (paths[1] / "trainer" / "task.py").read_text() == "X = 1"
    assert sorted(p.name for p in dest.iterdir()) == ["package-0", "package-1"]


def test_src_layout_goes_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "proj-1.0" / "src" / "proj").mkdir(parents=True)
    assert import_roots(tmp_path) == [tmp_path, tmp_path / "proj-1.0",
                                      tmp_path / "proj-1.0" / "src"]


@pytest.mark.parametrize(("make", "why"), [
    (lambda: member("/tmp/kumo-evil.py"), "is unsafe to unpack"),
    (lambda: member("../evil.py"), "is unsafe to unpack"),
    (lambda: member("pkg/../../evil.py"), "is unsafe to unpack"),
    (lambda: member("link", tarfile.SYMTYPE, "/etc/passwd"), "is unsafe to unpack"),
    (lambda: member("link", tarfile.SYMTYPE, "../../outside"), "is unsafe to unpack"),
    (lambda: member("hard", tarfile.LNKTYPE, "../outside"), "is unsafe to unpack"),
    (lambda: member("dev", tarfile.CHRTYPE), "is unsafe to unpack"),
    (lambda: member("fifo", tarfile.FIFOTYPE), "is unsafe to unpack"),
])
def test_unsafe_archives_are_refused(tmp_path: Path, make: Callable[[], tarfile.TarInfo],
                                     why: str) -> None:
    archive = write_archive(tmp_path / "bad.tar.gz", (member("ok.py"), b"fine"),
                            (make(), b"evil"))
    dest = tmp_path / "work" / "dest"
    with pytest.raises(PackageError, match=f"Package s3://b/bad.tar.gz {why}"):
        unpack(archive, dest, "s3://b/bad.tar.gz")
    outside = [p for p in tmp_path.rglob("*") if dest not in p.parents and p != dest]
    assert sorted(p.name for p in outside) == ["bad.tar.gz", "work"]
    assert not Path("/tmp/kumo-evil.py").exists()


def test_size_caps(job_settings: Settings, tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "big.tar.gz", (member("a.bin"), b"\0" * 600),
                            (member("b.bin"), b"\0" * 600))
    with pytest.raises(PackageError, match="unpacks to more than the limit of 1000 bytes"):
        unpack(archive, tmp_path / "dest", "file:///big.tar.gz", max_bytes=1000)
    uri = put_package(job_settings, "big.tar.gz", b"\0" * 2000)
    with pytest.raises(PackageError, match=f"Package {uri} is larger than the limit of 1000"):
        fetch_packages([uri], job_settings, tmp_path / "fetched", max_bytes=1000)


@pytest.mark.parametrize("uri", ["http://example.com/p.tar.gz", "gs://bucket/p.tar.gz",
                                 "s3://bucket", "trainer.tar.gz"])
def test_unusable_uris(uri: str) -> None:
    with pytest.raises(PackageError, match="is not a file:// or s3:// URI"):
        split_uri(uri)


def test_not_a_gzip_tarball(job_settings: Settings, tmp_path: Path) -> None:
    uri = put_package(job_settings, "p.tar.gz", b"PK\x03\x04 a zip file, say")
    with pytest.raises(PackageError, match=f"Package {uri} is not a valid .tar.gz archive"):
        fetch_packages([uri], job_settings, tmp_path / "packages")
