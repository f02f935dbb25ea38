"""Rendering console pages: Jinja2 with autoescaping, and the headers every page carries."""

import re
from typing import Any

import jinja2
from aiohttp import web

from latchkey.common import errors

DEFAULT_PREFIX = "/console"
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")

# No inline script or style anywhere: everything comes from the console's own static files.
# Never inside a frame, not even one of its own origin (console/metadata.py says why).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

environment = jinja2.Environment(
    loader=jinja2.PackageLoader("latchkey.registry.console", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def prefix_of(request: web.BaseRequest) -> str:
    """Where the browser sees the console: the router's route prefix, else our own path."""
    prefix = request.headers.get("X-Forwarded-Prefix", "")
    return prefix if _PREFIX.match(prefix) else DEFAULT_PREFIX


def browser_origin(request: web.BaseRequest) -> tuple[str, str]:
    """The scheme and host the browser sees the console at: the router's, as it forwards
    them (the router sets both on every proxied request, whatever the client sent)."""
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.host)
    return proto, host


environment.globals["change_names"] = {
    "token.revoked": "Token revoked",
    "token.disabled": "Token disabled",
    "token.enabled": "Token enabled",
    "token.domains_changed": "Allowed domains changed",
    "user.revoked": "Every token of a user revoked",
    "policy.changed": "Domain policy changed",
}


def sign_out_path(prefix: str) -> str | None:
    """The router's sign-out page of the portal the console is shown in (None when the
    console is reached directly, outside any portal)."""
    if prefix == DEFAULT_PREFIX:
        return None
    return f"/{prefix.strip('/').split('/')[0]}/auth/logout"


def page(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    current: str | None = None,
    **context: Any,
) -> web.Response:
    prefix = prefix_of(request)
    html = environment.get_template(template).render(
        prefix=prefix, current=current, sign_out=sign_out_path(prefix), **context
    )
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers.update(
        {
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-store",
            # Same-origin: the console's forms then name it as their origin. No console URL
            # carries a token (a deep link to it is answered by the router with a 303 first).
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            # A console page opened by another page (window.open) is cut off from it, so a
            # page sharing the origin cannot reach into the window it opened.
            "Cross-Origin-Opener-Policy": "same-origin",
            "X-Frame-Options": "DENY",
        }
    )
    return response


def see_other(request: web.Request, path: str) -> web.HTTPSeeOther:
    """Post/Redirect/Get, under the prefix the browser sees."""
    return web.HTTPSeeOther(prefix_of(request) + path)


def error_page(request: web.Request, error: errors.ApiError) -> web.Response:
    """The console's errors are pages for people (its JSON and the API keep the envelope)."""
    return page(
        request,
        "error.html",
        status=error.status,
        title="This cannot be done" if error.status < 500 else "Please try again",
        message=error.detail,
        reason=error.reason,
    )
