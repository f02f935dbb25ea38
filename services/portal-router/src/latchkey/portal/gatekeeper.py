"""Who is asking: from a session cookie, a deep-link token or a bearer token, admitted by the
one admission path (`latchkey.common.admission`) on every request, with the decisions for a
session's Cookie header reused until anything they rest on changes."""

import time
from collections.abc import Callable
from urllib.parse import quote

from multidict import CIMultiDict

from latchkey.common import errors
from latchkey.common.admission import Admission
from latchkey.common.bounded import BoundedDict
from latchkey.common.credentials import bearer_of
from latchkey.common.tokenstate.runtime import TokenState
from latchkey.common.verification import TokenVerifier
from latchkey.portal.admission import Identity, Refused
from latchkey.portal.sessions import Session, SessionCodec, cookie_value

HEADER_CACHE_SIZE = 50_000
IDENTITY_HEADERS = (
    "X-Latchkey-User",
    "X-Latchkey-User-Name",
    "X-Latchkey-Roles",
    "X-Latchkey-Portal",
)

Stamp = tuple[int, int]
"""(token-state view version, verifier generation)."""


def header_safe(value: str) -> str:
    """Claim values as header values: printable ASCII kept, anything else percent-encoded."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="")


class SessionExpired(errors.TokenExpired):
    message = "Your session has expired; please sign in again."


class Gatekeeper:
    def __init__(
        self,
        *,
        codec: SessionCodec,
        admission: Admission,
        state: TokenState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self._admission = admission
        self._verifier: TokenVerifier = admission.verifier
        self._state = state
        self._clock = clock
        self._sessions = SessionDecisions(self._verifier, state, clock, size=codec.cache_size)

    async def admit(
        self, token: str, portal: str | None, session: Session | None = None
    ) -> Identity:
        """A token that may open `portal` (any, for None) now; raises `Refused` with the
        reason it may not."""
        # The coroutines are awaited only off the hot path: a token not seen before, or a
        # view too stale to decide alone.
        try:
            claims = self._verifier.cached(token) or await self._verifier.verify(token)
        except errors.ApiError as error:
            raise Refused(error, end_session=session is not None) from None
        domains = self._state.domains_for(claims)
        try:
            if self._admission.admit_now(token, portal) is None:
                await self._admission.admit(token, portal=portal)
        except errors.ApiError as error:
            raise Refused(error, frame_domains=domains, end_session=session is not None) from None
        return Identity(claims, token, portal or "", domains, session)

    def session_of(self, cookie_header: str | None, portal: str) -> Session | None:
        """This portal's session from the cookie; None when absent, foreign or not ours."""
        cookie = cookie_value(cookie_header)
        if cookie is None:
            return None
        session = self.codec.open(cookie)
        if session is None or session.portal != portal:
            return None
        return session

    async def identify(
        self, portal: str, *, cookie_header: str | None, authorization: str | None
    ) -> Identity | None:
        """The session's or the bearer token's identity; None when there is neither."""
        if cookie_header:
            identity = self._sessions.recall(cookie_header, portal)
            if identity is not None:
                return identity
            session = self.session_of(cookie_header, portal)
            if session is not None:
                if self._clock() >= session.expires_at:
                    raise Refused(SessionExpired(), end_session=True)
                stamp = self._sessions.stamp()
                identity = await self.admit(session.token, portal, session)
                self._sessions.remember(cookie_header, identity, stamp)
                return identity
        if authorization is not None:
            return await self.bearer(authorization, portal)
        return None

    async def bearer(self, authorization: str | None, portal: str | None) -> Identity:
        """The identity of an `Authorization: Bearer` token (401 without one)."""
        try:
            token = bearer_of(authorization)
        except errors.ApiError as error:
            raise Refused(error) from None
        return await self.admit(token, portal)

    async def api_caller(self, authorization: str | None, portals: list[str]) -> Identity:
        """The caller of an API route: a bearer token that opens one of `portals` (any valid
        token when the route names none); its identity names the portal it came through."""
        identity = await self.bearer(authorization, None)
        opened = identity.claims.portals
        through = next((p for p in opened if p in portals), None) if portals else None
        if portals and through is None:
            raise Refused(errors.PortalNotAllowed("This access token does not open this API."))
        return identity._replace(portal=through or (opened[0] if opened else ""))


class IdentityHeaders:
    """What upstreams and forward-auth callers learn of the user, made once per token and
    portal (forward-auth answers with it on every request of a site)."""

    def __init__(self, size: int = HEADER_CACHE_SIZE) -> None:
        self._made: BoundedDict[tuple[str, str], dict[str, str]] = BoundedDict(size)
        self._for_route: BoundedDict[tuple[str, str, str, bool], tuple[tuple[str, str], ...]]
        self._for_route = BoundedDict(size)
        self._answers: BoundedDict[tuple[str, str], CIMultiDict[str]] = BoundedDict(size)

    def forward_auth_answer(self, identity: Identity) -> CIMultiDict[str]:
        """Forward-auth's answer headers (the identity, `Cache-Control: no-store`), made once
        per token and portal; each answer copies them (aiohttp's Response does)."""
        key = (identity.token, identity.portal)
        headers = self._answers.get(key)
        if headers is None:
            headers = CIMultiDict(self.of(identity))
            headers["Cache-Control"] = "no-store"
            self._answers.remember(key, headers)
        return headers

    def for_route(
        self, identity: Identity, prefix: str, *, pass_token: bool
    ) -> tuple[tuple[str, str], ...]:
        """The headers an upstream under `prefix` gets that do not change from one request of
        the session to the next: the identity, the route's prefix, the bearer token where the
        route asks for it. Made once per token, portal and route."""
        key = (identity.token, identity.portal, prefix, pass_token)
        made = self._for_route.get(key)
        if made is None:
            pairs = [*self.of(identity).items(), ("X-Forwarded-Prefix", prefix)]
            if pass_token:
                pairs.append(("Authorization", f"Bearer {identity.token}"))
            made = tuple(pairs)
            self._for_route.remember(key, made)
        return made

    def of(self, identity: Identity) -> dict[str, str]:
        key = (identity.token, identity.portal)
        headers = self._made.get(key)
        if headers is None:
            claims = identity.claims
            headers = dict(
                zip(
                    IDENTITY_HEADERS,
                    (
                        header_safe(claims.sub),
                        header_safe(claims.name),
                        header_safe(",".join(claims.roles)),
                        identity.portal,
                    ),
                    strict=True,
                )
            )
            self._made.remember(key, headers)
        return headers


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
        self._entries: BoundedDict[tuple[str, str], tuple[Identity, float, Stamp]] = BoundedDict(
            size
        )

    def stamp(self) -> Stamp:
        """What a decision rests on besides the clock: the view's and the verifier's state."""
        return self._state.view.version, self._verifier.generation

    def recall(self, header: str, portal: str) -> Identity | None:
        entry = self._entries.get((header, portal))
        if entry is None:
            return None
        identity, until, (version, generation) = entry
        if (
            version != self._state.view.version
            or generation != self._verifier.generation
            or self._clock() >= until
            or not self._state.live()
        ):
            return None
        self._state.receipts.used(identity.claims.jti)
        return identity

    def remember(self, header: str, identity: Identity, stamp: Stamp) -> None:
        """Keep a decision made against one unchanged state (`stamp`, taken before it was
        made) by a live view; anything else is decided afresh next time."""
        if identity.session is None or stamp != self.stamp() or not self._state.live():
            return
        until = min(identity.session.expires_at, identity.claims.exp)
        self._entries.remember((header, identity.portal), (identity, until, stamp))
