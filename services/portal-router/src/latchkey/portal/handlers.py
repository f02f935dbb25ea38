"""Thin handlers: HTTP in (which portal, the request's headers, form and query), a call to the
sign-in service, the gatekeeper or the proxy, HTTP out."""

import secrets
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from latchkey.common import errors
from latchkey.common.web import envelope, sent_by_own_page
from latchkey.portal import apis, pages
from latchkey.portal.admission import Identity, Refused, frame_ancestors, websocket_refusal
from latchkey.portal.appkeys import (
    ANSWERS,
    GATEKEEPER,
    IDENTITY_HEADERS,
    NETWORK,
    ORIGINS,
    PROXY,
    ROUTES,
    SETTINGS,
    SIGN_IN,
)
from latchkey.portal.origins import check_origin, own_host_port, sender_of
from latchkey.portal.redirects import BadLink, clean_path, portal_of_uri
from latchkey.portal.responses import CSRF_COOKIE, login_url, wants_html
from latchkey.portal.settings import Route
from latchkey.portal.signin import TOKEN_PARAMETER, SessionStart

STATIC = Path(__file__).parent / "static"
PORTAL_HEADER = "X-Latchkey-Portal"
"""Set by an nginx location to the portal it protects; forward-auth then checks it."""


class CrossSiteForm(errors.Forbidden):
    reason = "cross_site_request"
    message = "This form can only be sent from this site."


class PortalMismatch(errors.Forbidden):
    reason = "portal_mismatch"
    message = "The original URI names another portal than the one this location protects."


class AmbiguousUri(errors.Forbidden):
    """403, not 400: nginx passes on a forward-auth 401 or 403 and turns anything else into
    a 500 of its own."""

    reason = "bad_link"
    message = "The original URI reads differently once normalised; it is refused."


async def signed_in(request: web.Request, portal: str) -> Identity | None:
    """The identity behind this request (its sender checked), None without one; raises
    `Refused`."""
    identity = await request.app[GATEKEEPER].identify(
        portal,
        cookie_header=request.headers.get("Cookie"),
        authorization=request.headers.get("Authorization"),
    )
    if identity is not None:
        request.app[SIGN_IN].check_sender(sender_of(request), identity, signing_in=False)
    return identity


async def portal_page(request: web.Request, portal: str) -> web.StreamResponse:
    """Any page of a portal: a deep link, a signed-in request to proxy, or the way to sign in."""
    check_origin(request, request.app[ORIGINS], portal)
    try:
        if TOKEN_PARAMETER in request.query:
            return await deep_link(request, portal)
        path = clean_path(
            request.raw_path.split("?", 1)[0],
            portal,
            max_length=request.app[SETTINGS].max_path_length,
        )
        identity = await signed_in(request, portal)
    except Refused as refused:
        return request.app[ANSWERS].refusal(request, refused, portal)
    if identity is None:
        if not wants_html(request):
            raise errors.TokenMissing()
        # raw_path: the way back keeps the path's and the query's bytes, escapes included
        raise web.HTTPSeeOther(login_url(portal, request.raw_path))
    security = {"Content-Security-Policy": frame_ancestors(identity.domains)}
    route = request.app[ROUTES].match(path)
    if route is None:
        return builtin_page(identity, security["Content-Security-Policy"])
    proxy = request.app[PROXY]
    if request.headers.get("Upgrade", "").lower() == "websocket":
        refusal = websocket_refusal(sender_of(request), identity.domains)
        if refusal is not None:
            raise refusal
        expires = identity.session.expires_at if identity.session else identity.claims.exp
        return await proxy.websocket(request, identity, route, path, expires_at=expires)
    return await proxy.http(request, identity, route, path, extra=security)


async def deep_link(request: web.Request, portal: str) -> web.Response:
    path = clean_path(
        request.raw_path.split("?", 1)[0], portal, max_length=request.app[SETTINGS].max_path_length
    )
    start = await request.app[SIGN_IN].deep_link(
        portal=portal,
        path=path,
        tokens=request.query.getall(TOKEN_PARAMETER),
        # The raw query: decoded, an escaped & or = would become a separator.
        raw_query=request.raw_path.partition("?")[2],
        redirect=request.query.get("redirect"),
        sender=sender_of(request),
        secure=request.app[ANSWERS].secure(request),
    )
    return request.app[ANSWERS].session_started(request, start)


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
    check_origin(request, request.app[ORIGINS], portal)
    sign_in = request.app[SIGN_IN]
    if TOKEN_PARAMETER in request.query:
        try:
            return await deep_link(request, portal)
        except Refused as refused:
            return request.app[ANSWERS].refusal(request, refused, portal)
    redirect = request.query.get("redirect")
    if request.app[GATEKEEPER].session_of(request.headers.get("Cookie"), portal) is not None:
        try:
            if await signed_in(request, portal) is not None:
                raise web.HTTPSeeOther(sign_in.landing(portal, redirect))
        except Refused:
            pass  # a session that no longer works: sign in afresh
    return request.app[ANSWERS].login_form(
        request, portal, redirect=sign_in.landing(portal, redirect)
    )


