"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streaming bodies).

`RequestLog` writes one structured line per request and is the last line of defence: an
exception nothing else handled is logged with its traceback and answered with a JSON 500.
`BodyLimit` refuses JSON bodies above KUMO_MAX_JSON_BYTES with a JSON 413; data uploads are
exempt, they enforce KUMO_MAX_UPLOAD_BYTES while streaming.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TooLarge, error_response

access_log = logging.getLogger("kumo.api.access")
error_log = logging.getLogger("kumo.api")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            error_log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if status:  # the response has begun: all we can do is drop the connection
                raise
            status = 500
            response = error_response(500, "internal error; the server log has the details")
            await response(scope, receive, send)
        finally:
            access_log.info("request", extra={
                "method": scope["method"], "path": scope["path"], "status": status or 499,
                "ms": round((time.perf_counter() - start) * 1000, 2)})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Callable[[Scope], bool]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    def _error(self) -> TooLarge:
        return TooLarge(f"request body is larger than {self.max_bytes} bytes "
                        f"(KUMO_MAX_JSON_BYTES)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            error = self._error()
            await error_response(error.code, error.message, error.status)(scope, receive, send)
            return
        total = 0

        async def limited_receive() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)


_UPLOAD_PATH = re.compile(r"^/v1/projects/[^/]+/data/.")


def is_upload(scope: Scope) -> bool:
    """Data uploads stream under their own, larger limit."""
    return scope["method"] == "PUT" and bool(_UPLOAD_PATH.match(scope["path"]))
