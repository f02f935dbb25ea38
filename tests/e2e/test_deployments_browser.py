"""Deep links and API calls as real deployments use them, in Chromium with host names mapped
to loopback inside the browser (`portal.test`, `crm.test`): plain HTTP at a host name, HTTPS
iframes (TLS by nginx, and by the router itself), framed links that cannot work explaining
why, and an API route called from another site's page."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Frame, Page
from yarl import URL

from tests.support.browser import (
    chromium,
    chromium_profile,
    portal_frame,
    screenshot,
    session_cookie,
    shown_json,
)
from tests.support.nginx import nginx, nginx_binary, tls_front
from tests.support.portal import Portal, PortalFactory
from tests.support.tls import self_signed
from tests.support.upstream import SEEN, upstream_app

pytestmark = pytest.mark.browser

TIMEOUT = 15_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium(host_names=True) as launched:
        yield launched


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(viewport={"width": 1000, "height": 700})
    made.set_default_timeout(TIMEOUT)
    yield made
    await made.close()


def at(url: str, host: str) -> str:
    """`url` with its host replaced (127.0.0.1 becomes a host name the browser maps back)."""
    return str(URL(url).with_host(host))


def partner_page(iframe: str, *, link: str | None = None, script: str = "") -> str:
    """Another site's page framing the portal (and offering a link into the frame)."""
    anchor = f'<p><a id="next" href="{link}" target="portal">Next page</a></p>' if link else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CRM</title></head>'
        f"<body><h1>The CRM</h1>{anchor}"
        f'<iframe id="portal" name="portal" src="{iframe}" width="900" height="400"></iframe>'
        f"{script}</body></html>"
    )


async def partner_site(aiohttp_server: Any, pages: dict[str, str]) -> str:
    """A site of its own (crm.test in the browser) serving `pages` by path."""

    async def serve(request: web.Request) -> web.Response:
        html = pages.get(request.path)
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    server: TestServer = await aiohttp_server(app)
    return f"http://crm.test:{server.port}"


async def test_every_url_form_existing_clients_use_signs_in_over_plain_http_at_a_host_name(
    portal: Portal, context: BrowserContext
) -> None:
    agent = at(portal.stack.router.url, "portal.test")
    admin = at(portal.stack.admin_url(), "portal.test")
    agent_token = await portal.agent_token()
    admin_token = await portal.stack.token()
    forms = [
        (agent, "/agent/auth/login", agent_token, "/agent/", "agent"),
        (agent, "/agent/chat", agent_token, "/agent/chat", "agent"),
        (agent, "/agent/ticket?id=42", agent_token, "/agent/ticket?id=42", "agent"),
        (
            agent,
            "/agent/工单/详情",
            agent_token,
            "/agent/%E5%B7%A5%E5%8D%95/%E8%AF%A6%E6%83%85",
            "agent",
        ),
        (admin, "/admin/auth/login", admin_token, "/admin/", "admin"),
        (admin, "/admin/welcome", admin_token, "/admin/welcome", "admin"),
        (admin, "/admin/dashboard", admin_token, "/admin/dashboard", "admin"),
    ]
    page = await context.new_page()
    for origin, path, token, landing, portal_name in forms:
        await context.clear_cookies()
        joiner = "&" if "?" in path else "?"
        response = await page.goto(f"{origin}{path}{joiner}accessToken={token}")
        assert response is not None
        assert response.status == 200, (path, await page.content())
        assert page.url == origin + landing, (path, page.url)
        assert await page.locator("h1").inner_text() == f"Signed in to {portal_name}", path
        cookie = await session_cookie(context, page.url)
        assert cookie is not None, f"{path}: the browser kept no session cookie"
        assert (cookie["secure"], cookie["sameSite"], cookie["httpOnly"]) == (False, "Lax", True)
        # The session holds on the next click, as a person would use it.
        again = await page.goto(origin + f"/{portal_name}/somewhere-else")
        assert again is not None
        assert again.status == 200, path
    await screenshot(page, "host-name-plain-http")


