"""`kumo serve` (API server plus one local runner: the embedded default), `kumo worker`
(a runner alone, for more machines or processes sharing the database and object store) and
`kumo admin-token` (a new admin token, made in the database by whoever runs the server)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.client import CliError

if TYPE_CHECKING:
    from storage.config import Settings
    from storage.db import Database


def load_settings(**overrides: object) -> Settings:
    """The KUMO_* settings with command-line overrides; a bad value exits with one line.
    (pydantic-settings is imported here, not at the top: `kumo --help` stays quick.)"""
    from pydantic import ValidationError

    from storage.config import Settings

    try:
        settings = Settings()
        updates = {k: v for k, v in overrides.items() if v is not None}
        return Settings.model_validate({**settings.model_dump(), **updates})
    except ValidationError as exc:
        problems = "; ".join(f"KUMO_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                             for e in exc.errors())
        typer.echo(f"kumo: invalid configuration: {problems}", err=True)
        raise typer.Exit(2) from None


def open_database(settings: Settings) -> Database:
    """The migrated database, after checking the store URL too; a configuration or
    connection problem exits with one line instead of a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import Database, DatabaseConfigError
    from storage.objectstore import StoreConfigError
    from storage.stores import open_store

    try:
        open_store(settings.resolved_store_url, settings)
        db = Database(settings.resolved_database_url)
        db.migrate()
    except (StoreConfigError, DatabaseConfigError) as exc:
        typer.echo(f"kumo: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        typer.echo(f"kumo: cannot use the database (KUMO_DATABASE_URL): {_first_line(exc)}",
                   err=True)
        raise typer.Exit(1) from None
    return db


def _first_line(exc: Exception) -> str:
    """A database error's first line: the driver's own message where there is one."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: "
                                             "KUMO_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: KUMO_PORT or 8080).",
                                             min=1, max=65535)] = None,
    runners: Annotated[int, typer.Option(help="Job runners in this process; 0 when separate "
                                         "`kumo worker` processes run the jobs.",
                                         min=0, max=1)] = 1,
) -> None:
    """Run the API server and (unless --runners 0) one local job runner in this process.

    With no configuration this is the embedded setup: SQLite and a file object store under
    ./kumo-data. At the first start it prints an admin token and saves it, with the server's
    URL, in $KUMO_HOME/credentials (default ~/.config/kumo/credentials).

    \b
    Examples:
      kumo serve
      kumo serve --host 0.0.0.0 --port 8080
      kumo serve --runners 0    # jobs run by `kumo worker` processes
    """
    settings = load_settings(host=host, port=port)

    import uvicorn

    from api.app import create_app
    from jobs.runner import STOP_TIMEOUT, Runner
    from storage.logs import configure_logging

    configure_logging(settings)
    db = open_database(settings)
    stop = threading.Event()
    runner = threading.Thread(target=Runner(settings, db).run_forever, args=(stop,),
                              name="kumo-runner", daemon=True) if runners else None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles SIGTERM and SIGINT itself while it runs, then raises the signal
        # again once it has shut down: this handler turns that into a normal return, so
        # the runner is stopped below and the exit status is 0.
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    if runner is not None:
        runner.start()
    try:
        # Open log followers get a few seconds at shutdown, not until their job ends.
        uvicorn.run(create_app(settings, db=db), host=settings.host, port=settings.port,
                    log_config=None, access_log=False, server_header=False,
                    timeout_graceful_shutdown=5)
    finally:
        stop.set()
        if runner is not None:
            runner.join(timeout=STOP_TIMEOUT + 10)  # it stops each job within STOP_TIMEOUT
        db.dispose()


def worker() -> None:
    """Run a job runner alone: it claims queued jobs from the shared database.

    \b
    Example:
      KUMO_DATABASE_URL=postgresql+psycopg://... KUMO_STORE_URL=s3://kumo kumo worker
    """
    settings = load_settings()

    from jobs.worker import run_worker
    from storage.logs import configure_logging

    open_database(settings).dispose()  # a bad URL: one line, not a traceback
    configure_logging(settings)
    run_worker(settings)


def admin_token(
    save: Annotated[bool, typer.Option(help="Also save it, with the server's URL, in "
                                       "$KUMO_HOME/credentials for the CLI.")] = True,
) -> None:
    """Create another admin token, directly in the server's database: for when the first is
    lost. Run it where `kumo serve` runs, with the same KUMO_* configuration; the server
    need not be running. The token is printed once, on stdout.

    \b
    Examples:
      kumo admin-token
      KUMO_DATABASE_URL=postgresql+psycopg://kumo@db/kumo kumo admin-token --no-save
    """
    settings = load_settings()

    from sqlalchemy.exc import SQLAlchemyError

    from api.app import server_url, write_credentials
    from api.services.projects import create_admin_token

    db = open_database(settings)
    try:
        with db.session() as session:  # saved before the commit: a failed save adds nothing
            token = create_admin_token(session, "admin token created by `kumo admin-token`")
            if save:
                write_credentials(settings.credentials_path, server_url(settings), token)
    except OSError as exc:
        raise CliError(f"cannot save the token in {settings.credentials_path}: "
                       f"{exc.strerror or exc} (--no-save only prints it)") from None
    except SQLAlchemyError as exc:
        raise CliError(f"cannot create the token in the database: {_first_line(exc)}") \
            from None
    finally:
        db.dispose()
    typer.echo(token)
    if save:
        typer.echo(f"kumo: saved to {settings.credentials_path}", err=True)
