"""Driving the token console in Chromium: sign-in, forms, dialogs, layout and colour checks."""

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from playwright.async_api import Dialog, Locator, Page

from tests.support.processes import ServiceProcess
from tests.support.stack import ADMIN_PASSWORD

CONSOLE = "/admin/tokens"


@dataclass(frozen=True)
class Generated:
    """What the console's "Token generated" page showed."""

    token: str
    jti: str
    claims: dict[str, Any]
    links: dict[str, str]


async def open_console(page: Page, router: str, admin_token: str) -> None:
    """Sign in through the console's deep link and wait for the token list."""
    await page.goto(f"{router}{CONSOLE}?accessToken={admin_token}")
    await page.wait_for_url(f"{router}{CONSOLE}")
    await page.locator("h1", has_text="Tokens").wait_for()


class Dialogs:
    """Every `alert`/`confirm` a page opens, answered from a list of answers (then accepted)."""

    def __init__(self, page: Page, answers: Iterable[bool] = ()) -> None:
        self.messages: list[str] = []
        self._answers = list(answers)
        page.on("dialog", self._answer)

    async def _answer(self, dialog: Dialog) -> None:
        self.messages.append(f"{dialog.type}: {dialog.message}")
        if self._answers and not self._answers.pop(0):
            await dialog.dismiss()
        else:
            await dialog.accept()


async def fill_generate_form(
    page: Page,
    *,
    user_id: str,
    name: str,
    description: str = "",
    expires_days: str = "30",
    portals: Iterable[str] = (),
    allowed_domains: Iterable[str] = (),
) -> None:
    """Fill the "Generate" form as a person would (the page must show it)."""
    form = page.locator("main form")
    await form.get_by_label("User").select_option(user_id)
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Description").fill(description)
    await form.get_by_label("Expires in").select_option(expires_days)
    for portal in portals:
        await form.get_by_label(portal, exact=True).check()
    await form.get_by_label("Allowed domains").fill("\n".join(allowed_domains))
    await confirm_access(form)


async def confirm_access(form: Locator, password: str = ADMIN_PASSWORD) -> None:
    """Type the admin's password where the console asks for it (confirm access)."""
    field = form.get_by_label("Your password")
    if await field.count():
        await field.fill(password)


async def generate(page: Page, router: str, **fields: Any) -> Generated:
    """Generate a token through the console's form; what the page then showed."""
    await page.goto(f"{router}{CONSOLE}/new")
    await fill_generate_form(page, **fields)
    status = await submit_and_land(page, "Generate")
    assert status == 200, f"not generated ({status}): {await page.locator('main').inner_text()}"
    return await shown_once(page)


async def shown_once(page: Page) -> Generated:
    """The token and deep links of the "Token generated" page."""
    token = await page.locator("#token").input_value()
    links: dict[str, str] = {}
    for field in await page.locator(".links input").all():
        field_id = await field.get_attribute("id") or ""
        links[field_id.removeprefix("link-")] = await field.input_value()
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return Generated(token, claims["jti"], claims, links)


async def submit_and_land(page: Page, button: str) -> int:
    """Click the submit button named `button`; the status of the page the browser lands on."""
    async with page.expect_navigation() as landed:
        await page.locator("main").get_by_role("button", name=button, exact=True).click()
    response = await landed.value
    return response.status if response else 0


async def horizontal_overflow(page: Page) -> int:
    """Pixels the page is wider than the viewport (0: no horizontal scrolling)."""
    overflow: int = await page.evaluate(
        "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    return overflow


@contextlib.asynccontextmanager
async def paused(instance: ServiceProcess) -> AsyncIterator[None]:
    """The instance frozen (SIGSTOP) inside the block: still counted as live, applying nothing
    until it is resumed (SIGCONT, also when the block fails)."""
    process = instance._process  # the test harness's own handle on the child
    assert process is not None
    assert process.returncode is None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def partner_site() -> web.Application:
    """Another site's page with a plain link into a portal: `/link?href=<portal URL>`. A click
    sends the partner's origin as Referer (Chromium's default referrer policy)."""

    async def link(request: web.Request) -> web.Response:
        href = escape(request.query["href"], quote=True)
        html = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>Partner CRM</title></head><body><h1>A partner site</h1>"
            f'<p><a id="go" href="{href}">Open the agent portal</a></p></body></html>'
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/link", link)
    return app


def link_page(site: str, href: str) -> str:
    """The partner's page at `site` linking to `href`."""
    return f"{site}/link?{urlencode({'href': href})}"


CONTRAST = """element => {
    const channels = (color) => color.match(/[\\d.]+/g).map(Number);
    const luminance = ([r, g, b]) => {
        const linear = (v) => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    let background = [255, 255, 255];
    for (let node = element; node; node = node.parentElement) {
        const color = channels(getComputedStyle(node).backgroundColor);
        if (color.length < 4 || color[3] > 0) { background = color; break; }
    }
    const [light, dark] = [luminance(channels(getComputedStyle(element).color)),
                           luminance(background)].sort((a, b) => b - a);
    return (light + 0.05) / (dark + 0.05);
}"""


async def contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio of the first `selector`'s text against the background behind it."""
    ratio: float = await page.locator(selector).first.evaluate(CONTRAST)
    return round(ratio, 2)