async def framed_through(page: Page, partner: str) -> tuple[Frame, dict[str, Any]]:
    """The partner page loaded; the frame landed signed in; what the upstream saw."""
    await page.goto(partner)
    frame = await portal_frame(page)
    await frame.wait_for_url("**/agent/app/inbox", timeout=TIMEOUT)
    seen = await shown_json(frame)
    return frame, seen


async def assert_stays_signed_in(page: Page, frame: Frame, portal: Portal, subject: str) -> None:
    await page.click("#next")
    await frame.wait_for_url("**/agent/app/next", timeout=TIMEOUT)
    seen = await shown_json(frame)
    assert seen["headers"]["X-Latchkey-User"] == subject
    assert seen["path"] == "/next"  # the route's prefix is the upstream's root
    assert all("accessToken" not in record["rawPath"] for record in portal.upstream.app[SEEN])


@dataclass(frozen=True)
class HttpsFrame:
    """nginx terminating TLS for the router (portal.test) and serving a partner page
    (crm.test) that frames a deep link: both over HTTPS, as a real embedding is."""

    portal: Portal
    partner: str
    portal_origin: str


@asynccontextmanager
async def https_frame(portal_factory: PortalFactory, tmp_path: Path) -> AsyncIterator[HttpsFrame]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed here")
    portal = await portal_factory(LATCHKEY_TRUSTED_PROXIES="127.0.0.1")
    token = await portal.generated_token(allowed_domains=["crm.test"])
    certificate, key = self_signed(tmp_path)
    partner_root = tmp_path / "partner"
    partner_root.mkdir()

    def servers(port: int) -> str:
        portal_url = f"https://portal.test:{port}"
        (partner_root / "page.html").write_text(
            partner_page(
                f"{portal_url}/agent/app/inbox?accessToken={token}",
                link=f"{portal_url}/agent/app/next",
            )
        )
        return tls_front(
            port=port,
            router=portal.stack.router.url,
            certificate=certificate,
            key=key,
            partner=partner_root,
        )

    async with nginx(
        binary, tmp_path / "nginx", router=portal.stack.router.url, servers=servers
    ) as proxy:
        port = URL(proxy.url).port
        yield HttpsFrame(portal, f"https://crm.test:{port}/", f"https://portal.test:{port}")


async def test_a_cross_site_iframe_over_https_from_nginx_stays_signed_in_across_pages(
    portal_factory: PortalFactory, context: BrowserContext, tmp_path: Path
) -> None:
    async with https_frame(portal_factory, tmp_path) as embedding:
        page = await context.new_page()
        frame, seen = await framed_through(page, embedding.partner)
        subject = seen["headers"]["X-Latchkey-User"]
        assert seen["headers"]["X-Forwarded-Proto"] == "https"
        cookies = [c for c in await context.cookies() if c["name"] == "latchkey_session"]
        assert cookies, "the partitioned cookie was not kept"
        assert (cookies[0]["secure"], cookies[0]["sameSite"]) == (True, "None")
        assert cookies[0].get("partitionKey") == "https://crm.test"
        await assert_stays_signed_in(page, frame, embedding.portal, subject)
        await screenshot(page, "iframe-https-nginx")


PROBE_COOKIES = """() => {
  document.cookie = "probe_plain=1; Secure; SameSite=None; Path=/";
  document.cookie = "probe_partitioned=1; Secure; SameSite=None; Partitioned; Path=/";
  return document.cookie;
}"""


