"""How people get in and out: deep links with a token, the sign-in form, sign-out.

Every way in ends the same: the token is verified and checked against the live view, the
portal and the sending site are checked, a session cookie is set, and a 303 takes the user to
the same page without the token in its address.
"""

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from latchkey.common import errors
from latchkey.common.registry_client import RegistryClient
from latchkey.common.web import sent_by_own_page
from latchkey.portal import pages
from latchkey.portal.gatekeeper import Gatekeeper, Identity
from latchkey.portal.origins import check_sender, frame_ancestors, own_host_port
from latchkey.portal.redirects import BadLink, clean_path, safe_redirect, without_query_parameter
from latchkey.portal.sessions import clear_cookie_header, set_cookie_header
from latchkey.portal.settings import RouterSettings

TOKEN_PARAMETER = "accessToken"  # noqa: S105 (a query parameter name, not a secret)
CSRF_COOKIE = "latchkey_csrf"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class LinkAlreadyUsed(errors.Forbidden):
    reason = "link_already_used"
    message = "This link has already been used."


class CrossSiteForm(errors.Forbidden):
    reason = "cross_site_request"
    message = "This form can only be sent from this site."


@dataclass
class Entry:
    settings: RouterSettings
    gatekeeper: Gatekeeper
    registry: RegistryClient
    http: aiohttp.ClientSession

    def secure(self, request: web.BaseRequest) -> bool:
        mode = self.settings.cookie_secure
        return mode == "always" or (mode == "auto" and request.secure)

    def _session_response(
        self, request: web.BaseRequest, identity: Identity, target: str
    ) -> web.Response:
        portal = identity.portal
        session = self.gatekeeper.codec.new(
            token=identity.token,
            portal=portal,
            token_expires_at=identity.claims.exp,
            max_lifetime=self.settings.session_max_lifetime,
        )
        cookie = set_cookie_header(
            self.gatekeeper.codec.seal(session),
            path=f"/{portal}",
            max_age=int(session.expires_at - session.created_at),
            secure=self.secure(request),
            embeddable=self.settings.portals[portal].embeddable,
        )
        response = web.Response(status=303, headers={"Location": target, **NO_STORE})
        response.headers.add("Set-Cookie", cookie)
        response.headers["Content-Security-Policy"] = frame_ancestors(identity.domains)
        return response

    def check_sender(
        self, request: web.BaseRequest, identity: Identity, *, signing_in: bool = False
    ) -> None:
        """The sending site must be allowed. A request that names no sender is judged by the
        settings only when it signs in: once a session exists, the requests inside it (after
        a `no-referrer` redirect, say) carry no sender, and the cookie itself is confined to
        the site it was set for (SameSite, or its iframe partition)."""
        check_sender(
            request,
            identity.domains,
            allow_bare_navigation=self.settings.allow_no_origin_navigation or not signing_in,
            allow_bare_frame=self.settings.allow_no_origin_iframe or not signing_in,
        )

    async def deep_link(self, request: web.Request, portal: str) -> web.Response:
        """`/{portal}/{path}?accessToken=T&...`: sign in and land on the same page."""
        path = clean_path(
            request.raw_path.split("?", 1)[0], portal, max_length=self.settings.max_path_length
        )
        tokens = request.query.getall(TOKEN_PARAMETER)
        if len(tokens) != 1 or not tokens[0]:
            raise BadLink()
        identity = await self.gatekeeper.admit(tokens[0], portal)
        self.check_sender(request, identity, signing_in=True)
        single_use = self.settings.portals[portal].single_use_links
        if single_use and not await self.registry.mark_deep_link_used(identity.claims.jti):
            raise LinkAlreadyUsed()
        if path.rstrip("/") == f"/{portal}/auth/login":
            target = self.landing(portal, request.query.get("redirect"))
        else:
            # The raw query: decoded, an escaped & or = would become a separator.
            query = without_query_parameter(request.raw_path.partition("?")[2], TOKEN_PARAMETER)
            target = path + ("?" + query if query else "")
        return self._session_response(request, identity, target)

    def landing(self, portal: str, redirect: str | None) -> str:
        return safe_redirect(
            redirect,
            portal,
            home=self.settings.home_of(portal),
            max_length=self.settings.max_path_length,
        )

    # --- the sign-in form --------------------------------------------------------------------

    def login_form(
        self, request: web.Request, portal: str, *, problem: str | None = None, status: int = 401
    ) -> web.Response:
        csrf = secrets.token_urlsafe(24)
        response = pages.login_page(
            portal=portal,
            action=f"/{portal}/auth/login",
            redirect=self.landing(portal, request.query.get("redirect")),
            csrf=csrf,
            problem=problem,
        )
        response.set_status(status)
        response.headers.add(
            "Set-Cookie",
            set_cookie_header(
                csrf,
                path=f"/{portal}/auth",
                max_age=3600,
                secure=self.secure(request),
                embeddable=self.settings.portals[portal].embeddable,
                name=CSRF_COOKIE,
            ),
        )
        return response

    def require_same_site(self, request: web.BaseRequest) -> None:
        """State changes only from our own pages."""
        if not sent_by_own_page(request, own_host_port(request)):
            raise CrossSiteForm()

    async def login(self, request: web.Request, portal: str) -> web.Response:
        """The sign-in form's POST: password through auth, then the same session as a link."""
        self.require_same_site(request)
        form = await request.post()
        expected = request.cookies.get(CSRF_COOKIE)
        if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
            raise CrossSiteForm()
        redirect = self.landing(portal, str(form.get("redirect", "")) or None)
        answer, status = await self._auth_login(
            request, str(form.get("username", "")), str(form.get("password", ""))
        )
        token = answer.get("accessToken")
        if status == 200 and not isinstance(token, str):
            status = 503  # a success without a token: auth is not itself
        if status != 200:
            problem = {
                401: "Wrong username or password.",
                403: "This account is disabled.",
                429: "Too many failed sign-ins; wait a moment before trying again.",
            }.get(status, "Signing in is not possible right now; try again shortly.")
            return self.login_form(request, portal, problem=problem, status=status)
        identity = await self.gatekeeper.admit(str(token), portal)
        return self._session_response(request, identity, redirect)

    async def _auth_login(
        self, request: web.BaseRequest, username: str, password: str
    ) -> tuple[dict[str, Any], int]:
        body = {"username": username, "password": password, "channel": "WEB", "platform": "WEB"}
        headers = {"X-Forwarded-For": request.remote or ""}
        try:
            async with self.http.post(
                self.settings.auth_url + "/auth/v1/login", json=body, headers=headers
            ) as response:
                answer = await response.json(content_type=None)
                return (answer.get("data") or {}), response.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return {}, 503

    # --- sign-out ------------------------------------------------------------------------------

    async def logout(self, request: web.Request, portal: str) -> web.Response:
        """End the session and revoke its token (through auth's logout, as clients do)."""
        self.require_same_site(request)
        session = self.gatekeeper.session_of(request, portal)
        if session is not None:
            await self._auth_logout(session.token)
        page = pages.signed_out_page(login=f"/{portal}/auth/login")
        page.headers.add("Set-Cookie", self.clear_cookie(request, portal))
        return page

    async def _auth_logout(self, token: str) -> None:
        """Revoke through auth; an already refused token counts as signed out."""
        try:
            async with self.http.post(
                self.settings.auth_url + "/api/v1/user/logout",
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                if response.status in (200, 401):
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        raise errors.ServiceUnavailable("Signing out is not possible right now; try again.")

    def clear_cookie(self, request: web.BaseRequest, portal: str) -> str:
        return clear_cookie_header(
            path=f"/{portal}",
            secure=self.secure(request),
            embeddable=self.settings.portals[portal].embeddable,
        )
