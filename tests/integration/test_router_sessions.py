"""Sessions through the router, in-process: proxying (HTTP streamed, WebSocket), identity
headers, the end of a session on revocation, sign-out, the domain policy, frame-ancestors,
forward-auth and each portal on its own port."""

import asyncio
import hashlib
import os

import aiohttp
import jwt
import pytest
from yarl import URL

from tests.support.portal import Portal, PortalFactory
from tests.support.processes import free_port
from tests.support.propagation import until

HTML = {"Accept": "text/html"}
API = {"Accept": "application/json"}


async def test_a_revoked_token_ends_its_session_at_the_next_request(portal: Portal) -> None:
    token = await portal.agent_token()
    cookies = await portal.session_cookie(token)
    assert (await portal.get("/agent/app/inbox", cookies=cookies)).status == 200
    await portal.revoke(token)

    async def refused() -> bool:
        page = await portal.get(
            "/agent/app/inbox", cookies=cookies, headers={"Accept": "text/html"}
        )
        return page.status == 401

    await until(refused, timeout=5)
    page = await portal.get("/agent/app/inbox", cookies=cookies, headers=HTML)
    assert "token_revoked" in await page.text()
    assert "latchkey_session=;" in page.headers["Set-Cookie"]
    assert "Max-Age=0" in page.headers["Set-Cookie"]


async def test_a_live_websocket_is_closed_when_its_token_is_revoked(portal: Portal) -> None:
    token = await portal.agent_token()
    cookies = await portal.session_cookie(token)
    header = {"Cookie": f"latchkey_session={cookies['latchkey_session']}"}
    url = URL(portal.stack.router_url.replace("http", "ws") + "/agent/app/socket")
    async with aiohttp.ClientSession() as client, client.ws_connect(url, headers=header) as ws:
        greeting = await ws.receive_str(timeout=5)
        assert greeting.startswith("user:")
        await ws.send_str("hello")
        assert await ws.receive_str(timeout=5) == "echo:hello"
        started = asyncio.get_running_loop().time()
        await portal.revoke(token)
        message = await ws.receive(timeout=5)
        elapsed = asyncio.get_running_loop().time() - started
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4401
        assert message.extra == "token_revoked"
        assert elapsed < 5


async def test_websockets_refuse_without_a_session(portal: Portal) -> None:
    url = URL(portal.stack.router_url.replace("http", "ws") + "/agent/app/socket")
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(url)
    assert refused.value.status == 401


async def test_large_bodies_stream_both_ways(portal: Portal) -> None:
    cookies = await portal.session_cookie(await portal.agent_token())
    payload = os.urandom(20 * 1024 * 1024)

    async def body():  # type: ignore[no-untyped-def]
        for start in range(0, len(payload), 1 << 20):
            yield payload[start : start + (1 << 20)]

    page = await portal.post("/agent/app/upload", data=body(), cookies=cookies)
    seen = await page.json()
    assert (seen["bodyBytes"], seen["bodySha256"]) == (
        len(payload),
        hashlib.sha256(payload).hexdigest(),
    )
    big = await portal.get("/agent/app/big", cookies=cookies)
    assert len(big.body) == 8 * 1024 * 1024


