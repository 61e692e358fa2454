"""`kumo data upload|list|download|delete`: the project's data in the object store, streamed
both ways with a progress bar (bytes and bytes/s) on stderr."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.client import Api, Cli, CliError
from api.cli.params import Limit

CHUNK = 1 << 20

app = typer.Typer(no_args_is_help=True, help="""Upload, list, download and delete the
project's data (what jobs read, e.g. --train-files).

\b
Examples:
  kumo data upload iris_train.csv iris/train.csv
  kumo data list iris/
  kumo data download iris/train.csv
""")

DataPath = Annotated[str, typer.Argument(metavar="PATH", help="The object's path in the "
                                         "project's data, e.g. iris/train.csv.")]


def _targets(local: Path, remote: str | None) -> list[tuple[Path, str]]:
    """(file, data path) pairs: a file goes to REMOTE (REMOTE/name if it ends with `/`,
    name if absent); a directory's files keep their relative paths under REMOTE (default:
    the directory's name)."""
    if local.is_file():
        if remote is None or remote.endswith("/"):
            return [(local, f"{remote or ''}{local.name}")]
        return [(local, remote)]
    if not local.is_dir():
        raise CliError(f"{local}: no such file or directory")
    base = (remote or local.resolve().name).rstrip("/")
    files = sorted(p for p in local.rglob("*") if p.is_file())
    if not files:
        raise CliError(f"{local}: the directory holds no files")
    return [(p, f"{base}/{p.relative_to(local).as_posix()}") for p in files]


def _chunks(path: Path, advance: Callable[[int, str | None], None],
            label: str) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            advance(len(chunk), label)
            yield chunk


def staging_folder(*names: str) -> str:
    """A new folder `NAMES.../<random>` in the project's data for what a job or a version
    will read: uploading there never replaces the files of an existing job or version, even
    when the server then refuses the request because the name is taken."""
    return "/".join([*names, os.urandom(6).hex()])


def upload_paths(api: Api, local: Path, remote: str | None) -> list[dict[str, Any]]:
    """Upload a file or a directory tree (see _targets); the API's UploadResults."""
    targets = _targets(local, remote)
    try:
        sizes = [path.stat().st_size for path, _ in targets]
    except OSError as exc:
        raise CliError(f"cannot read {exc.filename}: {exc.strerror}") from None
    results = []
    label = targets[0][1] if len(targets) == 1 else f"{len(targets)} files"
    with output.transfer(sum(sizes), label) as advance:
        for (path, dest), size in zip(targets, sizes, strict=True):
            try:
                results.append(api.call(
                    "PUT", api.url("data", dest), content=_chunks(path, advance, dest),
                    headers={"Content-Length": str(size),
                             "Content-Type": "application/octet-stream"}))
            except OSError as exc:
                raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    return results


@app.command("upload")
def upload(
    ctx: typer.Context,
    local_path: Annotated[Path, typer.Argument(help="A file, or a directory (uploaded "
                                               "with everything under it).")],
    remote_path: Annotated[str | None, typer.Argument(
        help="Where it goes in the project's data (default: its name; a path ending in / "
             "is a folder to put it in).")] = None,
) -> None:
    """Upload a file or a directory; prints each object's URI, which jobs take as input.

    \b
    Examples:
      kumo data upload iris_train.csv iris/train.csv
      kumo data upload ./images datasets/images
      TRAIN=$(kumo data upload iris_train.csv iris/ --format 'value(uri)')
    """
    cli: Cli = ctx.obj
    results = upload_paths(cli.api, local_path, remote_path)

    def text(_: Any) -> None:
        for result in results:
            typer.echo(f"{result['uri']}  ({result['size']} bytes)")

    cli.emit(results[0] if local_path.is_file() else results, text)


@app.command("list")
def list_objects(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="Only paths starting with this.")] = "",
    limit: Limit = None,
) -> None:
    """List the project's data, in upload order.

    \b
    Examples:
      kumo data list iris/
      kumo data list --format 'value(uri)'
    """
    cli: Cli = ctx.obj
    objects = cli.api.pages(cli.api.url("data"), "objects", limit, {"prefix": prefix})
    cli.emit(objects, lambda rows: output.table(
        ["PATH", "SIZE", "CREATED"], [[o["path"], o["size"], output.when(o["createTime"])]
                                      for o in rows], "No data" + (f" under {prefix!r}."
                                                                   if prefix else ".")))


@app.command("download")
def download(
    ctx: typer.Context,
    path: DataPath,
    local_path: Annotated[Path | None, typer.Argument(
        help="The file to write (default: the object's name here; a directory: into "
             "it).")] = None,
) -> None:
    """Download an object, checking its SHA-256; the file appears only once it is whole.

    \b
    Example:
      kumo data download iris/train.csv train.csv
    """
    cli: Cli = ctx.obj
    name = path.rstrip("/").rsplit("/", 1)[-1]
    target = local_path or Path(name)
    if target.is_dir():
        target = target / name
    partial = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:  # whatever stops it (a write, the connection, Ctrl-C), no partial file stays
        with cli.api.stream("GET", cli.api.url("data", path)) as response:
            size = int(response.headers.get("content-length", 0))
            with output.transfer(size, path) as advance, open(partial, "wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk), None)
        expected = response.headers.get("x-kumo-sha256")
        if expected and digest.hexdigest() != expected:
            raise CliError(f"{path}: the download was corrupted (SHA-256 mismatch); try again")
        partial.replace(target)
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    result = {"path": path, "file": str(target), "size": target.stat().st_size,
              "sha256": digest.hexdigest()}
    cli.emit(result, lambda r: typer.echo(f"{r['file']}  ({r['size']} bytes)"))


@app.command("delete")
def delete(ctx: typer.Context, path: DataPath) -> None:
    """Delete an object.

    \b
    Example:
      kumo data delete iris/train.csv
    """
    cli: Cli = ctx.obj
    cli.emit(cli.api.call("DELETE", cli.api.url("data", path)),
             lambda _: typer.echo(f"Deleted {path}."))