def require_own_page(request: web.BaseRequest) -> None:
    """State changes only from our own pages."""
    if not sent_by_own_page(request, own_host_port(request)):
        raise CrossSiteForm()


async def login(request: web.Request, portal: str) -> web.StreamResponse:
    """The sign-in form's POST."""
    check_origin(request, request.app[ORIGINS], portal)
    require_own_page(request)
    form = await request.post()
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
        raise CrossSiteForm()
    answers = request.app[ANSWERS]
    outcome = await request.app[SIGN_IN].form(
        portal=portal,
        username=str(form.get("username", "")),
        password=str(form.get("password", "")),
        redirect=str(form.get("redirect", "")) or None,
        client=request.app[NETWORK].client_of(request),
    )
    if isinstance(outcome, SessionStart):
        return answers.session_started(request, outcome)
    redirect = request.app[SIGN_IN].landing(portal, str(form.get("redirect", "")) or None)
    return answers.login_form(
        request, portal, redirect=redirect, problem=outcome.message, status=outcome.status
    )


async def cookies_kept(request: web.Request, portal: str) -> web.Response:
    """Whether this browser sent the portal's session cookie back (a framed sign-in asks)."""
    session = request.app[GATEKEEPER].session_of(request.headers.get("Cookie"), portal)
    return envelope({"kept": session is not None}, headers={"Cache-Control": "no-store"})


async def logout_form(request: web.Request, portal: str) -> web.Response:
    check_origin(request, request.app[ORIGINS], portal)
    if request.app[GATEKEEPER].session_of(request.headers.get("Cookie"), portal) is None:
        return pages.signed_out_page(login=f"/{portal}/auth/login")
    return pages.logout_confirm_page(action=f"/{portal}/auth/logout")


async def logout(request: web.Request, portal: str) -> web.Response:
    """End the session and revoke its token (through auth's logout, as clients do)."""
    check_origin(request, request.app[ORIGINS], portal)
    require_own_page(request)
    session = request.app[GATEKEEPER].session_of(request.headers.get("Cookie"), portal)
    if session is not None:
        await request.app[SIGN_IN].sign_out(session.token)
    page = pages.signed_out_page(login=f"/{portal}/auth/login")
    page.headers.add("Set-Cookie", request.app[ANSWERS].clear_cookie(request, portal))
    return page


async def verify(request: web.Request) -> web.Response:
    """Forward-auth for nginx `auth_request` and Traefik ForwardAuth: 200 with identity
    headers, 401 without a valid credential, 403 for the wrong portal or site. The portal is
    read from the original URI as nginx normalises it; a URI that normalises to something
    else is refused rather than guessed at."""
    settings = request.app[SETTINGS]
    uri = request.headers.get(settings.forward_auth_uri_header, "/")
    try:
        portal = portal_of_uri(uri, max_length=settings.max_path_length)
    except BadLink:
        raise AmbiguousUri() from None
    if portal not in settings.portals:
        raise errors.TokenMissing("The original URI names no portal.")
    protected = request.headers.get(PORTAL_HEADER)
    if protected is not None and protected != portal:
        raise PortalMismatch()
    try:
        identity = await signed_in(request, portal)
    except Refused as refused:
        raise refused.error from None
    if identity is None:
        raise errors.TokenMissing()
    return web.Response(headers=request.app[IDENTITY_HEADERS].forward_auth_answer(identity))


async def api(request: web.Request, route: Route) -> web.StreamResponse:
    """An API route: bearer token only, envelopes only, CORS for the sites the token allows."""
    answered = apis.preflight(request)
    if answered is not None:
        return answered
    origin = apis.cross_site_origin(request)
    try:
        path = clean_path(
            request.raw_path.split("?", 1)[0],
            route.portal,
            max_length=request.app[SETTINGS].max_path_length,
        )
        try:
            identity = await request.app[GATEKEEPER].api_caller(
                request.headers.get("Authorization"), route.portals
            )
        except Refused as refused:
            raise refused.error from None
        cors = apis.cors_headers(origin, identity.domains)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            raise errors.BadRequest("API routes do not take WebSocket upgrades.")
        return await request.app[PROXY].http(request, identity, route, path, extra=cors)
    except errors.ApiError as error:
        return apis.refusal(error, origin)


STATIC_FILES = frozenset({"portal.css", "frame.js"})


async def static(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise errors.NotFound()
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "public, max-age=3600"})
