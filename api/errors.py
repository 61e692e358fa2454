"""One error shape for every failure: `{"error": {"code", "message", "status"}}`.

Services raise `ApiError` subclasses (they are Starlette HTTPExceptions, so FastAPI's own
machinery, such as a limit hit while it reads a body, passes them through unchanged); the
handlers here turn those, FastAPI's validation errors and Starlette's 404/405 into that shape.
`status` is the canonical Google API status name, as Cloud ML Engine answers.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson: numpy values allowed, about 5x faster than `json`."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class ApiError(HTTPException):
    """An error a client can fix (or a probe failure), with its canonical status name."""

    code = 400
    status = "INVALID_ARGUMENT"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=self.code, detail=message, headers=headers)
        self.message = message


class InvalidArgument(ApiError):
    pass


class FailedPrecondition(ApiError):
    status = "FAILED_PRECONDITION"


class Unauthenticated(ApiError):
    code = 401
    status = "UNAUTHENTICATED"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="kumo"'})


class PermissionDenied(ApiError):
    code = 403
    status = "PERMISSION_DENIED"


class NotFound(ApiError):
    code = 404
    status = "NOT_FOUND"


class AlreadyExists(ApiError):
    code = 409
    status = "ALREADY_EXISTS"


class TooLarge(ApiError):
    code = 413
    status = "RESOURCE_EXHAUSTED"


class Unavailable(ApiError):
    code = 503
    status = "UNAVAILABLE"


def error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "status": status or STATUS_NAMES.get(code, "UNKNOWN")}}


def error_response(code: int, message: str, status: str | None = None,
                   headers: dict[str, str] | None = None) -> OrjsonResponse:
    return OrjsonResponse(error_body(code, message, status), status_code=code, headers=headers)


async def _http_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        return error_response(exc.code, exc.message, exc.status, exc.headers)
    if exc.status_code == 404:
        message = f"no such route: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not supported on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, headers=exc.headers)


_NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def describe_validation_errors(errors: list[Any]) -> str:
    """FastAPI's error list as one line naming each bad field, e.g.
    `trainingInput.pythonModule: field required; pageSize: must be <= 1000`."""
    parts = []
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ())]
        where = loc[0] if loc else ""
        field = ".".join(loc[1:])
        if where == "body" and error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            parts.append(f"request body is not valid JSON: {detail}".rstrip(": "))
            continue
        if where == "body" and not field and error.get("type") in _NOT_AN_OBJECT:
            parts.append("the request body must be a JSON object, sent with "
                         "Content-Type: application/json")
            continue
        if not field:
            field = "request body" if where == "body" else where
        elif where in ("query", "header", "path"):
            field = f"{field} ({where} parameter)"
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts)


async def _validation_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, describe_validation_errors(list(exc.errors())))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