async def test_identity_headers_are_ours_and_hop_by_hop_headers_stay_put(
    portal_factory: PortalFactory,
) -> None:
    portal = await portal_factory(admin_app=True)
    token = await portal.agent_token()
    cookies = await portal.session_cookie(token)
    spoofed = {
        "X-Latchkey-User": "admin",
        "X-Latchkey-Roles": "admin",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "do not forward",
        "Authorization": "Bearer something-else",
        "Forwarded": "for=6.6.6.6;host=evil.example",
        "X-Real-IP": "6.6.6.6",
        "X-Forwarded-Host": "evil.example",
    }
    page = await portal.get("/agent/app/who", cookies=cookies, headers=spoofed)
    seen = (await page.json())["headers"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert seen["X-Latchkey-User"] == claims["sub"]
    assert seen["X-Latchkey-Roles"] == "agent"
    assert "X-Hop" not in seen
    assert "Authorization" not in seen
    assert seen["X-Forwarded-Prefix"] == "/agent/app"
    assert "Forwarded" not in seen
    assert "X-Real-IP" not in seen
    assert seen["X-Forwarded-Host"] != "evil.example"
    assert "X-Secret-Hop" not in page.headers
    assert page.headers["X-Upstream"] == "yes"

    # Nothing invented: a client that asks for no encoding must not get a gzipped body.
    bare = await portal.get(
        "/agent/app/who",
        cookies=cookies,
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
    )
    bare_seen = (await bare.json())["headers"]
    assert {"Accept", "Accept-Encoding", "User-Agent"}.isdisjoint(bare_seen), bare_seen

    admin_token = await portal.stack.token()
    admin_cookies = await portal.session_cookie(admin_token, "/admin/app")
    admin_seen = (await (await portal.get("/admin/app/x", cookies=admin_cookies)).json())["headers"]
    assert admin_seen["Authorization"] == f"Bearer {admin_token}"


async def test_the_upstream_gets_the_cleaned_path_and_the_query_as_sent(portal: Portal) -> None:
    cookies = await portal.session_cookie(await portal.agent_token())
    for sent, expected in [
        ("/agent/app/x/../who?q=a%26b&r=%C2%B2", "/who?q=a%26b&r=%C2%B2"),
        ("/agent/app/./a//b?x=1", "/a/b?x=1"),
        ("/agent/app/x/%2e%2e/y", "/y"),  # an escaped dot segment is one too
    ]:
        page = await portal.get(sent, cookies=cookies)
        assert page.status == 200, (sent, page.status)
        raw = (await page.json())["rawPath"]
        assert raw.endswith(expected), (sent, raw)
        assert ".." not in raw, (sent, raw)


async def test_an_upstream_failing_mid_answer_cuts_the_answer_short(
    portal: Portal, caplog: pytest.LogCaptureFixture
) -> None:
    cookies = await portal.session_cookie(await portal.agent_token())
    with pytest.raises(aiohttp.ClientPayloadError):
        await portal.get("/agent/app/broken", cookies=cookies)
    assert (await portal.get("/agent/app/who", cookies=cookies)).status == 200
    assert "failed mid-answer" in caplog.text
    assert "unhandled error" not in caplog.text


async def test_upstream_redirects_to_itself_come_back_under_the_prefix(portal: Portal) -> None:
    cookies = await portal.session_cookie(await portal.agent_token())
    page = await portal.get("/agent/app/redirect", cookies=cookies)
    assert (page.status, page.headers["Location"]) == (302, "/agent/app/landing")


async def test_a_portal_without_an_upstream_shows_who_is_signed_in(portal: Portal) -> None:
    cookies = await portal.session_cookie(await portal.agent_token(), "/agent/home")
    page = await portal.get("/agent/home", cookies=cookies)
    html = await page.text()
    assert page.status == 200
    assert "agent-one" in html
    assert "Signed in to agent" in html


async def test_sign_out_ends_the_session_and_revokes_the_token(portal: Portal) -> None:
    token = await portal.agent_token()
    cookies = await portal.session_cookie(token)
    cross_site = await portal.post(
        "/agent/auth/logout", cookies=cookies, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status == 403
    out = await portal.post(
        "/agent/auth/logout", cookies=cookies, headers={"Origin": portal.stack.router_url}
    )
    assert out.status == 200
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    reply = await portal.stack.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (reply.status, reply.reason) == (401, "token_revoked")


ALLOWED = ["crm.example.com", "*.intranet.example.org", "localhost:3000"]

SENDERS = [
    ({"Origin": "https://crm.example.com"}, 303),
    ({"Referer": "https://crm.example.com/contacts/1?x=y"}, 303),
    ({"Referer": "https://a.b.intranet.example.org/"}, 303),
    ({"Origin": "http://localhost:3000"}, 303),
    ({"Origin": "https://CRM.EXAMPLE.COM."}, 303),
    ({"Origin": "https://evil-example.com"}, 403),
    ({"Origin": "https://crm.example.com.evil.com"}, 403),
    ({"Referer": "https://crm.example.com@evil.com/"}, 403),
    ({"Referer": "https://evil.com/?https://crm.example.com"}, 403),
    ({"Origin": "https://intranet.example.org"}, 403),
    ({"Origin": "https://xintranet.example.org"}, 403),
    ({"Origin": "http://localhost:3001"}, 403),
    ({"Origin": "http://localhost"}, 403),
    ({"Origin": "null"}, 403),
    ({"Referer": "file:///etc/passwd"}, 403),
    ({"Referer": "javascript:alert(1)"}, 403),
    ({"Origin": "https://xn--crm-xoa.example.com"}, 403),
    ({"Origin": "https://crm.example.com:8443"}, 303),
    ({}, 303),
    ({"Sec-Fetch-Dest": "iframe"}, 403),
    ({"Sec-Fetch-Dest": "iframe", "Referer": "https://crm.example.com/"}, 303),
]


async def test_only_allowed_sites_can_send_users_in(portal: Portal) -> None:
    """An allowed site's link signs in: with fetch metadata (as browsers send over HTTPS)
    straight to the page, without it (plain HTTP, where it may be a frame) through a page
    that goes on to it at top level or says what is wrong inside a frame."""
    token = await portal.generated_token(allowed_domains=ALLOWED)
    for headers, status in SENDERS:
        named = ("Origin" in headers or "Referer" in headers) and "Sec-Fetch-Dest" not in headers
        metadata = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "cross-site"}
        for sent in [headers, {**metadata, **headers}] if named else [headers]:
            page = await portal.get(f"/agent/app?accessToken={token}", headers=sent)
            no_metadata = "Sec-Fetch-Dest" not in sent and ("Origin" in sent or "Referer" in sent)
            expected = 200 if status == 303 and no_metadata else status
            assert page.status == expected, (sent, await page.text())
            if expected == 200:
                assert 'data-target="/agent/app"' in await page.text()
                assert "Set-Cookie" in page.headers
            if status == 403:
                assert (await page.json())["reason"] == "domain_not_allowed"


async def test_frame_ancestors_follow_the_tokens_domains(portal: Portal) -> None:
    with_domains = await portal.generated_token(allowed_domains=ALLOWED)
    page = await portal.get(f"/agent/app?accessToken={with_domains}")
    csp = page.headers["Content-Security-Policy"]
    assert csp == (
        "frame-ancestors 'self' http://crm.example.com:* https://crm.example.com:*"
        " http://*.intranet.example.org:* https://*.intranet.example.org:*"
        " http://localhost:3000 https://localhost:3000"
    )
    cookies = await portal.session_cookie(with_domains)
    proxied = await portal.get("/agent/app/x", cookies=cookies)
    assert proxied.headers["Content-Security-Policy"] == csp
    plain = await portal.agent_token()
    page = await portal.get(f"/agent/app?accessToken={plain}")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self'"


async def test_the_global_policy_applies_to_tokens_without_domains(portal: Portal) -> None:
    admin = await portal.stack.token()
    await portal.stack.call(
        "registry",
        "PUT",
        "/api/v1/domain-policy",
        token=admin,
        json={"domains": ["portal.example"]},
    )
    token = await portal.agent_token()

    async def policy_in_force() -> bool:
        page = await portal.get(
            f"/agent/app?accessToken={token}", headers={"Origin": "https://other.example"}
        )
        return page.status == 403

    await until(policy_in_force, timeout=5, interval=0.05)
    top_level = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "cross-site"}
    page = await portal.get(
        f"/agent/app?accessToken={token}",
        headers={"Origin": "https://portal.example", **top_level},
    )
    assert page.status == 303


