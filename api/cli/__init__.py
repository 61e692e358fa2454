"""The `kumo` command line (console script `api.cli:main`).

Each group of verbs lives in its own module and is attached here; modules import their heavy
dependencies (uvicorn, the server, numpy) inside the commands, so `kumo --help` stays quick.
"""

from __future__ import annotations

import typer

from api.cli import server

app = typer.Typer(name="kumo", no_args_is_help=True, add_completion=False,
                  help="kumo: train on kumo's graph engine and serve the models, "
                       "Cloud-ML-Engine style.")
app.command("serve")(server.serve)
app.command("worker")(server.worker)


def main() -> None:
    app()
