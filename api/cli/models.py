"""`kumo models create|list|describe|delete`: named models, whose versions serve predictions."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import output
from api.cli.client import Cli
from api.cli.params import Description, Labels, Limit, parse_labels

app = typer.Typer(no_args_is_help=True, help="""Models: named groups of versions;
predictions use the default version unless told otherwise.

\b
Examples:
  kumo models create iris
  kumo models describe iris
""")

Model = Annotated[str, typer.Argument(metavar="MODEL", help="The model's name.")]


@app.command("create")
def create(ctx: typer.Context, model: Model, description: Description = "",
           labels: Labels = None) -> None:
    """Create a model (then deploy a snapshot to it with `kumo versions create`).

    \b
    Example:
      kumo models create iris --description "Iris species, DNN"
    """
    cli: Cli = ctx.obj
    created = cli.api.call("POST", cli.api.url("models"), json={
        "name": model, "description": description, "labels": parse_labels(labels)})
    cli.emit(created, lambda m: typer.echo(f"Created model {m['name']}."))


@app.command("list")
def list_models(ctx: typer.Context, limit: Limit = None) -> None:
    """List the models.

    \b
    Example:
      kumo models list
    """
    cli: Cli = ctx.obj
    found = cli.api.pages(cli.api.url("models"), "models", limit)
    cli.emit(found, lambda rows: output.table(
        ["NAME", "DEFAULT_VERSION", "CREATED"],
        [[m["name"], (m.get("defaultVersion") or {}).get("name", ""),
          output.when(m["createTime"])] for m in rows], "No models."))


@app.command("describe")
def describe(ctx: typer.Context, model: Model) -> None:
    """Show a model and its default version.

    \b
    Example:
      kumo models describe iris
    """
    cli: Cli = ctx.obj
    cli.emit(cli.api.call("GET", cli.api.url("models", model)), output.describe)


@app.command("delete")
def delete(ctx: typer.Context, model: Model) -> None:
    """Delete a model that has no versions left.

    \b
    Example:
      kumo models delete iris
    """
    cli: Cli = ctx.obj
    cli.emit(cli.api.call("DELETE", cli.api.url("models", model)),
             lambda _: typer.echo(f"Deleted model {model}."))
