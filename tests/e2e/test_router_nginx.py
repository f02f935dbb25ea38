"""Debian's nginx guarding an upstream with `auth_request` against the router's forward-auth."""

from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from tests.e2e.conftest import Portal
from tests.e2e.test_router_sessions import revoke
from tests.support.nginx import nginx, nginx_binary
from tests.support.propagation import until


@pytest.fixture
def nginx_path() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx with auth_request is not installed here (apt-get install nginx-light)")
    return binary


async def test_nginx_auth_request_admits_live_sessions_only_and_sets_the_identity_header(
    portal: Portal, tmp_path: Path, nginx_path: str
) -> None:
    token = await portal.agent_token()
    cookie = {
        "Cookie": "latchkey_session=" + (await portal.session_cookie(token))["latchkey_session"]
    }
    subject = jwt.decode(token, options={"verify_signature": False})["sub"]
    upstream = str(portal.upstream.make_url("")).rstrip("/")
    spoofed = {"X-Latchkey-User": "someone-else"}

    async with (
        nginx(nginx_path, tmp_path, upstream=upstream, router=portal.stack.router.url) as proxy,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client,
    ):

        async def get(headers: dict[str, str]) -> tuple[int, Any]:
            async with client.get(
                proxy.url + "/agent/app/inbox?room=7", headers=headers, allow_redirects=False
            ) as response:
                body = await response.json() if response.status == 200 else None
                return response.status, body

        assert (await get({}))[0] == 401
        assert (await get(spoofed))[0] == 401
        status, seen = await get({**cookie, **spoofed})
        assert status == 200, proxy.error_log()[-2000:]
        assert (seen["path"], seen["query"]) == ("/agent/app/inbox", "room=7")
        assert seen["headers"]["X-Latchkey-User"] == subject
        assert seen["headers"]["X-Latchkey-User-Name"] == "agent-one"
        assert (await get({"Authorization": f"Bearer {token}"}))[0] == 200

        await revoke(portal, token)

        async def shut_out() -> bool:
            return (await get(cookie))[0] == 401

        await until(shut_out, timeout=5, interval=0.05)
        assert (await get({"Authorization": f"Bearer {token}"}))[0] == 401