async def test_forward_auth_answers_with_identity_headers(portal: Portal) -> None:
    token = await portal.agent_token()
    cookies = await portal.session_cookie(token)
    uri = {"X-Original-URI": "/agent/app/chat"}
    ok = await portal.get("/_latchkey/verify", cookies=cookies, headers=uri)
    assert ok.status == 200
    assert ok.headers["X-Latchkey-User-Name"] == "agent-one"
    assert ok.headers["X-Latchkey-Portal"] == "agent"
    bearer = await portal.get(
        "/_latchkey/verify",
        headers={"X-Original-URI": "/agent/x", "Authorization": f"Bearer {token}"},
    )
    assert bearer.status == 200
    # Only the configured header names the portal: one the client slipped in beside it, as
    # a proxy passes client headers on, changes nothing.
    for headers in [
        {"X-Forwarded-Uri": "/agent/x"},
        {"X-Original-URI": "/admin/x", "X-Forwarded-Uri": "/agent/x"},
    ]:
        slipped = await portal.get("/_latchkey/verify", cookies=cookies, headers=headers)
        assert slipped.status == 401, headers
    assert (await portal.get("/_latchkey/verify", headers=uri)).status == 401
    wrong_portal = await portal.get(
        "/_latchkey/verify", cookies=cookies, headers={"X-Original-URI": "/admin/x"}
    )
    assert wrong_portal.status == 401
    await portal.revoke(token)

    async def refused() -> bool:
        return (await portal.get("/_latchkey/verify", cookies=cookies, headers=uri)).status == 401

    await until(refused, timeout=5)


