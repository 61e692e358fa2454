"""`--package-path`: user code as the .tar.gz that `packageUris` names (see jobs/packages.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from api.cli.client import CliError

SKIPPED = ("__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache")


def build_package(path: Path, dest: Path) -> Path:
    """`dest/<name>.tar.gz` holding the package directory `path` as `<name>/` at its root,
    as gcloud's --package-path: the runner puts the archive's root on PYTHONPATH, so
    `--module-name <name>.task` imports. Caches and compiled files are left out."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise CliError(f"--package-path {path}: not a directory (point it at the directory "
                       f"of your package, the one holding __init__.py)", code=2)

    def keep(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = member.name.split("/")
        if any(part in SKIPPED for part in parts) or member.name.endswith((".pyc", ".pyo")):
            return None
        return member

    archive = dest / f"{path.name}.tar.gz"
    try:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(path, arcname=path.name, filter=keep)
    except OSError as exc:
        raise CliError(f"--package-path {path}: cannot read {exc.filename}: "
                       f"{exc.strerror or exc}") from None
    return archive
