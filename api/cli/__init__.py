"""The `kumo` command line (console script `api.cli:main`).

Each group of verbs lives in its own module and is attached here; modules import their heavy
dependencies (httpx, Rich, uvicorn, the server, numpy) inside the commands, so `kumo --help`
stays quick (bench/cli_startup.py measures it). Help is Click's plain formatter: Typer's Rich
one costs a fifth of a second at every start.

Every failure ends the same way: one line `kumo: ...` on stderr and a non-zero exit status
(2 for a wrong command line, 1 for the rest), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from api.cli import data, jobs, local, models, predict, server, versions
from api.cli.client import Cli, CliError
from api.cli.output import check_format

GLOBAL_OPTIONS = ("--server", "--project", "--format")


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move the global options to the front so that, as with gcloud, they may follow the
    command (`kumo jobs list --format json`); arguments after `--` stay where they are."""
    args = list(args)
    end = args.index("--") if "--" in args else len(args)
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < end:
        name = args[i].split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            taken = 1 if "=" in args[i] else 2
            hoisted += args[i:i + taken]
            i += taken
        else:
            rest.append(args[i])
            i += 1
    return hoisted + rest + args[end:]


class KumoGroup(TyperGroup):
    """The root command: global options anywhere, and every error as one line."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        with _one_line_errors():
            return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: typer.Context) -> Any:
        with _one_line_errors():
            return super().invoke(ctx)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A CliError or a command-line error as `kumo: message` on stderr and an exit status."""
    try:
        yield
    except CliError as exc:
        _fail(str(exc), exc.code)
    except NoArgsIsHelpError:
        raise  # `kumo jobs` alone: its help, on stderr
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "kumo"
        command = where.removeprefix("kumo").strip()
        message = exc.format_message().strip()
        message += "" if message.endswith((".", "?")) else "."
        _fail(f"{command + ': ' if command else ''}{message} See `{where} --help`.", 2)
    except ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)


def _fail(message: str, code: int) -> None:
    typer.echo(f"kumo: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"kumo {version('kumo')}")
        except PackageNotFoundError:
            typer.echo("kumo (not installed as a package)")
        raise typer.Exit()


app = typer.Typer(name="kumo", cls=KumoGroup, no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None, help="""kumo: train on kumo's graph engine and serve
the models, Cloud-ML-Engine style.

The REST verbs talk to a kumo server: --server, else KUMO_SERVER, else the URL that
`kumo serve` saved with its admin token in $KUMO_HOME/credentials (default
~/.config/kumo/credentials), else http://127.0.0.1:8080. The token is KUMO_TOKEN, else
the saved one. Global options may also follow the command.

\b
Examples:
  kumo serve
  kumo data upload iris_train.csv iris/train.csv
  kumo jobs submit training iris_1 --module-name jobs.builtin.dnn --stream-logs -- \\
      --train-files "$TRAIN" --label-column species --model-type classification
  kumo jobs list --filter state=RUNNING --format json
  kumo predict --model iris --json-instances instances.json
""")


@app.callback()
def _root(
    ctx: typer.Context,
    server_url: Annotated[str | None, typer.Option(
        "--server", metavar="URL", help="The kumo server (default: KUMO_SERVER, the saved "
        "credentials' URL, or http://127.0.0.1:8080).")] = None,
    project: Annotated[str, typer.Option(metavar="NAME", help="The project the resources "
                                         "are in.",
                                         envvar="KUMO_PROJECT")] = "default",
    fmt: Annotated[str, typer.Option(
        "--format", metavar="FORMAT", callback=check_format,
        help="text (for people), json (the API's resources, for scripts) or "
             "value(field,...) (bare values, e.g. 'value(jobDir)').")] = "text",
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print kumo's version and exit.")] = False,
) -> None:
    ctx.obj = Cli(server_url, project, fmt)
    ctx.call_on_close(ctx.obj.close)


app.command("serve")(server.serve)
app.command("worker")(server.worker)
app.command("admin-token")(server.admin_token)
app.add_typer(data.app, name="data")
app.add_typer(jobs.app, name="jobs")
app.add_typer(models.app, name="models")
app.add_typer(versions.app, name="versions")
app.command("predict")(predict.predict)
app.add_typer(local.app, name="local")


def main() -> None:
    app()
