"""Probes: /healthz (the process answers) and /readyz (database and object store reachable)."""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from api.errors import Unavailable
from api.routing import JsonRoute
from api.schemas import ErrorResponse
from api.state import AppState, app_state

router = APIRouter(tags=["health"], route_class=JsonRoute)

READY_TIMEOUT_SECONDS = 2.0
_PROBE_PREFIX = ".kumo-readyz"


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/docs")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The server process is up (it does not look at its dependencies)."""
    return {"status": "ok"}


def _check(state: AppState) -> None:
    try:
        with state.db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unavailable(f"database unreachable: {exc}") from None
    try:
        state.store.list(_PROBE_PREFIX)  # a listing: unlike a HEAD, it tells a missing bucket
    except Exception as exc:
        raise Unavailable(f"object store unreachable: {exc}") from None


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(request: Request) -> dict[str, str]:
    """The database answers and the object store is reachable: 200, else 503 saying which."""
    with anyio.move_on_after(READY_TIMEOUT_SECONDS):
        await anyio.to_thread.run_sync(_check, app_state(request), abandon_on_cancel=True)
        return {"status": "ready"}
    raise Unavailable(f"database or object store did not answer in {READY_TIMEOUT_SECONDS} s")
