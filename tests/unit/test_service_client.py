"""Answers a service should never give become a clear 503, never a KeyError or a 500."""

import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from latchkey.common.credentials import ServiceCredentials
from latchkey.common.registry_client import RegistryClient, RegistryUnavailable

ANSWERS: dict[str, tuple[int, Any]] = {
    "used": (409, {"message": "used", "code": 409, "reason": "link_already_used", "data": None}),
    "unknown": (404, {"message": "no", "code": 404, "reason": "token_not_found", "data": None}),
    "no-data": (200, {"message": "OK", "code": 200}),
    "first": (200, {"message": "OK", "code": 200, "data": {"firstUse": True}}),
    "other-shape": (200, {"message": "OK", "code": 200, "data": True}),
    "not-json": (200, "<html>a proxy's page</html>"),
}


@pytest.fixture
async def registry(aiohttp_server: Any) -> Any:
    """A registry that answers the deep-link call as the test's jti says."""
    outcomes: dict[str, str] = {}

    async def deep_link(request: web.Request) -> web.Response:
        status, body = ANSWERS[outcomes[request.match_info["jti"]]]
        if isinstance(body, str):
            return web.Response(text=body, status=status, content_type="text/html")
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/internal/v1/tokens/{jti}/deep-link", deep_link)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        credentials = ServiceCredentials("router", {"router": SecretStr("x" * 32)})
        client = RegistryClient(str(server.make_url("")), credentials, session)
        yield client, outcomes


async def test_deep_link_answers(registry: Any) -> None:
    client, outcomes = registry

    async def mark(outcome: str) -> bool:
        jti = uuid.uuid4()
        outcomes[str(jti)] = outcome
        result: bool = await client.mark_deep_link_used(jti)
        return result

    assert await mark("first") is True
    assert await mark("used") is False
    for outcome in ("unknown", "no-data", "other-shape", "not-json"):
        with pytest.raises(RegistryUnavailable):
            await mark(outcome)
