"""Property-based requests generated from the app's own OpenAPI schema (schemathesis),
valid and invalid, sent to a real server with the admin token: never a 5xx, and every
4xx is the JSON error shape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from storage.config import Settings
from tests.api.conftest import LiveServer, run_live_server

EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}  # per operation


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[LiveServer]:
    yield from run_live_server(embedded_settings)


def test_generated_requests_never_get_a_server_error(server: LiveServer) -> None:
    import httpx

    schema = schemathesis.openapi.from_dict(httpx.get(f"{server.url}/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    seen: dict[int, int] = {}
    for operation in operations:
        fixed = {"project": "default"} if "{project}" in operation.path else None
        json_body = any(body.media_type == "application/json" for body in operation.body)
        for mode, count in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not (operation.query or json_body):
                continue  # only strings and bytes to send: no invalid request to make
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed,
                                             headers=server.admin)

            @settings(max_examples=count, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=server.url, headers=server.admin, timeout=30)
                case.validate_response(response, checks=[not_a_server_error])
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                if 400 <= response.status_code < 500:
                    error = response.json()["error"]
                    assert error["code"] == response.status_code, error
                    assert error["message"] and error["status"].isupper(), error

            check()
    assert sum(seen.values()) >= 150 and 200 in seen and 400 in seen, seen
