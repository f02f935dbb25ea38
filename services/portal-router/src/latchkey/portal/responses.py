"""Answering people and programs differently (pages for browsers, envelopes for API clients),
and the answers that start or end a session."""

import ipaddress
import secrets
from urllib.parse import quote

from aiohttp import web

from latchkey.common import errors
from latchkey.common.domains import origin_host_port
from latchkey.common.web import error_response
from latchkey.portal import pages
from latchkey.portal.admission import Refused, frame_ancestors
from latchkey.portal.sessions import SessionCodec, clear_cookie_header, set_cookie_header
from latchkey.portal.settings import RouterSettings
from latchkey.portal.signin import SessionStart

CSRF_COOKIE = "latchkey_csrf"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


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


def is_loopback(host: str) -> bool:
    """`localhost`, a name under it, 127.0.0.0/8 or [::1]: origins browsers treat as
    secure whatever the scheme (W3C Secure Contexts, "potentially trustworthy")."""
    found = origin_host_port("http://" + host)
    if found is None:
        return False
    name = found[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class Answers:
    """The router's answers that depend on its settings (cookies, pages)."""

    def __init__(self, settings: RouterSettings, codec: SessionCodec) -> None:
        self._settings = settings
        self._codec = codec

    def secure(self, request: web.BaseRequest) -> bool:
        """Whether cookies may be `Secure`: over HTTPS (directly, or as a trusted proxy says),
        and at a loopback name, where browsers keep `Secure` cookies over plain HTTP too (so
        embedding works when trying Latchkey out on one machine)."""
        mode = self._settings.cookie_secure
        if mode != "auto":
            return mode == "always"
        return request.secure or is_loopback(request.host)

    def session_started(self, request: web.BaseRequest, start: SessionStart) -> web.Response:
        """The session cookie and a 303 to where the person lands (the token never stays in
        an address, a cache or a Referer); inside another site's frame, a page that goes on
        once the browser kept the cookie."""
        identity = start.identity
        portal = identity.portal
        session = self._codec.new(
            token=identity.token,
            portal=portal,
            token_expires_at=identity.claims.exp,
            max_lifetime=self._settings.session_max_lifetime,
        )
        # With storage access granted (the Storage Access API), a frame keeps unpartitioned
        # cookies only: the browser says so in this request header.
        granted = request.headers.get("Sec-Fetch-Storage-Access") == "active"
        cookie = set_cookie_header(
            self._codec.seal(session),
            path=f"/{portal}",
            max_age=int(session.expires_at - session.created_at),
            secure=self.secure(request),
            embeddable=self._settings.portals[portal].embeddable,
            partitioned=not granted,
        )
        ancestors = frame_ancestors(identity.domains)
        if start.framed_link is not None:
            if start.framed_problem is not None and start.framed_by is not None:
                # The page tells the framing site's visitor why: it may show it.
                ancestors = f"frame-ancestors 'self' {start.framed_by}"
            response = pages.framed_sign_in_page(
                portal=portal,
                target=start.target,
                deep_link=start.framed_link,
                check=f"/{portal}/auth/cookies",
                problem=start.framed_problem,
                frame_ancestors=ancestors,
            )
        else:
            response = web.Response(status=303, headers={"Location": start.target, **NO_STORE})
            response.headers["Content-Security-Policy"] = ancestors
        response.headers.add("Set-Cookie", cookie)
        return response

    def clear_cookie(self, request: web.BaseRequest, portal: str) -> str:
        return clear_cookie_header(
            path=f"/{portal}",
            secure=self.secure(request),
            embeddable=self._settings.portals[portal].embeddable,
        )

    def refusal(self, request: web.Request, refused: Refused, portal: str) -> web.Response:
        """A page a person understands (shown inside the frames the token allows, so a
        partner's frame says why) or the envelope; the session's cookie cleared when the
        session is over."""
        error = refused.error
        if wants_html(request):
            next_path = request.path if request.method == "GET" else None
            response = pages.error_page(
                error,
                login_url=login_url(portal, next_path),
                frame_ancestors=refused.frame_ancestors(),
                open_top_level=refused.open_top_level,
            )
        else:
            response = error_response(error)
        if refused.end_session:
            response.headers.add("Set-Cookie", self.clear_cookie(request, portal))
        return response

    def login_form(
        self,
        request: web.BaseRequest,
        portal: str,
        *,
        redirect: str,
        problem: str | None = None,
        status: int = 401,
    ) -> web.Response:
        csrf = secrets.token_urlsafe(24)
        response = pages.login_page(
            portal=portal,
            action=f"/{portal}/auth/login",
            redirect=redirect,
            csrf=csrf,
            problem=problem,
            status=status,
        )
        response.headers.add(
            "Set-Cookie",
            set_cookie_header(
                csrf,
                path=f"/{portal}/auth",
                max_age=3600,
                secure=self.secure(request),
                embeddable=self._settings.portals[portal].embeddable,
                name=CSRF_COOKIE,
            ),
        )
        return response


def error_page(
    request: web.Request, error: errors.ApiError, *, portal: str
) -> web.StreamResponse | None:
    """Errors on portal pages as a page a person understands; None (the envelope) for API
    clients. Only the portal routes use it: forward-auth, on every request of a site, never
    pays for it."""
    if not wants_html(request):
        return None
    next_path = request.path if request.method == "GET" else None
    return pages.error_page(error, login_url=login_url(portal, next_path))
