"""Answering people and programs differently: pages for browsers, envelopes for API clients."""

from urllib.parse import quote

from aiohttp import web

from latchkey.common import errors
from latchkey.portal import pages
from latchkey.portal.origins import frame_ancestors


def wants_html(request: web.BaseRequest) -> bool:
    """A browser navigating (not fetch/XHR asking for JSON)."""
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return False
    return "text/html" in accept or request.headers.get("Sec-Fetch-Mode") == "navigate"


def login_url(portal: str, next_path: str | None = None) -> str:
    base = f"/{portal}/auth/login"
    if next_path:
        return f"{base}?redirect={quote(next_path, safe='/')}"
    return base


def error_page(
    request: web.Request, error: errors.ApiError, *, portal: str
) -> web.StreamResponse | None:
    """Errors on portal pages as a page a person understands; None (the envelope) for API
    clients. Only the portal routes use it: forward-auth, on every request of a site, never
    pays for it."""
    if not wants_html(request):
        return None
    next_path = request.path if request.method == "GET" else None
    # A refusal we know the token of (revoked, disabled, wrong portal) may be shown inside
    # the frames that token allows, so the person sees why rather than a blank frame.
    return pages.error_page(
        error,
        login_url=login_url(portal, next_path),
        frame_ancestors=frame_ancestors(error.frame_domains),
    )
