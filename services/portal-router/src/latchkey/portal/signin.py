"""How people get in and out (the router's service layer): deep links with a token, the
sign-in form through auth, sign-out. No HTTP here: inputs in, a `SessionStart` (who, and where
to land) or a refusal out; the handlers turn them into answers.

Every way in ends the same: the token is admitted, the portal and the sending site are
checked, and the person lands on the same page without the token in its address.
"""

from dataclasses import dataclass

from latchkey.common import errors
from latchkey.common.auth_client import AuthClient
from latchkey.common.contracts import LoginRequest
from latchkey.common.registry_client import RegistryClient
from latchkey.common.service_client import ServiceError
from latchkey.portal.admission import (
    Identity,
    Refused,
    Sender,
    frame_source,
    framing_refusal,
    sender_refusal,
)
from latchkey.portal.gatekeeper import Gatekeeper
from latchkey.portal.redirects import BadLink, safe_redirect, without_query_parameter
from latchkey.portal.settings import RouterSettings

TOKEN_PARAMETER = "accessToken"  # noqa: S105 (a query parameter name, not a secret)
CROSS = ("cross-site", "same-site")
"""`Sec-Fetch-Site` of a frame another site's page holds (browsers always say which)."""

FORM_PROBLEMS = {
    401: "Wrong username or password.",
    403: "This account is disabled.",
    422: "Wrong username or password.",
    429: "Too many failed sign-ins; wait a moment before trying again.",
}


class LinkAlreadyUsed(errors.Forbidden):
    reason = "link_already_used"
    message = "This link has already been used."


@dataclass(frozen=True)
class SessionStart:
    identity: Identity
    target: str
    """Where to land: a path of the portal, never another origin."""
    framed_link: str | None = None
    """The deep link, when it may have arrived in another site's frame: the cookie then
    rides on a page that goes on at once at top level, and inside a frame once the browser
    kept the cookie (it may block cookies in frames altogether)."""
    framed_problem: str | None = None
    """Why the link cannot work inside a frame, should the page find itself in one (browsers
    send no fetch metadata to plain-HTTP host names, so only the page can tell)."""
    framed_by: str | None = None
    """The site that sent the link, which may show that page (a CSP source)."""


@dataclass(frozen=True)
class FormProblem:
    """The sign-in form again, with what went wrong."""

    message: str
    status: int


@dataclass
class SignIn:
    settings: RouterSettings
    gatekeeper: Gatekeeper
    registry: RegistryClient
    auth: AuthClient

    def check_sender(
        self, sender: Sender, identity: Identity, *, signing_in: bool, here: str | None = None
    ) -> None:
        """The sending site must be allowed. A request that names no sender is judged by the
        settings only when it signs in: once a session exists, the requests inside it (after
        a `no-referrer` redirect, say) carry no sender, and the cookie itself is confined to
        the site it was set for (SameSite, or its iframe partition)."""
        error = sender_refusal(
            sender,
            identity.domains,
            signing_in=signing_in,
            allow_bare_navigation=self.settings.allow_no_origin_navigation or not signing_in,
            allow_bare_frame=self.settings.allow_no_origin_iframe or not signing_in,
        )
        if error is not None:
            if sender.framed:  # said inside the frame, so the person sees why
                raise Refused(error, framed_by=frame_source(sender), open_top_level=here)
            raise Refused(error)

    async def deep_link(
        self, *, portal: str, path: str, tokens: list[str], raw_query: str, redirect: str | None,
        sender: Sender, secure: bool,
    ) -> SessionStart:  # fmt: skip
        """`/{portal}/{path}?accessToken=T&...`: sign in and land on the same page (the
        query's other parameters kept byte for byte), or, for `/auth/login`, the portal home or
        a safe `redirect`. Inside another site's frame, a link that could not work there says
        why, and offers to open it in a tab of its own."""
        if len(tokens) != 1 or not tokens[0]:
            raise BadLink()
        here = path + ("?" + raw_query if raw_query else "")
        identity = await self.gatekeeper.admit(tokens[0], portal)
        self.check_sender(sender, identity, signing_in=True, here=here)
        embeddable = self.settings.portals[portal].embeddable
        framing = framing_refusal(sender, identity.domains, embeddable=embeddable, secure=secure)
        if framing is not None:
            raise Refused(framing, framed_by=frame_source(sender), open_top_level=here)
        framed, problem, framed_by = None, None, None
        if sender.framed and sender.fetch_site in CROSS:
            framed = here
        elif sender.fetch_dest is None and sender.named is not None and not sender.own_site:
            # No fetch metadata (an insecure origin gets none) and another site sent it: it
            # may be a frame. What would be wrong there is said by the page, if it is one.
            assumed = sender._replace(fetch_site="cross-site", fetch_dest="iframe")
            found = framing_refusal(assumed, identity.domains, embeddable=embeddable, secure=secure)
            framed, framed_by = here, frame_source(sender)
            problem = found.detail if found is not None else None
        single_use = self.settings.portals[portal].single_use_links
        if single_use and not await self.registry.mark_deep_link_used(identity.claims.jti):
            raise Refused(LinkAlreadyUsed(), frame_domains=identity.domains)
        if path.rstrip("/") == f"/{portal}/auth/login":
            target = self.landing(portal, redirect)
        else:
            query = without_query_parameter(raw_query, TOKEN_PARAMETER)
            target = path + ("?" + query if query else "")
        return SessionStart(identity, target, framed, problem, framed_by)

    def landing(self, portal: str, redirect: str | None) -> str:
        return safe_redirect(
            redirect,
            portal,
            home=self.settings.home_of(portal),
            max_length=self.settings.max_path_length,
        )

    async def form(
        self, *, portal: str, username: str, password: str, redirect: str | None, client: str
    ) -> SessionStart | FormProblem:
        """The sign-in form's POST: the password through auth (which counts the failures of
        `client`, the real client), then the same session as a deep link gives."""
        if not username or not password:
            return FormProblem(FORM_PROBLEMS[401], 401)
        try:
            result = await self.auth.login(
                LoginRequest(username=username, password=password, channel="WEB", platform="WEB"),
                client_address=client,
            )
        except ServiceError as exc:
            return FormProblem(FORM_PROBLEMS.get(exc.status, FORM_PROBLEMS[401]), exc.status)
        except errors.ServiceUnavailable:
            return FormProblem("Signing in is not possible right now; try again shortly.", 503)
        except ValueError:  # what auth could not even read (a NUL in the name, say)
            return FormProblem(FORM_PROBLEMS[401], 401)
        identity = await self.gatekeeper.admit(result.access_token, portal)
        return SessionStart(identity, self.landing(portal, redirect))

    async def sign_out(self, token: str) -> None:
        """Revoke through auth, as clients do; an already refused token counts as signed out."""
        try:
            await self.auth.logout(token)
        except ServiceError as exc:
            if exc.status != 401:
                raise errors.ServiceUnavailable(
                    "Signing out is not possible right now; try again."
                ) from exc
        except errors.ServiceUnavailable:
            raise errors.ServiceUnavailable(
                "Signing out is not possible right now; try again."
            ) from None
