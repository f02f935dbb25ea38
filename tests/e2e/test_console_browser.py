"""The token console in Debian's Chromium against the services as real processes."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, Response

from tests.support.browser import chromium, screenshot
from tests.support.console import (
    CONSOLE,
    Dialogs,
    contrast,
    fill_generate_form,
    generate,
    horizontal_overflow,
    link_page,
    open_console,
    partner_site,
    paused,
    submit_and_land,
)
from tests.support.portal import Portal
from tests.support.propagation import check, until
from tests.support.stack import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1100, "height": 760}
PHONE = {"width": 390, "height": 844}
HTML_NAME = "<img src=x onerror=alert(1)>"
# Text of the token list that must stay readable: WCAG AA asks 4.5:1 for text this size.
READABLE = ("nav a", ".who", "th", "td[data-label=Name] a", ".status.active")

ConsolePages = Callable[..., Awaitable[Page]]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def console_pages(browser: Browser, portal: Portal) -> AsyncIterator[ConsolePages]:
    """Pages of fresh profiles signed in to the console through its deep link, with the
    clipboard allowed for the admin portal's origin; waits fail after 10 s."""
    contexts: list[BrowserContext] = []
    console = portal.stack.admin_url()

    async def open_page(*, viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
        context = await browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
        contexts.append(context)
        context.set_default_timeout(10_000)
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console)
        page = await context.new_page()
        await open_console(page, console, await portal.stack.token())
        return page

    yield open_page
    for context in contexts:
        await context.close()


@pytest.fixture
async def fresh_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """Another person's browser: a profile of its own, no cookies."""
    context = await browser.new_context(viewport={"width": 900, "height": 600})
    context.set_default_timeout(10_000)
    yield context
    await context.close()


@pytest.fixture
async def partner(aiohttp_server: Any) -> str:
    """A partner site (`localhost`, another site than the router's `127.0.0.1`) linking in."""
    server: TestServer = await aiohttp_server(partner_site())
    return f"http://localhost:{server.port}"


async def receipt_shows(page: Page) -> tuple[str, str, str]:
    """The receipt's "N of M" and its state sentence, as the page shows them now."""
    section = page.locator("#receipt")
    return (
        await section.locator(".applied").inner_text(),
        await section.locator(".instances").inner_text(),
        await section.locator(".state").inner_text(),
    )


async def wait_receipt_complete(page: Page, instances: int) -> None:
    """The live receipt reaches `instances` of `instances` without a reload."""
    await page.locator("#receipt[data-complete=true]").wait_for(timeout=15_000)
    assert await receipt_shows(page) == (str(instances), str(instances), "Every instance has it.")


async def frame_ancestors(response: Response | None) -> str:
    """The `frame-ancestors` directive of a response's Content-Security-Policy."""
    assert response is not None
    directives = [
        directive.strip()
        for policy in await response.header_values("content-security-policy")
        for directive in policy.split(";")
    ]
    found = [directive for directive in directives if directive.startswith("frame-ancestors")]
    assert len(found) == 1, directives
    return found[0]


async def test_an_admin_deep_link_opens_the_console_and_the_browser_never_holds_the_token(
    portal: Portal, console_pages: ConsolePages
) -> None:
    page = await console_pages()
    console = portal.stack.admin_url()

    assert page.url == f"{console}{CONSOLE}"
    assert await page.locator(".who").inner_text() == "Signed in as root · Sign out"
    html = await page.content()
    assert "accessToken" not in html
    assert "eyJ" not in html  # no JWT anywhere in the page
    cookies = await page.context.cookies(console + CONSOLE)
    assert [(c["name"], c["path"], c["httpOnly"]) for c in cookies] == [
        ("latchkey_session", "/admin", True)
    ]
    assert await page.locator("table.tokens tbody tr").count() >= 1
    ratios = {selector: await contrast(page, selector) for selector in READABLE}
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios
    await screenshot(page, "console-token-list")


