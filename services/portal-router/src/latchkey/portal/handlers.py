"""Thin handlers: which portal, who is asking, then a flow of `entry` or the proxy."""

from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from latchkey.common import errors
from latchkey.portal import pages
from latchkey.portal.entry import TOKEN_PARAMETER, Entry
from latchkey.portal.gatekeeper import Identity
from latchkey.portal.keys import ENTRY, GATEKEEPER, PROXY, ROUTES
from latchkey.portal.origins import frame_ancestors
from latchkey.portal.redirects import clean_path
from latchkey.portal.responses import login_url, wants_html

STATIC = Path(__file__).parent / "static"


async def _signed_in(entry: Entry, request: web.Request, portal: str) -> Identity:
    """The identity behind this request, or the reason to refuse it; a session the view no
    longer honours is ended (its cookie cleared) on the way out."""
    try:
        identity = await entry.gatekeeper.identify(request, portal)
    except errors.Unauthorized as error:
        error.headers["Set-Cookie"] = entry.clear_cookie(request, portal)
        raise
    if identity is None:
        raise errors.TokenMissing()
    entry.check_sender(request, identity)
    return identity


async def portal_page(request: web.Request, portal: str) -> web.StreamResponse:
    """Any page of a portal: a deep link, a signed-in request to proxy, or the way to sign in."""
    entry = request.app[ENTRY]
    if TOKEN_PARAMETER in request.query:
        return await entry.deep_link(request, portal)
    path = clean_path(
        request.raw_path.split("?", 1)[0], portal, max_length=entry.settings.max_path_length
    )
    try:
        identity = await _signed_in(entry, request, portal)
    except errors.TokenMissing:
        if not wants_html(request):
            raise
        # raw_path: the way back keeps the path's and the query's bytes, escapes included
        raise web.HTTPSeeOther(login_url(portal, request.raw_path)) from None
    security = {"Content-Security-Policy": frame_ancestors(identity.domains)}
    route = request.app[ROUTES].match(path)
    if route is None:
        return builtin_page(identity, security["Content-Security-Policy"])
    proxy = request.app[PROXY]
    if request.headers.get("Upgrade", "").lower() == "websocket":
        expires = identity.session.expires_at if identity.session else identity.claims.exp
        return await proxy.websocket(request, identity, route, path, expires_at=expires)
    return await proxy.http(request, identity, route, path, extra=security)


def builtin_page(identity: Identity, ancestors: str) -> web.Response:
    """Without an upstream for the portal: who is signed in, and where."""
    claims = identity.claims
    until = identity.session.expires_at if identity.session else claims.exp
    return pages.signed_in_page(
        name=claims.name or claims.sub,
        user_id=claims.sub,
        portal=identity.portal,
        roles=claims.roles,
        expires=datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        logout=f"/{identity.portal}/auth/logout",
        frame_ancestors=ancestors,
    )


async def login_form(request: web.Request, portal: str) -> web.StreamResponse:
    entry = request.app[ENTRY]
    if TOKEN_PARAMETER in request.query:
        return await entry.deep_link(request, portal)
    if entry.gatekeeper.session_of(request, portal) is not None:
        try:
            await _signed_in(entry, request, portal)
            raise web.HTTPSeeOther(entry.landing(portal, request.query.get("redirect")))
        except errors.ApiError:
            pass  # a session that no longer works: sign in afresh
    return entry.login_form(request, portal)


async def login(request: web.Request, portal: str) -> web.StreamResponse:
    return await request.app[ENTRY].login(request, portal)


async def logout_form(request: web.Request, portal: str) -> web.Response:
    if request.app[GATEKEEPER].session_of(request, portal) is None:
        return pages.signed_out_page(login=f"/{portal}/auth/login")
    return pages.logout_confirm_page(action=f"/{portal}/auth/logout")


async def logout(request: web.Request, portal: str) -> web.Response:
    return await request.app[ENTRY].logout(request, portal)


async def verify(request: web.Request) -> web.Response:
    """Forward-auth for nginx `auth_request` and Traefik ForwardAuth: 200 with identity
    headers, 401 without a valid credential, 403 for the wrong portal or site."""
    entry = request.app[ENTRY]
    uri = request.headers.get(entry.settings.forward_auth_uri_header, "/")
    portal = uri.lstrip("/").split("/", 1)[0].split("?", 1)[0]
    if portal not in entry.settings.portals:
        raise errors.TokenMissing("The original URI names no portal.")
    identity = await entry.gatekeeper.identify(request, portal)
    if identity is None:
        raise errors.TokenMissing()
    entry.check_sender(request, identity)
    return web.Response(headers=entry.gatekeeper.identity_headers(identity))


async def stylesheet(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "portal.css", headers={"Cache-Control": "public, max-age=3600"}
    )
