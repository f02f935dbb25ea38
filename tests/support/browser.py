"""Debian's Chromium through Playwright's async API, a cross-site page that embeds the portal,
what the tests read off pages (the framed portal, the session cookie, the upstream's echo),
and screenshots kept as test artifacts."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Cookie, Frame, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


HOST_NAMES = ("portal.test", "admin.test", "crm.test")
"""Names the browser resolves to 127.0.0.1, so the router is reached as a real host name
would reach it (Chromium exempts only localhost and 127.0.0.1 from the Secure-cookie rule)."""


def _arguments(host_names: bool, extra_args: tuple[str, ...]) -> list[str]:
    args = list(CHROMIUM_ARGS)
    if host_names:
        rules = ", ".join(f"MAP {name} 127.0.0.1" for name in HOST_NAMES)
        args += [f"--host-resolver-rules={rules}", "--ignore-certificate-errors"]
    return [*args, *extra_args]


@asynccontextmanager
async def chromium(
    *, host_names: bool = False, extra_args: tuple[str, ...] = ()
) -> AsyncIterator[Browser]:
    """Headless Chromium from Debian (never a browser Playwright would download); with
    `host_names`, HOST_NAMES map to loopback inside the browser and self-signed
    certificates are accepted."""
    args = _arguments(host_names, extra_args)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def chromium_profile(
    directory: Path, preferences: dict[str, Any], *, host_names: bool = True
) -> AsyncIterator[BrowserContext]:
    """Chromium with a profile of its own whose `Preferences` are set before it starts: the
    way to have the browser's own cookie settings (third-party cookies blocked, a site's
    cookies blocked where it is embedded) as a person would set them."""
    (directory / "Default").mkdir(parents=True, exist_ok=True)
    (directory / "Default" / "Preferences").write_text(json.dumps(preferences))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(directory),
            executable_path=CHROMIUM,
            headless=True,
            args=_arguments(host_names, ()),
        )
        try:
            yield context
        finally:
            await context.close()


async def screenshot(page: Page, name: str) -> Path:
    """Keep what the page shows now as `test-artifacts/screenshots/<name>.png`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def embedding_site() -> web.Application:
    """Another site's page with the portal in an iframe named `portal`:
    `/embed?src=<portal URL>[&link=<portal URL>]`, the link opening in that iframe."""

    async def embed(request: web.Request) -> web.Response:
        source = escape(request.query["src"], quote=True)
        link = request.query.get("link")
        anchor = (
            f'<p><a id="next" href="{escape(link, quote=True)}" target="portal">Next page</a></p>'
            if link
            else ""
        )
        html = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>Partner site</title></head><body>"
            "<h1>A partner site embedding the agent portal</h1>"
            f'{anchor}<iframe id="portal" name="portal" src="{source}" width="900" height="420">'
            "</iframe></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/embed", embed)
    return app


def embed_url(site: str, source: str, link: str | None = None) -> str:
    """The partner page at `site` framing `source` (and offering `link` into the frame)."""
    query = {"src": source, **({"link": link} if link else {})}
    return f"{site}/embed?{urlencode(query)}"


async def shown_json(frame: Page | Frame) -> dict[str, Any]:
    """The upstream's JSON echo as Chromium shows it (a document of one <pre>)."""
    data: dict[str, Any] = json.loads(await frame.locator("pre").first.inner_text())
    return data


async def session_cookie(context: BrowserContext, url: str) -> Cookie | None:
    cookies = await context.cookies(url)
    return next((cookie for cookie in cookies if cookie["name"] == "latchkey_session"), None)


async def portal_frame(page: Page) -> Frame:
    handle = await page.wait_for_selector("#portal", state="attached")
    assert handle is not None
    frame = await handle.content_frame()
    assert frame is not None
    return frame
