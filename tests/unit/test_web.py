"""The envelope and the edge (errors, metrics, unmatched routes), on a bare application."""

from typing import Any

import pytest
from aiohttp import web
from pydantic import Field

from latchkey.common import errors
from latchkey.common.app import base_app
from latchkey.common.edge import add_route, unmatched
from latchkey.common.metrics import RequestStats
from latchkey.common.models import RequestModel
from latchkey.common.web import envelope, read_json
from latchkey.registry.settings import RegistrySettings


class Body(RequestModel):
    count: int = Field(ge=0)


async def echo(request: web.Request) -> web.Response:
    body = await read_json(request, Body)
    return envelope(body.wire())


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


async def refuse(request: web.Request) -> web.Response:
    raise errors.TokenRevoked()


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    app = base_app(RegistrySettings(_env_file=None), title="test")
    add_route(app, "POST", "/echo", echo)
    add_route(app, "GET", "/boom", boom)
    add_route(app, "GET", "/refuse", refuse)
    add_route(app, "POST", "/part/form", echo)
    add_route(app, "*", "/part/{tail:.*}", unmatched)  # a part's own catch-all
    return await aiohttp_client(app)


async def test_success_is_the_envelope(client: Any) -> None:
    response = await client.post("/echo", json={"count": 2})
    assert await response.json() == {"message": "OK", "code": 200, "data": {"count": 2}}


async def test_unexpected_errors_are_a_plain_500_without_a_trace(client: Any) -> None:
    response = await client.get("/boom")
    body = await response.json()
    assert response.status == 500
    assert body["reason"] == "internal_error"
    assert "secret internals" not in str(body)


async def test_api_errors_carry_their_contract_and_a_bearer_challenge(client: Any) -> None:
    response = await client.get("/refuse")
    assert response.status == 401
    assert (await response.json())["reason"] == "token_revoked"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"{", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b'{"count": "1"}', 422, "validation_failed"),
        (b'{"count": 1.5}', 422, "validation_failed"),
        (b'{"count": -1}', 422, "validation_failed"),
        (b'{"count": 1, "more": true}', 422, "validation_failed"),
        (b"null", 422, "validation_failed"),
        (b"x" * 70_000, 413, "payload_too_large"),
    ],
)
async def test_bad_bodies(client: Any, raw: bytes, status: int, reason: str) -> None:
    response = await client.post("/echo", data=raw)
    assert (response.status, (await response.json())["reason"]) == (status, reason)


async def test_health_metrics_and_openapi_are_served(client: Any) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert "latchkey_http_requests_total" in metrics
    assert (await (await client.get("/openapi.json")).json())["openapi"] == "3.1.0"


async def test_unmatched_paths_and_methods_get_the_envelope(client: Any) -> None:
    missing = await client.get("/nowhere/at/all")
    assert (missing.status, (await missing.json())["reason"]) == (404, "not_found")
    wrong_method = await client.delete("/echo")
    assert (wrong_method.status, (await wrong_method.json())["reason"]) == (
        405,
        "method_not_allowed",
    )
    assert wrong_method.headers["Allow"] == "POST"
    assert (await client.post("/healthz")).headers["Allow"] == "GET,HEAD"
    assert (await client.get("/part/nothing")).status == 404
    assert (await client.get("/part/form")).headers["Allow"] == "POST"
    assert (await client.head("/healthz")).status == 200


async def test_requests_are_counted_and_timed_per_route(client: Any) -> None:
    for _ in range(3):
        await client.get("/refuse")
    await client.get("/nowhere")
    metrics = await (await client.get("/metrics")).text()
    assert 'latchkey_http_requests_total{method="GET",route="/refuse",status="401"} 3.0' in metrics
    assert 'route="unmatched",status="404"} 1.0' in metrics
    assert 'latchkey_http_request_duration_seconds_bucket{le="+Inf",route="/refuse"} 3.0' in metrics
    assert 'latchkey_http_request_duration_seconds_count{route="/refuse"} 3.0' in metrics


def test_clients_cannot_grow_the_method_label() -> None:
    stats = RequestStats()
    for number in range(100):
        stats.observe("/r", f"X-{number}", 404, 0.001)
    requests = next(m for m in stats.collect() if m.name == "latchkey_http_requests")
    assert [s.labels["method"] for s in requests.samples if s.name.endswith("_total")] == ["OTHER"]


def test_latency_buckets_are_cumulative_and_inclusive() -> None:
    stats = RequestStats(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        stats.observe("/r", "GET", 200, seconds)
    latency = next(m for m in stats.collect() if m.name.endswith("duration_seconds"))
    buckets = {s.labels["le"]: s.value for s in latency.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 2.0, "1.0": 3.0, "+Inf": 4.0}
