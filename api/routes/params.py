"""Query parameters several routes share, declared once so /docs describes them alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.schemas import ErrorResponse
from api.services.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE,
                                description=f"At most this many results per page "
                                f"(default {DEFAULT_PAGE_SIZE}).")]
PageToken = Annotated[str | None, Query(alias="pageToken", max_length=200,
                                        description="nextPageToken of the previous page.")]
TrialId = Annotated[str | None, Query(alias="trialId", max_length=32,
                                      description="Only this trial's entries.")]

# Documented on every /v1 router so /docs shows the error shape.
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "Invalid argument or failed precondition"},
    401: {"model": ErrorResponse, "description": "Missing or invalid token"},
    404: {"model": ErrorResponse, "description": "No such resource (or not yours)"},
}
