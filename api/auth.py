"""Bearer-token authentication and project scoping, as FastAPI dependencies.

Each /v1 route takes one `Ctx` (or `ProjectCtx`, `AdminCtx`, `ProjectAdminCtx`): the app state
and the authenticated caller (401 without a valid token), plus, under /v1/projects/{project},
the project once the caller may see it: a project that does not exist and one the token may
not see both answer 404, so tokens learn nothing about other projects. One dependency per
route (not a chain of small ones) keeps FastAPI's per-request work low on the :predict path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import PermissionDenied, Unauthenticated
from api.services import projects
from api.services.projects import Principal
from api.state import AppState, app_state

_bearer = HTTPBearer(auto_error=False, description="The token `kumo serve` printed at first "
                     "start (also in $KUMO_HOME/credentials), or one made with "
                     "POST /v1/projects/{project}/tokens.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ProjectPath = Annotated[str, Path(alias="project", description="Project name")]


@dataclass(frozen=True)
class Context:
    """What a /v1 handler works with: the app's state, who calls and (under a project) which
    project."""

    state: AppState
    caller: Principal
    project: str = ""


async def _caller(state: AppState, credentials: HTTPAuthorizationCredentials | None
                  ) -> Principal:
    """The caller; a token seen in the last seconds costs no database trip (auth_cache, keyed
    by the token itself: hashing it on every request costs more than the lookup)."""
    if credentials is None:
        raise Unauthenticated("missing token: send 'Authorization: Bearer <token>'")
    key = f"token:{credentials.credentials}"
    found = state.auth_cache.get(key)
    if found is None:
        found = await run_in_threadpool(_authenticate, state, credentials.credentials)
        if found is None:
            raise Unauthenticated("invalid token")
        state.auth_cache.put(key, found)
    assert isinstance(found, Principal)
    return found


def _authenticate(state: AppState, token: str) -> Principal | None:
    with state.db.session() as session:
        return projects.authenticate(session, token)


async def _in_project(state: AppState, caller: Principal, name: str) -> Context:
    if caller.project != name:  # a project token's own project exists (FK cascade)
        key = f"project:{name}"
        if not (caller.is_admin and state.auth_cache.get(key)):
            await run_in_threadpool(_check_project, state, caller, name)
            state.auth_cache.put(key, True)
    return Context(state, caller, name)


def _check_project(state: AppState, caller: Principal, name: str) -> None:
    with state.db.session() as session:
        projects.visible_project(session, caller, name)


def _require_admin(caller: Principal) -> None:
    if not caller.is_admin:
        raise PermissionDenied("this needs an admin token")


async def authenticated(request: Request, credentials: Credentials) -> Context:
    state = app_state(request)
    return Context(state, await _caller(state, credentials))


async def admin(request: Request, credentials: Credentials) -> Context:
    context = await authenticated(request, credentials)
    _require_admin(context.caller)
    return context


async def in_project(request: Request, credentials: Credentials, name: ProjectPath) -> Context:
    state = app_state(request)
    return await _in_project(state, await _caller(state, credentials), name)


async def project_admin(request: Request, credentials: Credentials,
                        name: ProjectPath) -> Context:
    """404 for a project the caller may not see comes before 403 for not being admin."""
    context = await in_project(request, credentials, name)
    _require_admin(context.caller)
    return context


async def project_context(request: Request) -> Context:
    """`in_project` called by a handler itself (the :predict routes, which skip FastAPI's
    per-parameter machinery for speed)."""
    return await in_project(request, await _bearer(request), request.path_params["project"])


Ctx = Annotated[Context, Depends(authenticated)]
AdminCtx = Annotated[Context, Depends(admin)]
ProjectCtx = Annotated[Context, Depends(in_project)]
ProjectAdminCtx = Annotated[Context, Depends(project_admin)]
