"""`kumo versions create|list|describe|set-default|delete`: snapshots deployed under a model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import output
from api.cli.client import Api, Cli, CliError
from api.cli.data import staging_folder, upload_paths
from api.cli.params import Async, Description, Limit

POLL_SECONDS = 0.3

app = typer.Typer(no_args_is_help=True, help="""Versions: trained snapshots deployed under a
model, one of them its default.

\b
Examples:
  kumo versions create v1 --model iris --origin "$JOB_DIR/model"
  kumo versions set-default v1 --model iris
""")

Version = Annotated[str, typer.Argument(metavar="VERSION", help="The version's name.")]
Model = Annotated[str, typer.Option("--model", help="The model it belongs to.")]


def _deployment_uri(api: Api, origin: str, model: str, version: str) -> str:
    """`origin` itself if it is a URI; a local snapshot directory is uploaded first, to a
    new `models/<model>/<version>/<random>/` in the project's data."""
    if "://" in origin:
        return origin
    if not Path(origin).is_dir():
        raise CliError(f"--origin {origin}: neither an s3:// or file:// URI nor a local "
                       f"snapshot directory", code=2)
    base = staging_folder("models", model, version)
    uri: str = upload_paths(api, Path(origin), base)[0]["uri"]
    return uri[:uri.rindex(f"/{base}/") + len(base) + 1]


def _state(version: dict[str, Any], model: str) -> str:
    default = " (the default)" if version["isDefault"] else ""
    return f"Version {version['name']} of model {model} is {version['state']}{default}."


@app.command("create")
def create(
    ctx: typer.Context, version: Version, model: Model,
    origin: Annotated[str, typer.Option(
        help="The snapshot: a job's {jobDir}/model, any s3:// or file:// URI, or a local "
             "directory (uploaded first).")],
    description: Description = "", run_async: Async = False,
) -> None:
    """Deploy a snapshot as a version; it waits until the version is READY (the model's
    default if it is the first) and exits non-zero if it FAILED to load.

    \b
    Examples:
      kumo versions create v1 --model iris --origin "$JOB_DIR/model"
      kumo versions create v2 --model iris --origin ./out/model
    """
    cli: Cli = ctx.obj
    path = cli.api.url("models", model, "versions")
    created = cli.api.call("POST", path, json={
        "name": version, "description": description,
        "deploymentUri": _deployment_uri(cli.api, origin, model, version)})
    if not run_async:
        with output.waiting(f"Version {version}: CREATING") as update:
            while created["state"] == "CREATING":
                time.sleep(POLL_SECONDS)
                created = cli.api.call("GET", cli.api.url("models", model, "versions", version))
                update(f"Version {version}: {created['state']}")
    cli.emit(created, lambda v: typer.echo(_state(v, model)))
    if created["state"] == "FAILED":
        raise CliError(f"version {version} FAILED: {created['errorMessage']}")


@app.command("list")
def list_versions(ctx: typer.Context, model: Model, limit: Limit = None) -> None:
    """List a model's versions.

    \b
    Example:
      kumo versions list --model iris
    """
    cli: Cli = ctx.obj
    found = cli.api.pages(cli.api.url("models", model, "versions"), "versions", limit)
    cli.emit(found, lambda rows: output.table(
        ["NAME", "STATE", "DEFAULT", "DEPLOYMENT_URI"],
        [[v["name"], v["state"], "yes" if v["isDefault"] else "", v["deploymentUri"]]
         for v in rows], f"Model {model} has no versions."))


@app.command("describe")
def describe(ctx: typer.Context, version: Version, model: Model) -> None:
    """Show a version, with its signature: the inputs to send and the outputs that return.

    \b
    Example:
      kumo versions describe v1 --model iris
    """
    cli: Cli = ctx.obj
    cli.emit(cli.api.call("GET", cli.api.url("models", model, "versions", version)),
             output.describe)


@app.command("set-default")
def set_default(ctx: typer.Context, version: Version, model: Model) -> None:
    """Make a READY version the one `kumo predict --model` uses.

    \b
    Example:
      kumo versions set-default v2 --model iris
    """
    cli: Cli = ctx.obj
    updated = cli.api.call("POST", cli.api.url("models", model, "versions", version)
                           + ":setDefault")
    cli.emit(updated, lambda v: typer.echo(_state(v, model)))


@app.command("delete")
def delete(ctx: typer.Context, version: Version, model: Model) -> None:
    """Delete a version (the default one only when it is the last).

    \b
    Example:
      kumo versions delete v1 --model iris
    """
    cli: Cli = ctx.obj
    cli.emit(cli.api.call("DELETE", cli.api.url("models", model, "versions", version)),
             lambda _: typer.echo(f"Deleted version {version} of model {model}."))
