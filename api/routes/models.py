"""Models, versions (deployed snapshots) and online prediction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.auth import Context, ProjectCtx, project_context
from api.errors import OrjsonResponse
from api.routes.params import ERRORS, PageSize, PageToken
from api.routing import JsonRoute, openapi_for, parse_body
from api.services import models
from api.services.common import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/v1/projects/{project}/models", tags=["models"], responses=ERRORS,
                   route_class=JsonRoute)

_CONFLICT = {409: {"model": schemas.ErrorResponse, "description": "name already used"}}


# The :predict routes come first: they are matched first, and they are the hot path.
async def _predict(ctx: Context, model: str, version: str | None,
                   body: schemas.PredictRequest) -> OrjsonResponse:
    """The hot path: the version's URI from the serving cache (else one query), then the
    computation, in one worker-thread trip."""
    state, key = ctx.state, f"{ctx.project}/{model}/{version or ''}"

    def run() -> list[Any]:
        uri = state.serving_cache.get(key)
        if uri is None:
            with state.db.session() as session:
                uri = models.serving_uri(session, ctx.project, model, version)
            state.serving_cache.put(key, uri)
        return models.predict(state.predictions, uri, body.instances)

    return OrjsonResponse({"predictions": await run_in_threadpool(run)})


# The :predict handlers read their request themselves (auth, path, body): FastAPI's
# per-parameter dependency solving costs more than the prediction of a small model.
@router.post("/{model}:predict", response_model=schemas.PredictResponse,
             openapi_extra=openapi_for(schemas.PredictRequest, ["project", "model"]))
async def predict(request: Request) -> OrjsonResponse:
    """Predict with the model's default version: one prediction per instance (classifiers:
    `classes` and `probabilities`). A bad instance answers 400 naming it."""
    ctx = await project_context(request)
    body = await parse_body(request, schemas.PredictRequest)
    return await _predict(ctx, request.path_params["model"], None, body)


@router.post("/{model}/versions/{version}:predict", response_model=schemas.PredictResponse,
             openapi_extra=openapi_for(schemas.PredictRequest,
                                       ["project", "model", "version"]))
async def predict_version(request: Request) -> OrjsonResponse:
    """Predict with this version."""
    ctx = await project_context(request)
    body = await parse_body(request, schemas.PredictRequest)
    return await _predict(ctx, request.path_params["model"], request.path_params["version"],
                          body)


@router.post("", responses=_CONFLICT)
def create_model(ctx: ProjectCtx, body: schemas.ModelCreate) -> schemas.Model:
    with ctx.state.db.session() as session:
        return models.create_model(session, ctx.project, body)


@router.get("")
def list_models(ctx: ProjectCtx, page_size: PageSize = DEFAULT_PAGE_SIZE,
                page_token: PageToken = None) -> schemas.ModelList:
    with ctx.state.db.session() as session:
        return models.list_models(session, ctx.project, page_size, page_token)


@router.get("/{model}")
def get_model(ctx: ProjectCtx, model: str) -> schemas.Model:
    with ctx.state.db.session() as session:
        return models.get_model(session, ctx.project, model)


@router.delete("/{model}")
def delete_model(ctx: ProjectCtx, model: str) -> dict[str, str]:
    """Delete a model that has no versions left."""
    with ctx.state.db.session() as session:
        models.delete_model(session, ctx.project, model)
    ctx.state.serving_cache.clear()
    return {}


@router.post("/{model}/versions", responses=_CONFLICT)
def create_version(ctx: ProjectCtx, model: str,
                   body: schemas.VersionCreate, tasks: BackgroundTasks) -> schemas.Version:
    """Deploy the snapshot at `deploymentUri`. The version is CREATING until the snapshot
    has loaded and validated: then READY (the model's default if it is the first) or FAILED
    with errorMessage. Poll the version to see which."""
    with ctx.state.db.session() as session:
        version, pk = models.create_version(session, ctx.project, model, body)
    tasks.add_task(models.load_version, ctx.state.db, ctx.state.predictions, pk)
    return version


@router.get("/{model}/versions")
def list_versions(ctx: ProjectCtx, model: str,
                  page_size: PageSize = DEFAULT_PAGE_SIZE,
                  page_token: PageToken = None) -> schemas.VersionList:
    with ctx.state.db.session() as session:
        return models.list_versions(session, ctx.project, model, page_size, page_token)


@router.get("/{model}/versions/{version}")
def get_version(ctx: ProjectCtx, model: str,
                version: str) -> schemas.Version:
    """The version, with its `signature`: the inputs to send and the outputs that return."""
    with ctx.state.db.session() as session:
        return models.get_version(session, ctx.project, model, version)


@router.delete("/{model}/versions/{version}")
def delete_version(ctx: ProjectCtx, model: str,
                   version: str) -> dict[str, str]:
    """Delete a version; the default one only when it is the last."""
    with ctx.state.db.session() as session:
        models.delete_version(session, ctx.project, model, version)
    ctx.state.serving_cache.clear()
    return {}


@router.post("/{model}/versions/{version}:setDefault")
def set_default(ctx: ProjectCtx, model: str,
                version: str) -> schemas.Version:
    """Make this READY version the one `models/{model}:predict` uses."""
    with ctx.state.db.session() as session:
        result = models.set_default(session, ctx.project, model, version)
    ctx.state.serving_cache.clear()
    return result
