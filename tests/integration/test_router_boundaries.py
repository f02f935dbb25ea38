"""The router's walls, attacked in-process (real sockets, real PostgreSQL and RabbitMQ): pages of
other sites opening WebSockets with a user's cookie, and failed sign-ins through the form
that must count against the client who made them, never the router."""

import re
import secrets
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.support.apps import Services, running_services
from tests.support.infra import Infra
from tests.support.stack import USER_PASSWORD
from tests.support.upstream import upstream_app


@pytest.fixture
async def upstream(aiohttp_server: Any) -> str:
    server: TestServer = await aiohttp_server(upstream_app())
    return str(server.make_url("")).rstrip("/")


async def session_cookie(services: Services, token: str) -> str:
    status, _ = await services.call("router", "GET", f"/agent/app?accessToken={token}")
    assert status == 303
    async with services.http.get(
        f"{services.urls['router']}/agent/app?accessToken={token}", allow_redirects=False
    ) as response:
        return response.headers["Set-Cookie"].split(";", 1)[0]


async def open_socket(
    services: Services, cookie: str, origin: str | None
) -> aiohttp.ClientWebSocketResponse | int:
    headers = {"Cookie": cookie, **({"Origin": origin} if origin else {})}
    try:
        return await services.http.ws_connect(
            f"{services.urls['router']}/agent/app/socket", headers=headers
        )
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def test_websockets_open_only_from_the_portal_or_an_allowed_site(
    infra: Infra, fresh_database: str, exchange: str, upstream: str
) -> None:
    overrides = {"router": {"routes": f"/agent/app={upstream}"}}
    async with running_services(infra, fresh_database, exchange, overrides=overrides) as services:
        await services.live()
        admin = await services.token()
        user = await services.create_user(admin, "agent-one")
        cookie = await session_cookie(services, await services.token("agent-one", USER_PASSWORD))
        own = services.urls["router"]
        # Cross-site WebSocket hijacking: a page of evil.example, the victim's cookie. No
        # domain policy is set, and it is still refused.
        for origin in ("https://evil.example", "null", f"{own}.evil.example", "http://localhost"):
            assert await open_socket(services, cookie, origin) == 403, origin
        for origin in (own, None):  # the portal's own pages; a program (no Origin)
            socket = await open_socket(services, cookie, origin)
            assert not isinstance(socket, int), (origin, socket)
            assert (await socket.receive_str()) == "user:" + user["userId"]
            await socket.close()
        # A site the token allows may open one too.
        status, body = await services.call(
            "registry",
            "POST",
            "/api/v1/tokens",
            token=admin,
            json={"userId": user["userId"], "name": "crm", "allowedDomains": ["crm.example"]},
        )
        assert status == 201, body
        allowed = await session_cookie(services, body["data"]["accessToken"])
        socket = await open_socket(services, allowed, "https://crm.example")
        assert not isinstance(socket, int), socket
        await socket.close()
        assert await open_socket(services, allowed, "https://evil.example") == 403


async def form_sign_in(services: Services, address: str, username: str, password: str) -> int:
    """The sign-in form, as a browser at `address` uses it: its page, then its POST."""
    router = services.urls["router"]
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as browser:
        async with browser.get(f"{router}/agent/auth/login") as page:
            html = await page.text()
            # A browser at 127.0.0.1 keeps this Secure cookie over plain HTTP; aiohttp's jar
            # would not, so it is sent back by hand.
            csrf_cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found is not None
        async with browser.post(
            f"{router}/agent/auth/login",
            data={"username": username, "password": password, "csrf": found[1], "redirect": ""},
            headers={"Origin": router, "Cookie": csrf_cookie},
            allow_redirects=False,
        ) as answer:
            await answer.read()
            return answer.status


async def test_failed_form_sign_ins_lock_out_the_client_not_the_router(
    every_service: Services,
) -> None:
    services = every_service
    admin = await services.token()
    await services.create_user(admin, "agent-one")
    attacker, bystander = "127.0.0.41", "127.0.0.42"
    for _ in range(20):  # the address threshold; a new made-up name each time
        status = await form_sign_in(
            services, attacker, f"guess-{secrets.token_hex(4)}", "wrong password"
        )
        assert status == 401
    assert await form_sign_in(services, attacker, "agent-one", USER_PASSWORD) == 429
    # Everybody else still signs in through the same router.
    assert await form_sign_in(services, bystander, "agent-one", USER_PASSWORD) == 303
    assert await services.token("agent-one", USER_PASSWORD)
