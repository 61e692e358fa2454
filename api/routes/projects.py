"""Projects and tokens. Creating either needs an admin token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api import schemas
from api.auth import AdminCtx, Ctx, ProjectAdminCtx, ProjectCtx
from api.routes.params import ERRORS
from api.routing import JsonRoute
from api.services import projects

router = APIRouter(prefix="/v1/projects", tags=["projects"], responses=ERRORS,
                   route_class=JsonRoute)


@router.get("")
def list_projects(ctx: Ctx) -> schemas.ProjectList:
    """The projects this token may use (all of them, for an admin token)."""
    with ctx.state.db.session() as session:
        return schemas.ProjectList(projects=projects.list_projects(session, ctx.caller))


@router.post("", responses={403: {"model": schemas.ErrorResponse}, 409: {"model":
             schemas.ErrorResponse}})
def create_project(ctx: AdminCtx, body: schemas.ProjectCreate) -> schemas.Project:
    """Create a project (admin only)."""
    with ctx.state.db.session() as session:
        return projects.create_project(session, body.name)


@router.get("/{project}")
def get_project(ctx: ProjectCtx) -> schemas.Project:
    with ctx.state.db.session() as session:
        return projects.get_project(session, ctx.caller, ctx.project)


@router.post("/{project}/tokens", responses={403: {"model": schemas.ErrorResponse}})
def create_token(ctx: ProjectAdminCtx, body: Annotated[schemas.TokenCreate | None, Body()] = None
                 ) -> schemas.TokenCreated:
    """A new token for this project only (admin only). The answer is the one time the token
    is shown."""
    with ctx.state.db.session() as session:
        return projects.create_token(session, ctx.project, body.description if body else "")
