"""Training jobs: submit, describe, list, cancel, logs and metrics."""

from __future__ import annotations

from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api import schemas
from api.auth import ProjectCtx
from api.routes.params import ERRORS, PageSize, PageToken, TrialId
from api.routing import JsonRoute
from api.services import jobs
from api.services.common import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/v1/projects/{project}/jobs", tags=["jobs"], responses=ERRORS,
                   route_class=JsonRoute)

_CONFLICT = {409: {"model": schemas.ErrorResponse, "description": "jobId already used"}}


@router.post("", responses=_CONFLICT)
def create_job(ctx: ProjectCtx, body: schemas.JobCreate) -> schemas.Job:
    """Submit a training job; it is QUEUED until a runner starts it."""
    with ctx.state.db.session() as session:
        return jobs.create_job(session, ctx.state.settings, ctx.project, body)


@router.get("")
def list_jobs(ctx: ProjectCtx,
              filter: Annotated[str, Query(max_length=2000, description=(
                  "`key=value` terms joined by AND; keys: state, jobId, labels.<key>. "
                  "Example: `state=RUNNING AND labels.team=ml`"))] = "",
              page_size: PageSize = DEFAULT_PAGE_SIZE,
              page_token: PageToken = None) -> schemas.JobList:
    """Jobs, newest first."""
    with ctx.state.db.session() as session:
        return jobs.list_jobs(session, ctx.project, filter, page_size, page_token)


@router.get("/{job_id}")
def get_job(ctx: ProjectCtx, job_id: str) -> schemas.Job:
    with ctx.state.db.session() as session:
        return jobs.get_job(session, ctx.project, job_id)


@router.post("/{job_id}:cancel")
def cancel_job(ctx: ProjectCtx, job_id: str) -> schemas.Job:
    """Cancel a job: a queued one at once, a running one once its runner has stopped the
    process (state CANCELLING until then). An ended job answers 400 FAILED_PRECONDITION."""
    with ctx.state.db.session() as session:
        return jobs.cancel_job(session, ctx.project, job_id)


_NDJSON = {200: {"content": {"application/x-ndjson": {}},
                 "description": "With follow=true: one LogEntry JSON object per line"}}


@router.get("/{job_id}/logs", response_model=schemas.LogList, responses=_NDJSON)
async def get_logs(ctx: ProjectCtx, job_id: str,
                   follow: Annotated[bool, Query(description="Stream entries (NDJSON) until "
                                                 "the job ends.")] = False,
                   page_size: PageSize = DEFAULT_PAGE_SIZE, page_token: PageToken = None,
                   trial_id: TrialId = None) -> schemas.LogList | StreamingResponse:
    """What the job printed (stdout, stderr) and the runner's notes (stream `system`)."""
    if follow:
        lines = await jobs.follow_logs(ctx.state.db, ctx.project, job_id, trial_id)
        return StreamingResponse(lines, media_type="application/x-ndjson")

    def page() -> schemas.LogList:
        with ctx.state.db.session() as session:
            return jobs.list_logs(session, ctx.project, job_id, page_size, page_token, trial_id)

    return await run_sync(page)


@router.get("/{job_id}/metrics")
def get_metrics(ctx: ProjectCtx, job_id: str,
                trial_id: TrialId = None) -> schemas.Metrics:
    """Every reported tag (loss, accuracy, ...) as a series of points in step order."""
    with ctx.state.db.session() as session:
        return jobs.get_metrics(session, ctx.project, job_id, trial_id)