async def test_with_third_party_cookies_blocked_chromium_keeps_the_partitioned_session(
    portal_factory: PortalFactory, tmp_path: Path
) -> None:
    """What Chromium allows: with "Block third-party cookies" on, a frame's unpartitioned
    cookie is refused but its partitioned one is kept, so the framed sign-in needs no
    Storage Access prompt."""
    block_third_party = {"profile": {"cookie_controls_mode": 1, "block_third_party_cookies": True}}
    async with (
        https_frame(portal_factory, tmp_path) as embedding,
        chromium_profile(tmp_path / "profile", block_third_party) as context,
    ):
        context.set_default_timeout(TIMEOUT)
        page = await context.new_page()
        frame, seen = await framed_through(page, embedding.partner)
        kept = await frame.evaluate(PROBE_COOKIES)
        assert "probe_partitioned=1" in kept
        assert "probe_plain=1" not in kept, "third-party cookies were not blocked"
        await assert_stays_signed_in(
            page, frame, embedding.portal, seen["headers"]["X-Latchkey-User"]
        )


async def test_where_the_browser_keeps_no_cookie_in_the_frame_it_offers_what_can_help(
    portal_factory: PortalFactory, tmp_path: Path
) -> None:
    """A person who blocked the portal's cookies inside the partner's pages: the frame says
    so instead of looping to a sign-in form, offers the Storage Access API (which Chromium
    refuses for a site whose cookies the person blocked), and opens the portal in a tab of
    its own, where it signs in."""
    blocked_in_partner = {
        "profile": {
            "content_settings": {
                "exceptions": {"cookies": {"[*.]portal.test,[*.]crm.test": {"setting": 2}}}
            }
        }
    }
    async with (
        https_frame(portal_factory, tmp_path) as embedding,
        chromium_profile(tmp_path / "profile", blocked_in_partner) as context,
    ):
        context.set_default_timeout(TIMEOUT)
        page = await context.new_page()
        await page.goto(embedding.partner)
        frame = await portal_frame(page)
        await frame.locator("h1", has_text="cannot keep you signed in here").wait_for()
        allow = frame.get_by_role("button", name="Allow agent to keep you signed in here")
        await allow.click()
        await frame.get_by_text("The browser did not allow it.").wait_for()
        await screenshot(page, "iframe-cookies-blocked")
        link = frame.get_by_role("link", name="Open in a new tab")
        async with context.expect_page() as opened:
            await link.click()
        tab = await opened.value
        await tab.wait_for_url("**/agent/app/inbox")
        seen = await shown_json(tab)
        assert seen["headers"]["X-Latchkey-User"] == embedding.portal.agent_id


async def test_a_cross_site_iframe_over_the_routers_own_https_stays_signed_in(
    portal_factory: PortalFactory, context: BrowserContext, tmp_path: Path, aiohttp_server: Any
) -> None:
    certificate, key = self_signed(tmp_path)
    portal = await portal_factory(
        LATCHKEY_TLS_CERT_FILE=str(certificate), LATCHKEY_TLS_KEY_FILE=str(key)
    )
    assert portal.stack.router.url.startswith("https://")
    token = await portal.generated_token(allowed_domains=["crm.test"])
    router = at(portal.stack.router.url, "portal.test")
    partner = await partner_site(
        aiohttp_server,
        {
            "/": partner_page(
                f"{router}/agent/app/inbox?accessToken={token}", link=f"{router}/agent/app/next"
            )
        },
    )
    page = await context.new_page()
    frame, seen = await framed_through(page, partner + "/")
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    await assert_stays_signed_in(page, frame, portal, seen["headers"]["X-Latchkey-User"])
    await screenshot(page, "iframe-https-router")


