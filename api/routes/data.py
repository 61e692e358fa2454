"""Data upload and download, streamed in constant memory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from api import schemas
from api.auth import ProjectCtx
from api.errors import InvalidArgument, TooLarge
from api.routes.params import ERRORS, PageSize, PageToken
from api.routing import JsonRoute
from api.services import data
from api.services.common import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/v1/projects/{project}/data", tags=["data"], responses=ERRORS,
                   route_class=JsonRoute)

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.put("/{path:path}", responses={413: {"model": schemas.ErrorResponse}},
            openapi_extra={"requestBody": {"required": True, "content": _BINARY}})
async def upload(request: Request, ctx: ProjectCtx,
                 path: str) -> schemas.UploadResult:
    """Store the request body as `path` in the project's data (replacing any object there).
    The answer's `uri` is what jobs take as input (e.g. `--train-files`)."""
    limit = ctx.state.settings.max_upload_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise TooLarge(f"the upload is larger than {limit} bytes (KUMO_MAX_UPLOAD_BYTES)")
    try:
        return await data.upload(ctx.state.db, ctx.state.store, ctx.project, path,
                                 request.stream(), limit)
    except ClientDisconnect:
        raise InvalidArgument("the client disconnected before the end of the upload; "
                              "nothing was stored") from None


@router.get("")
def list_objects(ctx: ProjectCtx,
                 prefix: Annotated[str, Query(max_length=1024)] = "",
                 page_size: PageSize = DEFAULT_PAGE_SIZE,
                 page_token: PageToken = None) -> schemas.DataList:
    """Uploaded objects whose path starts with `prefix`, in upload order."""
    with ctx.state.db.session() as session:
        return data.list_objects(session, ctx.project, prefix, page_size, page_token)


@router.get("/{path:path}", response_class=StreamingResponse,
            responses={200: {"content": _BINARY, "description": "The object's bytes"}})
def download(ctx: ProjectCtx, path: str) -> StreamingResponse:
    with ctx.state.db.session() as session:
        info, chunks = data.open_object(session, ctx.state.store, ctx.project, path)
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"Content-Length": str(info.size),
                                      "X-Kumo-Sha256": info.sha256})


@router.delete("/{path:path}")
def delete(ctx: ProjectCtx, path: str) -> dict[str, str]:
    with ctx.state.db.session() as session:
        data.delete_object(session, ctx.state.store, ctx.project, path)
    return {}
