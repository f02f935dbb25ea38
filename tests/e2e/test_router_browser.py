"""The portal router in Debian's Chromium: deep links as a page and inside another site's
iframe, the sign-in form, the revoked page, with screenshots of each screen kept."""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext

from tests.support.browser import (
    chromium,
    embed_url,
    embedding_site,
    portal_frame,
    screenshot,
    session_cookie,
    shown_json,
)
from tests.support.portal import Portal, PortalFactory
from tests.support.propagation import until
from tests.support.stack import USER_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile (no cookies); waits fail after 10 s rather than pytest's timeout."""
    context = await browser.new_context(viewport={"width": 1000, "height": 640})
    context.set_default_timeout(10_000)
    yield context
    await context.close()


@pytest.fixture
async def partner(aiohttp_server: Any) -> str:
    """Another site that frames the portal: `localhost` is not the router's `127.0.0.1`."""
    server: TestServer = await aiohttp_server(embedding_site())
    return f"http://localhost:{server.port}"


async def test_a_deep_link_opened_as_a_page_lands_signed_in_without_the_token_in_the_address(
    portal: Portal, context: BrowserContext
) -> None:
    router = portal.stack.router.url
    token = await portal.agent_token()
    page = await context.new_page()
    response = await page.goto(f"{router}/agent/app/inbox?room=7&accessToken={token}&lang=fi")

    assert response is not None
    assert response.status == 200
    assert page.url == f"{router}/agent/app/inbox?room=7&lang=fi"
    first = response.request.redirected_from
    assert first is not None
    assert "accessToken=" in first.url
    seen = await shown_json(page)
    assert seen["path"] == "/inbox"
    assert parse_qs(seen["query"]) == {"room": ["7"], "lang": ["fi"]}
    assert seen["headers"]["X-Latchkey-User-Name"] == "agent-one"
    cookie = await session_cookie(context, router + "/agent/app/inbox")
    assert cookie is not None
    assert (cookie["path"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
        "/agent",
        True,
        True,
        "None",
    )
    await screenshot(page, "signed-in-landing")


async def test_a_browser_without_a_session_is_sent_to_the_login_page(
    portal: Portal, context: BrowserContext
) -> None:
    router = portal.stack.router.url
    page = await context.new_page()
    response = await page.goto(f"{router}/agent/app/inbox?room=7")

    assert response is not None
    assert response.status == 401
    assert page.url.startswith(f"{router}/agent/auth/login?redirect=")
    assert await page.locator("h1").inner_text() == "Sign in to agent"
    assert await page.locator("#username").is_visible()
    await screenshot(page, "login-page")


async def test_the_login_form_signs_in_and_lands_where_the_browser_asked(
    portal: Portal, context: BrowserContext
) -> None:
    router = portal.stack.router.url
    page = await context.new_page()
    await page.goto(f"{router}/agent/app/inbox?room=7")
    await page.fill("#username", "agent-one")
    await page.fill("#password", USER_PASSWORD)
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.click("button[type=submit]")
    answer = await posted.value

    origin = (await answer.request.all_headers()).get("origin")
    assert answer.status == 303, f"the sign-in POST (Origin: {origin}) answered {answer.status}"
    await page.wait_for_url(f"{router}/agent/app/inbox?room=7")
    seen = await shown_json(page)
    assert seen["headers"]["X-Latchkey-User-Name"] == "agent-one"


async def test_the_sign_out_form_ends_the_session(portal: Portal, context: BrowserContext) -> None:
    router = portal.stack.router.url
    token = await portal.agent_token()
    page = await context.new_page()
    await page.goto(f"{router}/agent/app/inbox?accessToken={token}")
    await page.goto(f"{router}/agent/auth/logout")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.click("button[type=submit]")
    answer = await posted.value

    origin = (await answer.request.all_headers()).get("origin")
    assert answer.status == 200, f"the sign-out POST (Origin: {origin}) answered {answer.status}"
    assert await page.locator("h1").inner_text() == "You are signed out"
    assert await session_cookie(context, router + "/agent/app/inbox") is None


async def test_reloading_a_page_after_its_token_is_revoked_shows_the_revoked_page(
    portal: Portal, context: BrowserContext
) -> None:
    router = portal.stack.router.url
    token = await portal.agent_token()
    page = await context.new_page()
    await page.goto(f"{router}/agent/app/inbox?accessToken={token}")
    assert (await shown_json(page))["headers"]["X-Latchkey-User-Name"] == "agent-one"
    await portal.revoke(token)

    statuses: list[int] = []

    async def revoked_page_shown() -> bool:
        response = await page.reload()
        statuses.append(response.status if response else 0)
        return "token_revoked" in await page.content()

    await until(revoked_page_shown, timeout=5, interval=0.1)
    assert statuses[-1] == 401
    assert await page.locator("h1").inner_text() == "This access has been revoked"
    assert "Reason: token_revoked" in await page.locator("main").inner_text()
    assert await session_cookie(context, router + "/agent/app/inbox") is None
    await screenshot(page, "revoked-page")


async def test_a_deep_link_in_a_cross_site_iframe_lands_signed_in(
    portal: Portal, context: BrowserContext, partner: str
) -> None:
    router = portal.stack.router.url
    token = await portal.generated_token(allowed_domains=["localhost"])
    landing = f"{router}/agent/app/inbox?room=7"
    page = await context.new_page()
    async with page.expect_response(lambda response: response.url == landing) as arrived:
        await page.goto(embed_url(partner, f"{landing}&accessToken={token}"))
    response = await arrived.value

    sent = await response.request.all_headers()
    assert response.status == 200, (
        f"the landing after the deep link's 303 answered {response.status}; the browser sent "
        f"referer={sent.get('referer')!r}, sec-fetch-dest={sent.get('sec-fetch-dest')!r}, "
        f"a session cookie: {'latchkey_session=' in sent.get('cookie', '')}"
    )
    seen = await shown_json(await portal_frame(page))
    assert seen["headers"]["X-Latchkey-User-Name"] == "agent-one"


async def test_the_partitioned_session_keeps_an_iframe_signed_in_on_later_navigations(
    portal: Portal, context: BrowserContext, partner: str
) -> None:
    router = portal.stack.router.url
    token = await portal.generated_token(allowed_domains=["localhost"])
    page = await context.new_page()
    await page.goto(
        embed_url(
            partner,
            f"{router}/agent/app/inbox?accessToken={token}",
            link=f"{router}/agent/app/next?step=2",
        )
    )

    async def stored() -> bool:
        return await session_cookie(context, router + "/agent/app/inbox") is not None

    # The deep link's 303 sets the session in the partner site's partition (CHIPS), whatever
    # its landing shows (see the cross-site iframe test above).
    await until(stored, timeout=10, interval=0.05)
    cookie = await session_cookie(context, router + "/agent/app/inbox")
    assert cookie is not None
    assert (cookie.get("partitionKey"), cookie["sameSite"], cookie["secure"]) == (
        "http://localhost",
        "None",
        True,
    )

    # The partner's link into the frame: Referer is the partner, an allowed domain.
    await page.click("#next")
    frame = await portal_frame(page)
    await frame.wait_for_url(f"{router}/agent/app/next?step=2")
    seen = await shown_json(frame)
    assert (seen["path"], seen["headers"]["X-Latchkey-User-Name"]) == ("/next", "agent-one")

    # A navigation the framed portal page makes itself: Referer is the portal's own origin.
    await frame.evaluate("url => { location.href = url; }", "/agent/app/third?step=3")
    await frame.wait_for_url(f"{router}/agent/app/third?step=3")
    seen = await shown_json(frame)
    assert (seen["path"], seen["headers"]["X-Latchkey-User-Name"]) == ("/third", "agent-one")
    await screenshot(page, "iframe-embedding")

    # The cookie lives in the partner's partition only: a top-level visit is not signed in.
    top = await context.new_page()
    await top.goto(f"{router}/agent/app/inbox")
    assert top.url.startswith(f"{router}/agent/auth/login?")


async def test_with_bare_iframe_requests_allowed_an_iframe_deep_link_lands_signed_in(
    portal_factory: PortalFactory, context: BrowserContext, partner: str
) -> None:
    # With bare frame requests allowed outright, the landing needs no session rule at all.
    portal = await portal_factory(LATCHKEY_ALLOW_NO_ORIGIN_IFRAME="true")
    router = portal.stack.router.url
    token = await portal.generated_token(allowed_domains=["localhost"])
    page = await context.new_page()
    await page.goto(embed_url(partner, f"{router}/agent/app/inbox?room=7&accessToken={token}"))

    frame = await portal_frame(page)
    await frame.wait_for_url(f"{router}/agent/app/inbox?room=7")
    seen = await shown_json(frame)
    assert (seen["path"], seen["query"]) == ("/inbox", "room=7")
    assert seen["headers"]["X-Latchkey-User-Name"] == "agent-one"
    await screenshot(page, "iframe-deep-link-landing")


async def test_an_iframe_on_a_site_the_token_does_not_allow_gets_no_session(
    portal: Portal, context: BrowserContext, partner: str
) -> None:
    router = portal.stack.router.url
    token = await portal.generated_token(allowed_domains=["crm.example.com"])
    deep_link = f"/agent/app/inbox?accessToken={token}"
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    async with page.expect_response(lambda response: response.url.startswith(router)) as answer:
        await page.goto(embed_url(partner, router + deep_link))
    refusal = await answer.value

    assert refusal.status == 403
    # The refusal may be shown by the very site that framed it (the page holds nothing but
    # the explanation), so the person reads why instead of Chromium's "refused to connect".
    assert (await refusal.header_value("content-security-policy") or "").endswith(
        f"frame-ancestors 'self' {partner}"
    )
    frame = await portal_frame(page)
    await frame.locator("h1").wait_for()
    assert frame.url.startswith(router)
    assert await frame.locator("h1").inner_text() == "This site may not sign you in here"
    assert "domain_not_allowed" in await frame.content()
    link = frame.get_by_role("link", name="Open in a new tab")
    assert await link.get_attribute("target") == "_blank"
    assert not [text for text in console if "frame-ancestors" in text]
    assert await session_cookie(context, router + "/agent/app/inbox") is None
    await screenshot(page, "iframe-refused")
    same_request = await portal.get(
        deep_link,
        headers={"Referer": partner + "/", "Sec-Fetch-Dest": "iframe", "Accept": "text/html"},
    )
    assert same_request.status == 403
    assert "domain_not_allowed" in await same_request.text()


async def test_a_revoked_session_shows_why_inside_the_partners_iframe(
    portal: Portal, context: BrowserContext, partner: str
) -> None:
    """The refusal page may be framed by the sites the token allows, so the person inside
    the partner's iframe reads why instead of a blank frame."""
    router = portal.stack.router.url
    token = await portal.generated_token(allowed_domains=["localhost"])
    page = await context.new_page()
    await page.goto(embed_url(partner, f"{router}/agent/app/inbox?accessToken={token}"))
    frame = await portal_frame(page)
    assert (await shown_json(frame))["headers"]["X-Latchkey-User-Name"] == "agent-one"
    await portal.revoke(token)

    async def refusal_shown() -> bool:
        await frame.goto(f"{router}/agent/app/inbox")
        return "token_revoked" in await frame.content()

    await until(refusal_shown, timeout=5, interval=0.1)
    assert await frame.locator("h1").inner_text() == "This access has been revoked"
    await screenshot(page, "iframe-revoked")