async def test_the_admin_login_page_leads_into_the_console(
    portal: Portal, fresh_context: BrowserContext
) -> None:
    console = portal.stack.admin_url()
    page = await fresh_context.new_page()
    await page.goto(f"{console}{CONSOLE}")
    assert page.url.startswith(f"{console}/admin/auth/login?redirect=")
    await page.fill("#username", "root")
    await page.fill("#password", ADMIN_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{console}{CONSOLE}")
    assert await page.locator("h1").inner_text() == "Tokens"


async def test_a_generated_token_is_shown_once_copied_and_its_deep_link_signs_in_elsewhere(
    portal: Portal, console_pages: ConsolePages, fresh_context: BrowserContext
) -> None:
    console, router = portal.stack.admin_url(), portal.stack.router.url
    page = await console_pages()
    await page.goto(f"{console}{CONSOLE}/new")
    await fill_generate_form(
        page,
        user_id=portal.agent_id,
        name="CRM integration",
        description="Opens the agent portal from the CRM",
        expires_days="7",
        portals=["agent"],
        allowed_domains=["crm.example.com", "*.intranet.example.org"],
    )
    await screenshot(page, "console-generate-form")
    async with page.expect_navigation() as landed:
        await page.get_by_role("button", name="Generate").click()
    answer = await landed.value
    assert answer is not None
    # The form as Chromium really posts it: naming the console's origin, not `null`.
    assert (await answer.request.all_headers()).get("origin") == console
    assert answer.status == 200
    assert await answer.header_value("cache-control") == "no-store"

    assert await page.locator("h1").inner_text() == "Token generated: CRM integration"
    assert "It will not be shown again" in await page.locator(".warning").inner_text()
    token = await page.locator("#token").input_value()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == portal.agent_id
    assert claims["portals"] == ["agent"]
    assert claims["domains"] == ["crm.example.com", "*.intranet.example.org"]
    assert abs(claims["exp"] - claims["iat"] - 7 * 86400) <= 5

    # Copy token: Chromium allows the clipboard to http://127.0.0.1 once granted.
    await page.get_by_role("button", name="Copy token").click()
    await page.locator(".copied", has_text="Copied.").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == token

    links = page.locator(".links li")
    assert await links.count() == 1  # only the portals the token opens
    link = await page.locator("#link-agent").input_value()
    assert link == f"{router}/agent/?accessToken={token}"
    await page.locator(".links li").get_by_role("button", name="Copy", exact=True).click()

    async def link_copied() -> bool:
        copied: str = await page.evaluate("navigator.clipboard.readText()")
        return copied == link

    await until(link_copied, timeout=5, interval=0.05)
    await screenshot(page, "console-token-generated")

    # Its record never shows the token again.
    await page.get_by_role("link", name="See its record").click()
    await page.wait_for_url(f"{console}{CONSOLE}/t/{claims['jti']}")
    details = await page.locator("main").inner_text()
    assert token not in await page.content()
    for shown in (
        "agent-one",
        "access",
        "console",
        "Opens the agent portal from the CRM",
        "crm.example.com, *.intranet.example.org",
        "never",
    ):
        assert shown in details, shown
    assert await page.locator("h1 .status").inner_text() == "active"
    await screenshot(page, "console-token-details")

    # The ready-made deep link, opened by somebody else's browser, lands signed in.
    other = await fresh_context.new_page()
    response = await other.goto(link)
    assert response is not None
    assert response.status == 200
    assert "accessToken" not in other.url
    assert await other.locator("h1").inner_text() == "Signed in to agent"
    assert "agent-one" in await other.locator("dl").inner_text()


async def test_a_revocation_in_the_console_shows_its_receipt_live_and_the_other_browser_is_refused(
    portal: Portal, console_pages: ConsolePages, fresh_context: BrowserContext
) -> None:
    stack = portal.stack
    await stack.start("registry-2", "auth-2", "router-2")
    instances = list(stack.services.values())
    assert len(instances) == 6
    console = stack.admin_url()
    page = await console_pages()
    generated = await generate(
        page, console, user_id=portal.agent_id, name="Kiosk", portals=["agent"]
    )
    other = await fresh_context.new_page()
    await other.goto(generated.links["agent"])
    assert await other.locator("h1").inner_text() == "Signed in to agent"

    await page.goto(f"{console}{CONSOLE}/t/{generated.jti}")
    dialogs = Dialogs(page, answers=[False, True])
    revoke = page.locator("form", has=page.get_by_role("button", name="Revoke", exact=True))
    await revoke.get_by_label("Reason").fill("kiosk stolen")
    await revoke.get_by_role("button", name="Revoke", exact=True).click()

    async def asked() -> bool:
        return len(dialogs.messages) == 1

    # Declined: nothing was sent, the token is still active.
    await until(asked, timeout=5, interval=0.05)
    assert dialogs.messages[0].startswith("confirm: Revoke this token?")
    assert page.url == f"{console}{CONSOLE}/t/{generated.jti}"
    assert await page.locator("h1 .status").inner_text() == "active"

    # Confirmed while one instance (auth-2) is frozen: the receipt waits for it, live.
    async with paused(stack.services["auth-2"]):
        status = await submit_and_land(page, "Revoke")
        assert status == 200
        assert dialogs.messages[1].startswith("confirm: Revoke this token?")
        assert page.url.startswith(f"{console}{CONSOLE}/events/")
        assert "Token revoked" in await page.locator("h1").inner_text()
        await page.evaluate("window.stillTheSamePage = true")

        async def five_of_six() -> bool:
            return await receipt_shows(page) == ("5", "6", "Waiting…")

        await until(five_of_six, timeout=10, interval=0.05)
        pending = page.locator("#receipt tbody tr", has_text="auth-2")
        assert "not yet" in await pending.inner_text()
        await screenshot(page, "console-delivery-receipt-waiting")
    await wait_receipt_complete(page, 6)
    assert await page.evaluate("window.stillTheSamePage") is True  # updated by its script
    assert "not yet" not in await page.locator("#receipt tbody").inner_text()
    assert await page.locator("#receipt tbody tr").count() == 6
    await screenshot(page, "console-delivery-receipt")

    # Every instance has it: the other browser is refused at its very next navigation.
    response = await other.reload()
    assert response is not None
    assert response.status == 401
    assert await other.locator("h1").inner_text() == "This access has been revoked"
    for instance in instances:
        assert (await check(stack, instance, generated.token))["reason"] == "token_revoked"

    await page.get_by_role("link", name="Back to the token").click()
    assert await page.locator("h1 .status").inner_text() == "revoked"
    assert "kiosk stolen" in await page.locator(".details").inner_text()


async def test_editing_allowed_domains_decides_which_sites_may_link_in(
    portal: Portal,
    console_pages: ConsolePages,
    browser: Browser,
    partner: str,
) -> None:
    console, router = portal.stack.admin_url(), portal.stack.router.url
    page = await console_pages()
    generated = await generate(
        page,
        console,
        user_id=portal.agent_id,
        name="Partner link",
        portals=["agent"],
        allowed_domains=["localhost"],
    )
    partner_page = link_page(partner, generated.links["agent"])

    async def follow_partner_link() -> tuple[Page, Response | None]:
        context = await browser.new_context()
        context.set_default_timeout(10_000)
        visitor = await context.new_page()
        await visitor.goto(partner_page)
        async with visitor.expect_navigation(url=f"{router}/agent**") as landed:
            await visitor.click("#go")
        return visitor, await landed.value

    before, landing = await follow_partner_link()
    assert landing is not None
    assert landing.status == 200
    assert await before.locator("h1").inner_text() == "Signed in to agent"
    assert (
        await frame_ancestors(landing)
        == "frame-ancestors 'self' http://localhost:* https://localhost:*"
    )

    await page.goto(f"{console}{CONSOLE}/t/{generated.jti}")
    edit = page.locator("form", has=page.get_by_role("button", name="Save"))
    await edit.get_by_label("Allowed domains").fill("crm.example.com")
    assert await submit_and_land(page, "Save") == 200
    assert page.url.startswith(f"{console}{CONSOLE}/events/")
    await wait_receipt_complete(page, 3)
    await page.get_by_role("link", name="Back to the token").click()
    assert "crm.example.com" in await page.locator(".details").inner_text()

    # The partner is no longer allowed to send people in...
    after, refusal = await follow_partner_link()
    assert refusal is not None
    assert refusal.status == 403
    assert await after.locator("h1").inner_text() == "This site may not sign you in here"
    assert "domain_not_allowed" in await after.content()
    # ...and only the new domain may frame the portal, for the session made before too.
    again = await before.goto(f"{router}/agent/")
    assert again is not None
    assert again.status == 200
    assert (
        await frame_ancestors(again)
        == "frame-ancestors 'self' http://crm.example.com:* https://crm.example.com:*"
    )
    await before.context.close()
    await after.context.close()


async def test_a_name_containing_html_is_shown_as_text_everywhere(
    portal: Portal, console_pages: ConsolePages
) -> None:
    console = portal.stack.admin_url()
    page = await console_pages()
    dialogs = Dialogs(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    generated = await generate(
        page,
        console,
        user_id=portal.agent_id,
        name=HTML_NAME,
        description="<script>alert(2)</script>",
        portals=["agent"],
    )
    assert await page.locator("h1").inner_text() == f"Token generated: {HTML_NAME}"
    assert await page.locator("main img").count() == 0

    await page.goto(f"{console}{CONSOLE}/")
    assert await page.get_by_role("link", name=HTML_NAME, exact=True).count() == 1
    assert await page.locator("main img").count() == 0

    await page.goto(f"{console}{CONSOLE}/t/{generated.jti}")
    assert (await page.locator("h1").inner_text()).startswith(HTML_NAME)
    assert await page.title() == f"{HTML_NAME} · Latchkey"
    assert "<script>alert(2)</script>" in await page.locator(".details").inner_text()
    assert await page.get_by_label("Name", exact=True).input_value() == HTML_NAME
    assert await page.locator("main img, main script").count() == 0

    assert dialogs.messages == []
    assert not [url for url in requested if url.endswith("/x")]  # the img never existed


async def test_the_audit_log_shows_a_name_as_it_was_typed(
    portal: Portal, console_pages: ConsolePages
) -> None:
    console = portal.stack.admin_url()
    page = await console_pages()
    await generate(page, console, user_id=portal.agent_id, name=HTML_NAME, portals=["agent"])
    await page.goto(f"{console}{CONSOLE}/audit")
    created = page.locator("tbody tr", has_text="token.create")
    assert HTML_NAME in await created.locator("td[data-label=Details]").inner_text()


# Every state-changing form of the console: where it is, its button, what to type into it.
CSRF_FORMS = [
    ("/t/{jti}", "Revoke", {"reason": "no csrf"}),
    ("/t/{jti}", "Disable", {}),
    ("/t/{jti}", "Save", {"name": "renamed by a forged form", "allowedDomains": "x.example"}),
    (
        "/t/{jti}",
        "Revoke every token of this user",
        {"reason": "no csrf", "password": ADMIN_PASSWORD},
    ),
    ("/new", "Generate", {"name": "no csrf", "password": ADMIN_PASSWORD}),
    ("/policy", "Save", {"domains": "x.example"}),
]
REMOVE_CSRF = """form => {
    const field = form.querySelector("input[name=csrf]");
    field.remove();
    return field.value.length;
}"""


async def test_a_state_change_without_the_csrf_token_is_refused(
    portal: Portal, console_pages: ConsolePages
) -> None:
    console = portal.stack.admin_url()
    page = await console_pages()
    dialogs = Dialogs(page)  # confirmations accepted: the server must refuse on its own
    jti = jwt.decode(await portal.agent_token(), options={"verify_signature": False})["jti"]
    await page.goto(f"{console}{CONSOLE}/t/{jti}")
    heading = await page.locator("h1").inner_text()

    for path, button, typed in CSRF_FORMS:
        await page.goto(f"{console}{CONSOLE}{path.format(jti=jti)}")
        form = page.locator("main form", has=page.get_by_role("button", name=button, exact=True))
        for name, value in typed.items():
            await form.locator(f"[name={name}]").fill(value)
        if path == "/new":  # the form will not leave the browser without a chosen user
            await form.locator("[name=userId]").select_option(portal.agent_id)
        assert await form.evaluate(REMOVE_CSRF) > 20, button

        status = await submit_and_land(page, button)

        assert status == 403, button
        assert await page.locator("h1").inner_text() == "This cannot be done", button
        assert "Reason: csrf_failed" in await page.locator("main").inner_text(), button

    # A forged value is no better than none.
    await page.goto(f"{console}{CONSOLE}/t/{jti}")
    await page.locator("main form input[name=csrf]").first.evaluate("f => { f.value = 'forged'; }")
    await page.get_by_label("Reason").first.fill("forged")
    assert await submit_and_land(page, "Revoke") == 403
    assert "Reason: csrf_failed" in await page.locator("main").inner_text()

    assert len(dialogs.messages) == 3  # both revokes asked first, then were refused
    await page.goto(f"{console}{CONSOLE}/t/{jti}")
    assert await page.locator("h1").inner_text() == heading
    assert "active" in heading
    await page.goto(f"{console}{CONSOLE}/policy")
    assert await page.locator("textarea[name=domains]").input_value() == ""
    await page.goto(f"{console}{CONSOLE}/?q=csrf")
    assert await page.locator("table.tokens").count() == 0


async def test_the_console_is_readable_and_usable_at_phone_width(
    portal: Portal, console_pages: ConsolePages
) -> None:
    console = portal.stack.admin_url()
    page = await console_pages(viewport=PHONE)
    await portal.agent_token()  # a second row besides the admin's own session
    await page.goto(f"{console}{CONSOLE}/")

    # The list is a stack of cards: no table header, each row a block with labelled cells.
    assert not await page.locator("table.tokens thead").is_visible()
    rows = page.locator("table.tokens tbody tr")
    assert await rows.count() >= 2
    for row in await rows.all():
        assert await row.evaluate("row => getComputedStyle(row).display") == "block"
        box = await row.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
    label = await page.locator("table.tokens td").first.evaluate(
        "cell => getComputedStyle(cell, '::before').content"
    )
    assert label == '"Name"'
    assert await horizontal_overflow(page) == 0
    await screenshot(page, "console-token-list-phone")

    # The forms are usable: every field inside the screen; generate, then revoke, with them.
    await page.goto(f"{console}{CONSOLE}/new")
    assert await horizontal_overflow(page) == 0
    for field in await page.locator(
        "main form :is(input:not([type=hidden]), select, textarea, button)"
    ).all():
        box = await field.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= PHONE["width"], await field.evaluate("f => f.outerHTML")
    await screenshot(page, "console-generate-form-phone")
    await fill_generate_form(
        page,
        user_id=portal.agent_id,
        name="Phone",
        portals=["agent"],
        allowed_domains=["a.example"],
    )
    assert await submit_and_land(page, "Generate") == 200
    assert await horizontal_overflow(page) == 0
    jti = (
        await page.get_by_role("link", name="See its record").get_attribute("href") or ""
    ).rsplit("/", 1)[1]
    await page.goto(f"{console}{CONSOLE}/t/{jti}")
    assert await horizontal_overflow(page) == 0
    await screenshot(page, "console-token-details-phone")
    Dialogs(page)
    revoke = page.locator("form", has=page.get_by_role("button", name="Revoke", exact=True))
    await revoke.get_by_label("Reason").fill("phone test")
    assert await submit_and_land(page, "Revoke") == 200
    await wait_receipt_complete(page, 3)
    assert await horizontal_overflow(page) == 0
    for path in ("/policy", "/audit"):
        await page.goto(f"{console}{CONSOLE}{path}")
        assert await horizontal_overflow(page) == 0, path


async def test_disable_enable_and_the_domain_policy_are_changed_in_the_console_and_audited(
    portal: Portal, console_pages: ConsolePages, fresh_context: BrowserContext
) -> None:
    console = portal.stack.admin_url()
    page = await console_pages()
    generated = await generate(
        page, console, user_id=portal.agent_id, name="Shift phone", portals=["agent"]
    )
    other = await fresh_context.new_page()
    await other.goto(generated.links["agent"])
    assert await other.locator("h1").inner_text() == "Signed in to agent"

    await page.goto(f"{console}{CONSOLE}/t/{generated.jti}")
    assert await submit_and_land(page, "Disable") == 200
    await wait_receipt_complete(page, 3)
    response = await other.reload()
    assert response is not None
    assert await other.locator("h1").inner_text() == "This access is disabled"
    await page.get_by_role("link", name="Back to the token").click()
    assert await page.locator("h1 .status").inner_text() == "disabled"
    assert await submit_and_land(page, "Enable") == 200
    await wait_receipt_complete(page, 3)
    response = await other.goto(generated.links["agent"])
    assert response is not None
    assert response.status == 200

    await page.get_by_role("link", name="Domain policy").click()
    policy = page.locator("main form")
    await policy.get_by_label("Allowed domains").fill("*.corp.example\ncrm.example.com:8443")
    assert await submit_and_land(page, "Save") == 200
    assert "policy" in await page.locator("h1").inner_text()
    await wait_receipt_complete(page, 3)
    await page.get_by_role("link", name="Domain policy").click()
    assert await policy.get_by_label("Allowed domains").input_value() == (
        "*.corp.example\ncrm.example.com:8443"
    )
    assert "by root" in await page.locator("main").inner_text()
    await screenshot(page, "console-domain-policy")

    await page.get_by_role("link", name="Audit log").click()
    actions = await page.locator("td[data-label=What]").all_inner_texts()
    assert actions[:3] == ["policy.update", "token.update", "token.update"]
    assert "token.create" in actions
    await screenshot(page, "console-audit-log")


async def test_every_field_of_the_generated_page_has_an_accessible_name(
    portal: Portal, console_pages: ConsolePages
) -> None:
    page = await console_pages()
    await generate(
        page, portal.stack.admin_url(), user_id=portal.agent_id, name="Named", portals=["agent"]
    )
    assert await page.get_by_role("textbox", name="Access token").count() == 1
    assert await page.get_by_role("textbox", name="agent").count() == 1


async def test_copying_a_deep_link_says_it_was_copied(
    portal: Portal, console_pages: ConsolePages
) -> None:
    page = await console_pages()
    await generate(
        page, portal.stack.admin_url(), user_id=portal.agent_id, name="Copied", portals=["agent"]
    )
    row = page.locator(".links li").first
    await row.get_by_role("button", name="Copy", exact=True).click()
    await row.get_by_text("Copied").wait_for(timeout=2_000)


async def test_the_console_offers_a_way_to_sign_out(
    portal: Portal, console_pages: ConsolePages
) -> None:
    console = portal.stack.admin_url()
    page = await console_pages()
    sign_out = page.get_by_role("button", name="Sign out").or_(
        page.get_by_role("link", name="Sign out")
    )
    assert await sign_out.count() == 1
    await sign_out.click()
    if await page.get_by_role("button", name="Sign out").count():
        await page.get_by_role("button", name="Sign out").click()
    await page.goto(f"{console}{CONSOLE}")
    assert page.url.startswith(f"{console}/admin/auth/login")


async def test_the_console_is_readable_in_dark_mode(
    portal: Portal, console_pages: ConsolePages
) -> None:
    page = await console_pages(color_scheme="dark")
    ratios = {selector: await contrast(page, selector) for selector in READABLE}
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios
