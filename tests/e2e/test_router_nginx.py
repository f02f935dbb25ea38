"""Debian's nginx guarding an upstream with `auth_request` against the router's forward-auth,
configured as the README shows (tests/support/nginx.py holds that configuration)."""

from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from tests.support.nginx import nginx, nginx_binary
from tests.support.portal import Portal
from tests.support.propagation import until
from tests.support.upstream import SEEN


@pytest.fixture
def nginx_path() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx with auth_request is not installed here (apt-get install nginx-light)")
    return binary


async def test_nginx_auth_request_admits_live_sessions_only_and_sets_the_identity_headers(
    portal: Portal, tmp_path: Path, nginx_path: str
) -> None:
    token = await portal.agent_token()
    session = (await portal.session_cookie(token))["latchkey_session"]
    cookie = {"Cookie": f"theme=dark; latchkey_session={session}; lang=fi"}
    subject = jwt.decode(token, options={"verify_signature": False})["sub"]
    upstream = str(portal.upstream.make_url("")).rstrip("/")
    spoofed = {"X-Latchkey-User": "someone-else", "X-Latchkey-Roles": "admin"}

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
        headers = seen["headers"]
        assert headers["X-Latchkey-User"] == subject
        assert headers["X-Latchkey-User-Name"] == "agent-one"
        assert headers["X-Latchkey-Roles"] == "agent"
        assert headers["X-Latchkey-Portal"] == "agent"
        # The app gets neither the session cookie nor a bearer token; its own cookies pass.
        assert headers["Cookie"] == "theme=dark; lang=fi"
        status, seen = await get({"Authorization": f"Bearer {token}"})
        assert status == 200
        assert "Authorization" not in seen["headers"]

        await portal.revoke(token)

        async def shut_out() -> bool:
            return (await get(cookie))[0] == 401

        await until(shut_out, timeout=5, interval=0.05)
        assert (await get({"Authorization": f"Bearer {token}"}))[0] == 401


CONFUSING = [
    "/agent/../admin/files/secret",
    "/agent/%2e%2e/admin/files/secret",
    "/agent/%2E%2E/admin/files/secret",
    "/agent/./../admin/files/secret",
    "/agent//../admin/files/secret",
    "/agent/..%2Fadmin/files/secret",
    "/agent/..;/admin/files/secret",
    "/agent/.%2e/admin/files/secret",
]


async def test_a_path_that_nginx_reads_as_another_portal_is_refused(
    portal: Portal, tmp_path: Path, nginx_path: str
) -> None:
    """The attack: a user whose token opens only the agent portal asks nginx for an agent
    path that nginx normalises into the admin location. Forward-auth reads the portal the way
    nginx does, refuses what normalises to another path, and checks the portal the location
    names: nothing of the admin location is served."""
    token = await portal.agent_token()
    session = (await portal.session_cookie(token))["latchkey_session"]
    upstream = str(portal.upstream.make_url("")).rstrip("/")
    async with (
        nginx(nginx_path, tmp_path, upstream=upstream, router=portal.stack.router.url) as proxy,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client,
    ):
        for credential in (
            {"Cookie": f"latchkey_session={session}"},
            {"Authorization": f"Bearer {token}"},
        ):
            async with client.get(proxy.url + "/agent/app/x", headers=credential) as response:
                assert response.status == 200, "the agent portal itself is open to this user"
            for path in CONFUSING:
                url = aiohttp.client.URL(proxy.url + path, encoded=True)
                async with client.get(url, headers=credential, allow_redirects=False) as response:
                    body = await response.text()
                    assert response.status in (400, 401, 403), (path, response.status, body)
                    assert "files/secret" not in body, path
            async with client.get(proxy.url + "/admin/app/x", headers=credential) as response:
                assert response.status in (401, 403)
    served = [record["path"] for record in portal.upstream.app[SEEN]]
    assert not [path for path in served if "admin" in path], served
