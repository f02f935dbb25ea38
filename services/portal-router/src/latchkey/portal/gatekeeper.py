"""Who is asking: from a session cookie, a deep-link token or a bearer token, checked against
the signature cache and the live token-state view on every request."""

import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote

from aiohttp import web

from latchkey.common import errors
from latchkey.common.credentials import bearer_token
from latchkey.common.tokens import Claims, TokenVerifier
from latchkey.common.tokenstate.runtime import TokenState
from latchkey.portal.sessions import Session, SessionCodec, cookie_value

HEADER_CACHE_SIZE = 50_000

Stamp = tuple[int, int]
"""(token-state view version, verifier generation)."""


def header_safe(value: str) -> str:
    """Claim values as header values: printable ASCII kept, anything else percent-encoded."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="")


class SessionExpired(errors.TokenExpired):
    message = "Your session has expired; please sign in again."


class Identity(NamedTuple):
    """Who a request is from. A named tuple: made on every request, and cheaper to make
    than a frozen dataclass."""

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
        self._sessions = SessionDecisions(verifier, state, clock, size=codec.cache_size)

    async def admit(self, token: str, portal: str, session: Session | None = None) -> Identity:
        """A token that may open `portal` now; raises the reason it may not."""
        # The coroutines are awaited only off the hot path: a token not seen before, or a
        # view too stale to decide alone.
        claims = self._verifier.cached(token) or await self._verifier.verify(token)
        domains = self._state.domains_for(claims)
        try:
            if not self._state.check_live(claims):
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
        header = request.headers.get("Cookie")
        if header:
            identity = self._sessions.recall(header, portal)
            if identity is not None:
                return identity
            session = self.session_of(request, portal)
            if session is not None:
                if self._clock() >= session.expires_at:
                    raise SessionExpired()
                stamp = self._sessions.stamp()
                identity = await self.admit(session.token, portal, session)
                self._sessions.remember(header, identity, stamp)
                return identity
        if "Authorization" in request.headers:
            return await self.admit(bearer_token(request), portal)  # type: ignore[arg-type]
        return None


class SessionDecisions:
    """Sessions admitted lately, by their exact Cookie header and portal.

    A browser sends the same Cookie header on every request of a page, and forward-auth and
    the proxy answer each one: the decision made for the first holds, untouched, until the
    token-state view changes at all, a signing key is withdrawn, the view goes stale, or the
    session or its token expires. Each of those sends the next request through the full
    check again (`Gatekeeper.admit`), which refreshes the entry.
    """

    def __init__(
        self, verifier: TokenVerifier, state: TokenState, clock: Callable[[], float], size: int
    ) -> None:
        self._verifier = verifier
        self._state = state
        self._clock = clock
        self._size = size
        self._entries: dict[tuple[str, str], tuple[Identity, float, Stamp]] = {}

    def stamp(self) -> Stamp:
        """What a decision rests on besides the clock: the view's and the verifier's state."""
        return self._state.view.version, self._verifier.generation

    def recall(self, header: str, portal: str) -> Identity | None:
        entry = self._entries.get((header, portal))
        if entry is None:
            return None
        identity, until, stamp = entry
        if stamp != self.stamp() or self._clock() >= until or not self._state.live():
            return None
        self._state.receipts.used(identity.claims.jti)
        return identity

    def remember(self, header: str, identity: Identity, stamp: Stamp) -> None:
        """Keep a decision made against one unchanged state (`stamp`, taken before it was
        made) by a live view; anything else is decided afresh next time."""
        if self._size <= 0 or identity.session is None:
            return
        if stamp != self.stamp() or not self._state.live():
            return
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        until = min(identity.session.expires_at, identity.claims.exp)
        self._entries[(header, identity.portal)] = (identity, until, stamp)
