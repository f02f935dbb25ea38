"""Answering people and programs differently: pages for browsers, envelopes for API clients."""

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from latchkey.common import errors
from latchkey.portal import pages
from latchkey.portal.keys import SETTINGS
from latchkey.portal.origins import frame_ancestors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def wants_html(request: web.BaseRequest) -> bool:
    """A browser navigating (not fetch/XHR asking for JSON)."""
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return False
    return "text/html" in accept or request.headers.get("Sec-Fetch-Mode") == "navigate"


def portal_of(request: web.Request) -> str | None:
    portal = request.match_info.get("portal")
    return portal if portal in request.app[SETTINGS].portals else None


def login_url(portal: str, next_path: str | None = None) -> str:
    base = f"/{portal}/auth/login"
    if next_path:
        return f"{base}?redirect={quote(next_path, safe='/')}"
    return base


def with_error_pages(handler: Handler) -> Handler:
    """Errors on portal pages become a page a person understands (API clients still get the
    envelope, from the error middleware). A decorator of the portal handlers rather than a
    middleware: forward-auth, which runs on every request of a site, pays nothing for it."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.ApiError as error:
            return _error_page(request, error)

    return wrapped


def _error_page(request: web.Request, error: errors.ApiError) -> web.StreamResponse:
    portal = portal_of(request)
    if portal is None or not wants_html(request):
        raise error
    next_path = request.path if request.method == "GET" else None
    # A refusal we know the token of (revoked, disabled, wrong portal) may be shown inside
    # the frames that token allows, so the person sees why rather than a blank frame.
    return pages.error_page(
        error,
        login_url=login_url(portal, next_path),
        frame_ancestors=frame_ancestors(error.frame_domains),
    )