async def test_tampered_or_foreign_cookies_are_no_session(portal_factory: PortalFactory) -> None:
    portal = await portal_factory(admin_app=True)
    cookies = await portal.session_cookie(await portal.agent_token())
    value = cookies["latchkey_session"]
    middle = len(value) // 2
    flipped = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
    for forged in (flipped, value[:-10], "garbage", "a" * 5000):
        page = await portal.get("/agent/app/x", cookies={"latchkey_session": forged}, headers=API)
        assert page.status == 401, forged[:20]
    admin_cookie = await portal.session_cookie(await portal.stack.token(), "/admin/app")
    page = await portal.get("/agent/app/x", cookies=admin_cookie, headers=API)
    assert page.status == 401


async def test_each_portal_is_served_on_its_own_port_and_extra_ports_serve_no_portal(
    portal_factory: PortalFactory,
) -> None:
    extra = free_port()
    portal = await portal_factory(router_extra_ports=[extra])
    token = await portal.agent_token()
    admin = await portal.stack.token()
    router = portal.stack.router_url
    admin_origin = portal.stack.admin_url()
    navigate = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}

    async def get(url: str, **headers: str) -> aiohttp.ClientResponse:
        async with portal.client.get(url, headers=headers, allow_redirects=False) as response:
            await response.read()
            return response

    signed_in = await get(f"{router}/agent/app?accessToken={token}")
    assert signed_in.status == 303
    assert "latchkey_session=" in signed_in.headers["Set-Cookie"]
    console = await get(f"{admin_origin}/admin/welcome?accessToken={admin}")
    assert console.status == 303, "existing clients' admin links: the admin portal's own port"
    # A portal asked for on another portal's origin: a page is sent there, a program refused.
    for url, portal_origin in (
        (f"{router}/admin/welcome?accessToken={admin}", admin_origin),
        (f"{admin_origin}/agent/chat?accessToken={token}", router),
        (f"{URL(router).with_port(extra)}/agent/chat?accessToken={token}", router),
    ):
        moved = await get(url, **navigate)
        assert moved.status == 307, url
        assert moved.headers["Location"] == portal_origin + URL(url).raw_path_qs
        assert "Set-Cookie" not in moved.headers
        refused = await get(url, Accept="application/json")
        assert refused.status == 421, url
    ready = await get(f"{URL(router).with_port(extra)}/readyz")
    assert ready.status == 200, "the extra port answers health and forward-auth"