async def test_framed_deep_links_that_cannot_work_there_say_why_inside_the_frame(
    portal: Portal, context: BrowserContext, aiohttp_server: Any
) -> None:
    router = at(portal.stack.router.url, "portal.test")
    no_domains = await portal.generated_token()
    allowed_over_http = await portal.generated_token(allowed_domains=["crm.test"])
    partner = await partner_site(
        aiohttp_server,
        {
            "/a": partner_page(f"{router}/agent/app/inbox?accessToken={no_domains}"),
            "/b": partner_page(f"{router}/agent/app/inbox?accessToken={allowed_over_http}"),
        },
    )
    for path, reason, says in [
        ("/a", "frame_not_allowed", "allowed domains"),
        ("/b", "embedding_needs_https", "HTTPS"),
    ]:
        page = await context.new_page()
        await page.goto(partner + path)
        frame = await portal_frame(page)
        heading = frame.locator("h1", has_text="This portal cannot be shown here")
        await heading.wait_for()
        text = await frame.locator("main").inner_text()
        assert says in text, (reason, text)
        link = frame.get_by_role("link", name="Open in a new tab")
        assert await link.get_attribute("target") == "_blank"
        await screenshot(page, f"iframe-explained-{reason}")
        # The way out works: the link opens the portal in a tab of its own, signed in.
        async with context.expect_page() as opened:
            await link.click()
        tab = await opened.value
        await tab.wait_for_url("**/agent/app/inbox")
        seen = await shown_json(tab)
        assert seen["headers"]["X-Latchkey-User"] == portal.agent_id
        assert "accessToken" not in tab.url
        await tab.close()
        await page.close()


API_SCRIPT = """<script>
(async () => {
  const call = async (token) => {
    try {
      const answer = await fetch(%(api)s, {headers: {Authorization: "Bearer " + token}});
      const body = await answer.json();
      return {status: answer.status, reason: body.reason || null, path: body.path || null,
              user: (body.headers || {})["X-Latchkey-User"] || null};
    } catch (error) { return {status: "blocked"}; }
  };
  window.callApi = call;
  document.title = "ready";
})();
</script>"""


async def test_an_api_route_is_called_from_another_sites_page_with_a_bearer_token(
    portal_factory: PortalFactory, context: BrowserContext, aiohttp_server: Any
) -> None:
    """The seed's API paths at the root, routed as an API: bearer tokens only, CORS for the
    sites the token allows, envelopes, and refused at the next call once revoked."""
    upstream: TestServer = await aiohttp_server(upstream_app())
    base = str(upstream.make_url("")).rstrip("/")
    routes = json.dumps(
        [
            {"prefix": "/agent/app", "upstream": base},
            {"prefix": "/api/tickets", "upstream": base, "api": True, "portals": ["agent"]},
        ]
    )
    portal = await portal_factory(LATCHKEY_ROUTES=routes)
    router = at(portal.stack.router.url, "portal.test")
    api = f"{router}/api/tickets/7"
    partner = await partner_site(
        aiohttp_server,
        {"/": "<!doctype html><title>loading</title>" + API_SCRIPT % {"api": json.dumps(api)}},
    )
    allowed = await portal.generated_token(allowed_domains=["crm.test"])
    elsewhere = await portal.generated_token(allowed_domains=["other.test"])
    page = await context.new_page()
    await page.goto(partner + "/")
    await page.wait_for_function("document.title === 'ready'")

    answer = await page.evaluate("(token) => window.callApi(token)", allowed)
    assert answer["status"] == 200, answer
    assert answer["path"] == "/7"
    assert answer["user"] == portal.agent_id
    refused = await page.evaluate("(token) => window.callApi(token)", elsewhere)
    assert (refused["status"], refused["reason"]) == (403, "domain_not_allowed"), refused
    missing = await page.evaluate("(token) => window.callApi(token)", "not-a-token")
    assert (missing["status"], missing["reason"]) == (401, "token_invalid"), missing

    await portal.revoke(allowed)
    for _ in range(100):
        answer = await page.evaluate("(token) => window.callApi(token)", allowed)
        if answer["status"] == 401:
            break
        await page.wait_for_timeout(50)
    assert (answer["status"], answer["reason"]) == (401, "token_revoked"), answer
    # Never a cookie, never a redirect: a program without a token gets the envelope.
    plain = await portal.get("/api/tickets/7", headers={"Accept": "text/html"})
    assert plain.status == 401
    assert "Set-Cookie" not in plain.headers
    assert (await plain.json())["reason"] == "token_missing"
