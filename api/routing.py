"""The route class every kumo router uses: request bodies parsed with orjson.

FastAPI parses JSON bodies with the standard library, about 10x slower than orjson; on a
:predict request carrying a few thousand numbers that is most of the server's time. orjson
is also stricter in the ways an API wants (no NaN/Infinity, valid UTF-8 only). Its
JSONDecodeError is a json.JSONDecodeError, so FastAPI's invalid-JSON answer is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from api.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


class OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def orjson_handler(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return orjson_handler


class PlainRoute(APIRoute):
    """A route whose endpoint takes the Request and returns a Response itself, called
    directly: for the :predict hot path, where FastAPI's parameter solving and response
    handling cost more than a small model's prediction. Its OpenAPI comes from
    `openapi_extra` (see `openapi_for`) and `response_model`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


async def read_json(request: Request) -> Any:
    """The JSON body, for handlers that read the body themselves; invalid JSON is the same
    400 FastAPI's own parsing gives."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from None


def validate(model: type[M], data: Any) -> M:
    """`data` (a parsed JSON body) as `model`, or the 400 FastAPI's own validation gives."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])}
                                      for error in exc.errors()]) from None


def openapi_for(model: type[BaseModel], path_names: list[str]) -> dict[str, Any]:
    """The OpenAPI a handler that takes only `request: Request` cannot declare itself: its
    path parameters, JSON body and bearer auth."""
    return {"parameters": [{"name": name, "in": "path", "required": True,
                            "schema": {"type": "string"}} for name in path_names],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": model.model_json_schema()}}},
            "security": [{"HTTPBearer": []}]}
