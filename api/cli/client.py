"""What every REST verb shares: the invocation's global flags (`Cli`, the Click context's
object), where the server and the token come from, and the httpx client, which turns every
failure (unreachable server, HTTP error, bad answer) into a one-line `CliError`.

httpx is imported when the first request is made, not at start-up: `kumo --help` stays quick.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from api.cli import output

if TYPE_CHECKING:
    import httpx

DEFAULT_SERVER = "http://127.0.0.1:8080"
PAGE_SIZE = 100
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0
"""Seconds to wait for an answer; a first prediction loads the model, an upload is written."""


class CliError(Exception):
    """A failure the user can act on: printed as one line `kumo: <message>`, then exit `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def credentials_path() -> Path:
    """`storage.config.Settings.credentials_path`, read without pydantic-settings (importing
    it would add about a third of a second to every command)."""
    return Path(os.environ.get("KUMO_HOME", "~/.config/kumo")).expanduser() / "credentials"


def read_credentials() -> dict[str, str]:
    """{"url", "token"} as `kumo serve` saved them; {} when there is no file."""
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the credentials file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"the credentials file {path} is not a JSON object")
    return {key: value for key, value in data.items() if isinstance(value, str)}


class Cli:
    """One invocation: the global flags, and the API client made from them on first use
    (local commands never make one)."""

    def __init__(self, server: str | None, project: str, fmt: str) -> None:
        self.server_flag = server
        self.project = project
        self.format = fmt

    @cached_property
    def api(self) -> Api:
        """--server, else KUMO_SERVER, else the credentials file, else the default; the token
        from KUMO_TOKEN, else the credentials file."""
        saved = read_credentials()
        server = self.server_flag or os.environ.get("KUMO_SERVER") or saved.get("url") \
            or DEFAULT_SERVER
        if os.environ.get("KUMO_TOKEN"):
            token, source = os.environ["KUMO_TOKEN"], "KUMO_TOKEN"
        elif saved.get("token"):
            token, source = saved["token"], str(credentials_path())
        else:
            token, source = None, None
        return Api(server.rstrip("/"), self.project, token, source)

    def emit(self, resource: Any, text: Callable[[Any], None]) -> None:
        """Print `resource` (an API resource, or a list of them) in the chosen --format;
        `text` prints it for people."""
        output.emit(self.format, resource, text)

    @property
    def human(self) -> bool:
        """Whether output is for people (--format text) rather than scripts."""
        return self.format == "text"

    def close(self) -> None:
        """Close the API client's connections, if one was made."""
        if "api" in self.__dict__:
            self.api.close()


class Api:
    """The kumo REST API of one project."""

    def __init__(self, server: str, project: str, token: str | None,
                 token_source: str | None) -> None:
        self.server = server
        self.project = project
        self.token = token
        self.token_source = token_source

    @cached_property
    def _http(self) -> httpx.Client:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        # A plain-http server needs no TLS context; making the verifying one loads the CA
        # bundle, a tenth of a second of every command.
        verify = not self.server.startswith("http://")
        try:
            return httpx.Client(base_url=self.server, headers=headers, verify=verify,
                                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT))
        except (httpx.InvalidURL, ValueError) as exc:
            raise CliError(f"--server {self.server!r} is not a URL like {DEFAULT_SERVER} "
                           f"({exc})", code=2) from None

    def close(self) -> None:
        if "_http" in self.__dict__:
            self._http.close()

    def url(self, *parts: str) -> str:
        """The path of a project resource; each part is quoted, except the slashes of data
        paths (the last part of a `data/...` URL)."""
        quoted = [quote(p, safe="") for p in parts]
        if parts and parts[0] == "data" and len(parts) == 2:
            quoted[1] = quote(parts[1], safe="/")
        return "/".join([f"/v1/projects/{quote(self.project, safe='')}", *quoted])

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of one request (see httpx.Client.request for kwargs)."""
        with self._transport():
            response = self._http.request(method, path, **kwargs)
        return self._json(response)

    @contextmanager
    def stream(self, method: str, path: str, *, read_timeout: float | None = READ_TIMEOUT,
               **kwargs: Any) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives; an error answer raises first."""
        import httpx

        timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, read=read_timeout)
        with self._transport(), self._http.stream(method, path, timeout=timeout,
                                                  **kwargs) as response:
            if response.is_error:
                response.read()
                self._json(response)
            yield response

    def pages(self, path: str, key: str, limit: int | None = None,
              params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated list (the first `limit` ones)."""
        items: list[dict[str, Any]] = []
        token = None
        while limit is None or len(items) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            query = {**(params or {}), "pageSize": size, **({"pageToken": token} if token else {})}
            page = self.call("GET", path, params=query)
            items += page[key]
            token = page.get("nextPageToken")
            if not token:
                break
        return items

    @contextmanager
    def _transport(self) -> Iterator[None]:
        """httpx's failures to connect or to read, as one line saying what to do."""
        import httpx

        try:
            yield
        except httpx.ConnectError as exc:
            raise CliError(f"cannot reach the kumo server at {self.server} ({exc}); start it "
                           f"with `kumo serve`, or point --server or KUMO_SERVER at "
                           f"it") from None
        except httpx.TimeoutException:
            raise CliError(f"the kumo server at {self.server} did not answer in time") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise CliError(f"--server {self.server!r} is not a URL like {DEFAULT_SERVER} "
                           f"({exc})", code=2) from None
        except httpx.TransportError as exc:
            raise CliError(f"the connection to the kumo server at {self.server} failed: "
                           f"{exc or type(exc).__name__}") from None

    def _json(self, response: httpx.Response) -> Any:
        """The answer's JSON; an error answer as a CliError with the server's message."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.is_error:
            if body is None:
                raise CliError(f"{self.server} answered {response.request.url.path} with "
                               f"something other than JSON: is it a kumo server?")
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            status, message = error.get("status", response.status_code), error["message"]
        else:
            text = response.text.strip().splitlines()
            status, message = response.status_code, text[0][:300] if text else \
                response.reason_phrase
        if response.status_code == 401:
            message += (f" (token from {self.token_source})" if self.token_source else
                        f"; set KUMO_TOKEN, or run `kumo serve`, which saves one in "
                        f"{credentials_path()}")
        elif response.status_code >= 500:
            message = f"the server failed (HTTP {response.status_code}): {message}"
        raise CliError(f"{status}: {message}")
