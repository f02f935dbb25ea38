"""The console answers browsers only as a page of its own: fetch metadata (`Sec-Fetch-*`,
which no page can set) says what kind of request each is, and anything but the kind a console
URL serves is refused.

Where an operator serves the console on an origin shared with other pages (a proxied app),
those pages are same-origin to it: they could fetch a console page with the admin's cookie
and read its CSRF token, or frame it and drive it. So pages answer only top-level
navigations, forms only top-level same-origin submissions, and the one JSON URL (the live
receipt) only same-origin `fetch`es. Requests without fetch metadata (programs, and browsers
too old to send it) are judged by the CSRF token and the Origin/Referer checks alone.
"""

from collections.abc import Awaitable, Callable
from enum import Enum

from aiohttp import web

from latchkey.common import errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Kind(Enum):
    PAGE = "page"
    FORM = "form"
    FETCH = "fetch"
    ASSET = "asset"


class NotAConsolePage(errors.Forbidden):
    reason = "console_page_only"
    message = (
        "The token console only opens as a page of its own (not inside a frame, and not from "
        "a script of another page)."
    )


ASSET_DESTINATIONS = frozenset({"style", "script", "image", "empty"})


def allowed(request: web.BaseRequest, kind: Kind) -> bool:
    headers = request.headers
    site = headers.get("Sec-Fetch-Site")
    if site is None:
        return True
    mode, dest = headers.get("Sec-Fetch-Mode", ""), headers.get("Sec-Fetch-Dest", "")
    if kind is Kind.PAGE:
        return mode == "navigate" and dest == "document"
    if kind is Kind.FORM:
        return site == "same-origin" and mode == "navigate" and dest == "document"
    if kind is Kind.FETCH:
        return site == "same-origin" and mode in ("cors", "same-origin") and dest == "empty"
    return site == "same-origin" and dest in ASSET_DESTINATIONS


def browser_kind(handler: Handler, kind: Kind) -> Handler:
    """`handler`, answering only requests of `kind` (see the module's docstring)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        if not allowed(request, kind):
            raise NotAConsolePage()
        return await handler(request)

    checked.__name__ = handler.__name__
    return checked
