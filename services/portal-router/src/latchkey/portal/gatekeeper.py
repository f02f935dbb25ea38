"""Who is asking: from a session cookie, a deep-link token or a bearer token, checked against
the signature cache and the live token-state view on every request."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from latchkey.common import errors
from latchkey.common.credentials import bearer_token
from latchkey.common.tokens import Claims, TokenVerifier
from latchkey.common.tokenstate.runtime import TokenState
from latchkey.portal.sessions import Session, SessionCodec, cookie_value

HEADER_CACHE_SIZE = 50_000


def header_safe(value: str) -> str:
    """Claim values as header values: printable ASCII kept, anything else percent-encoded."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="")


class SessionExpired(errors.TokenExpired):
    message = "Your session has expired; please sign in again."


@dataclass(frozen=True, slots=True)
class Identity:
    claims: Claims
    token: str
    portal: str
    domains: tuple[str, ...]
    """The allowed domains in force now: changed by an admin, the token's, else the policy."""
    session: Session | None = None


class Gatekeeper:
    def __init__(
        self,
        *,
        codec: SessionCodec,
        verifier: TokenVerifier,
        state: TokenState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self._verifier = verifier
        self._state = state
        self._clock = clock
        self._headers: dict[tuple[str, str], dict[str, str]] = {}

    async def admit(self, token: str, portal: str, session: Session | None = None) -> Identity:
        """A token that may open `portal` now; raises the reason it may not."""
        claims = await self._verifier.verify(token)
        domains = self._state.domains_for(claims)
        try:
            await self._state.check(token, claims)
            if portal not in claims.portals:
                raise errors.PortalNotAllowed()
        except errors.ApiError as error:
            error.frame_domains = domains
            raise
        return Identity(claims, token, portal, domains, session)

    def session_of(self, request: web.BaseRequest, portal: str) -> Session | None:
        """This portal's session from the cookie; None when absent, foreign or not ours."""
        cookie = cookie_value(request.headers.get("Cookie"))
        if cookie is None:
            return None
        session = self.codec.open(cookie)
        if session is None or session.portal != portal:
            return None
        return session

    def identity_headers(self, identity: Identity) -> dict[str, str]:
        """What upstreams and forward-auth callers learn of the user, made once per token
        and portal (forward-auth answers with it on every request of a site)."""
        key = (identity.token, identity.portal)
        headers = self._headers.get(key)
        if headers is None:
            claims = identity.claims
            headers = {
                "X-Latchkey-User": header_safe(claims.sub),
                "X-Latchkey-User-Name": header_safe(claims.name),
                "X-Latchkey-Roles": header_safe(",".join(claims.roles)),
                "X-Latchkey-Portal": identity.portal,
                "Cache-Control": "no-store",
            }
            if len(self._headers) >= HEADER_CACHE_SIZE:
                del self._headers[next(iter(self._headers))]
            self._headers[key] = headers
        return headers

    async def identify(self, request: web.BaseRequest, portal: str) -> Identity | None:
        """The session's or the bearer token's identity; None when there is neither."""
        session = self.session_of(request, portal)
        if session is not None:
            if self._clock() >= session.expires_at:
                raise SessionExpired()
            return await self.admit(session.token, portal, session)
        if "Authorization" in request.headers:
            return await self.admit(bearer_token(request), portal)  # type: ignore[arg-type]
        return None
