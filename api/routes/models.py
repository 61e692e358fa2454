"""Models, versions (deployed snapshots) and online prediction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.auth import Context, ProjectCtx, project_context
from api.errors import OrjsonResponse
from api.routes.params import ERRORS, PageSize, PageToken
from api.routing import JsonRoute, PlainRoute, openapi_for, read_json, validate
from api.services import models
from api.services.common import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/v1/projects/{project}/models", tags=["models"], responses=ERRORS,
                   route_class=JsonRoute)

_CONFLICT = {409: {"model": schemas.ErrorResponse, "description": "name already used"}}


# The :predict routes come first: they are matched first, and they are the hot path.
async def _predict(request: Request, version: str | None) -> OrjsonResponse:
    """The hot path, on the event loop when it can be: the caller from the auth cache, the
    version's URI from the serving cache, and a prediction PredictionService.predict_now
    finds cheap. A cache miss, a snapshot still to load and a long prediction go to a worker
    thread, so they never stall other requests."""
    ctx = await project_context(request)
    instances = _instances(await read_json(request))
    state, model = ctx.state, request.path_params["model"]
    key = f"{ctx.project}/{model}/{version or ''}"
    uri = state.serving_cache.get(key)
    if uri is None:
        uri = await state.serving_lookups.run(key, _serving_uri, ctx, model, version)
        state.serving_cache.put(key, uri)
    predictions = models.predict(state.predictions, uri, instances, now=True)
    if predictions is None:
        predictions = await run_in_threadpool(models.predict, state.predictions, uri,
                                              instances)
    return OrjsonResponse({"predictions": predictions})


def _instances(body: Any) -> list[Any]:
    """The request's instances. A well-formed body skips pydantic, which would cost more than
    this check; any other gets pydantic's 400, as the other routes do."""
    instances = body.get("instances") if type(body) is dict and len(body) == 1 else None
    if type(instances) is list and instances:
        return instances
    return validate(schemas.PredictRequest, body).instances


def _serving_uri(ctx: Context, model: str, version: str | None) -> str:
    with ctx.state.db.session() as session:
        return models.serving_uri(session, ctx.project, model, version)


# The :predict handlers read their request themselves (auth, path, body): FastAPI's
# per-parameter dependency solving costs more than the prediction of a small model.
async def predict(request: Request) -> OrjsonResponse:
    """Predict with the model's default version: one prediction per instance (classifiers:
    `classes` and `probabilities`). A bad instance answers 400 naming it."""
    return await _predict(request, None)


async def predict_version(request: Request) -> OrjsonResponse:
    """Predict with this version."""
    return await _predict(request, request.path_params["version"])


for _path, _endpoint, _params in (
        ("/{model}:predict", predict, ["project", "model"]),
        ("/{model}/versions/{version}:predict", predict_version, ["project", "model", "version"])):
    router.add_api_route(_path, _endpoint, methods=["POST"], route_class_override=PlainRoute,
                         response_model=schemas.PredictResponse,
                         openapi_extra=openapi_for(schemas.PredictRequest, _params))


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
