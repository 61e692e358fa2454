"""The FastAPI application: `create_app(settings)`.

At start (lifespan) it migrates the database, opens the object store and, on a fresh
database, creates the `default` project and an admin token, which it prints once and
writes to `$KUMO_HOME/credentials` (mode 0600) for the CLI.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import anyio.to_thread
import orjson
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api.errors import install_error_handlers
from api.middleware import BodyLimit, RequestLog, is_upload
from api.prediction import PredictionService
from api.routes import data, health, jobs, models, projects
from api.services import models as model_service
from api.services.projects import bootstrap
from api.state import AppState
from storage.config import Settings
from storage.db import Database
from storage.objectstore import ObjectStore, StoreError
from storage.s3store import S3Store
from storage.stores import open_store

log = logging.getLogger("kumo.api")

DESCRIPTION = """Cloud-ML-Engine-style training and online prediction on kumo's graph engine.

Every `/v1` route needs `Authorization: Bearer <token>` (press **Authorize**): `kumo serve`
prints an admin token at first start and saves it in `$KUMO_HOME/credentials`.
Errors are JSON: `{"error": {"code", "message", "status"}}`."""


# Matched in this order: models first, as :predict is the route that must be fastest.
ROUTERS = (models.router, jobs.router, data.router, projects.router, health.router)


# /docs lists the groups in the order a user meets them (the routers match in ROUTERS order).
TAGS = [{"name": "projects", "description": "Projects and their tokens"},
        {"name": "data", "description": "Upload, list, download and delete data"},
        {"name": "jobs", "description": "Training jobs, their logs and metrics"},
        {"name": "models", "description": "Models, versions and online prediction"},
        {"name": "health", "description": "Probes"}]


def server_url(settings: Settings) -> str:
    """The URL clients on this machine reach the server at."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host,
                                                                     settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def write_credentials(path: Path, url: str, token: str) -> None:
    """Atomically write {"url", "token"} readable by the owner only (dir 0700, file 0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps({"url": url, "token": token}, option=orjson.OPT_INDENT_2))
    os.chmod(tmp, 0o600)  # in case a stale temp file had another mode
    os.replace(tmp, path)


def _start(settings: Settings, db: Database) -> None:
    """Migrate, then bootstrap a fresh database (the token file is written before the
    commit, so a failed write leaves the database fresh for the next start)."""
    db.migrate()
    with db.session() as session:
        token = bootstrap(session)
        if token:
            write_credentials(settings.credentials_path, server_url(settings), token)
    if token:
        print(f"kumo: created the admin token (shown only now; saved to "
              f"{settings.credentials_path}):\n  {token}", flush=True)


def _ensure_bucket(store: ObjectStore) -> None:
    """Create the S3 bucket on first start. An S3 server that is not up yet must not stop
    the API from starting: /readyz reports it until it is."""
    if isinstance(store, S3Store):
        try:
            store.ensure_bucket()
        except StoreError as exc:
            log.warning("object store not ready: %s", exc)


def _version() -> str:
    try:
        return version("kumo")
    except PackageNotFoundError:
        return "0+unknown"


def _finish_versions(state: AppState) -> None:
    """Load the versions a stopped server left CREATING, off the start-up path."""
    for pk in model_service.creating_versions(state.db):
        model_service.load_version(state.db, state.predictions, pk)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    """The kumo API. `db`, when given, is shared with the caller (who disposes of it), as
    `kumo serve` does with its embedded runner."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db or Database(settings.resolved_database_url)
        try:
            await anyio.to_thread.run_sync(_start, settings, database)
            store = open_store(settings.resolved_store_url, settings)
            await anyio.to_thread.run_sync(_ensure_bucket, store)
            state = AppState(settings=settings, db=database, store=store,
                             predictions=PredictionService(settings))
            app.state.kumo = state
            threading.Thread(target=_finish_versions, args=(state,), daemon=True,
                             name="kumo-version-loader").start()
            yield
        finally:
            if db is None:
                database.dispose()

    app = FastAPIOffline(title="kumo", version=_version(), description=DESCRIPTION,
                         lifespan=lifespan, openapi_tags=TAGS,
                         swagger_ui_parameters={"persistAuthorization": True})
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_json_bytes, exempt=is_upload)
    app.add_middleware(RequestLog)  # outermost: it sees every answer, even a crash's
    return app
