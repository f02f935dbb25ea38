"""The JWT verification core: keys from the issuer's JWKS, a bounded cache of verified tokens.

The signature is checked once per token string per process (RFC 7515 §5.2); every later use
of the same string checks only the time claims, which is what keeps a signed-in request
cheap. Only tokens that passed verification enter the cache, so a forged token never hits it.
Algorithms come from configuration and from the key itself, never from the token header
(RFC 8725 §3.1); issuer, audience, expiry and not-before are always checked (RFC 7519 §4.1).
"""

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol
from uuid import UUID

import aiohttp
import jwt
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from latchkey.common import errors
from latchkey.common.bounded import BoundedDict
from latchkey.common.lifecycle import CleanupContext, background
from latchkey.common.models import Actor
from latchkey.common.settings import CommonSettings

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 8192
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
"""RFC 7515 §7.1: three base64url parts without padding, nothing else (RFC 7515 §2)."""
REQUIRED_CLAIMS = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp"]
JWKS_PATH = "/.well-known/jwks.json"


class KeysUnavailable(errors.ServiceUnavailable):
    reason = "keys_unavailable"
    message = "The token signing keys cannot be fetched right now; try again shortly."


class Claims(BaseModel):
    """The verified claims of a Latchkey token (DESIGN.md, Tokens)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str
    aud: str | list[str]
    sub: str = Field(min_length=1, max_length=128)
    jti: UUID
    iat: float
    nbf: float
    exp: float
    name: str = ""
    portals: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    domains: tuple[str, ...] | None = None
    kid: str = ""
    """Not a claim: the header's key id, kept to forget tokens of a withdrawn key."""

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def actor(self) -> Actor:
        """The person behind the token, as audit records and receipts name them."""
        return Actor(id=self.sub, name=self.name or self.sub)


class KeySource(Protocol):
    """Where verification keys come from (a JWKS URL, or auth's own key store)."""

    async def key(self, kid: str) -> jwt.PyJWK: ...


def _algorithm_of(jwk: dict[str, Any]) -> str | None:
    if "alg" in jwk:
        return str(jwk["alg"])
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    return None


def parse_jwks(document: dict[str, Any], algorithms: Iterable[str]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS (RFC 7517 §5) whose algorithm is one we accept."""
    allowed = set(algorithms)
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or not entry.get("kid") or entry.get("use", "sig") != "sig":
            continue
        algorithm = _algorithm_of(entry)
        if algorithm not in allowed:
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK(entry, algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError):
            log.warning("ignoring an unusable key in the JWKS (kid %s)", entry.get("kid"))
    return keys


class JwksKeySource:
    """Keys fetched from a JWKS URL: refreshed routinely, and at once for an unknown `kid`
    (at most once per `min_fetch_interval`, so forged key ids cannot flood the issuer)."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        session: aiohttp.ClientSession,
        refresh_interval: float = 300.0,
        min_fetch_interval: float = 1.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._url = url
        self._algorithms = tuple(algorithms)
        self._session = session
        self._refresh_interval = refresh_interval
        self._min_fetch_interval = min_fetch_interval
        self._on_change = on_change
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._generation = 0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        found = self._keys.get(kid)
        stale = time.monotonic() - self._fetched_at > self._refresh_interval
        if found is not None and not stale:
            return found
        await self._refresh(force=found is None)
        found = self._keys.get(kid)
        if found is None:
            if not self._keys:
                # No key fetched yet (a fetch this caller waited on failed): that says
                # nothing of the token, so it is not called invalid.
                raise KeysUnavailable()
            raise errors.TokenInvalid("The access token is signed with an unknown key.")
        return found

    async def _refresh(self, *, force: bool) -> None:
        seen = self._generation
        async with self._lock:
            if self._generation != seen:
                return  # a fetch finished while we waited for the lock: as fresh as it gets
            since = time.monotonic() - self._fetched_at
            if not force and since < self._refresh_interval:
                return
            if since < self._min_fetch_interval:
                # An unknown kid right after a fetch: wait out the interval rather than fail,
                # so a real rotation is picked up and forged kids cost one fetch per interval.
                await asyncio.sleep(self._min_fetch_interval - since)
            await self._fetch()

    async def refresh(self) -> None:
        """The routine refresh (a withdrawn key is noticed even while every token in use is
        cached); never raises."""
        with contextlib.suppress(errors.ApiError):
            await self._refresh(force=False)

    async def _fetch(self) -> None:
        try:
            await self._fetch_once()
        finally:
            # Counted when a fetch ends, not when it starts: a caller that arrived while it
            # was under way then finds it done, instead of fetching (and waiting) again.
            self._generation += 1

    async def _fetch_once(self) -> None:
        try:
            async with self._session.get(
                self._url, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._fetched_at = time.monotonic()
            log.warning("could not fetch the JWKS from %s: %s", self._url, type(exc).__name__)
            if not self._keys:
                raise KeysUnavailable() from None
            return
        keys = parse_jwks(document if isinstance(document, dict) else {}, self._algorithms)
        self._fetched_at = time.monotonic()
        withdrawn = self._keys.keys() - keys.keys()
        self._keys = keys
        if withdrawn and self._on_change is not None:
            self._on_change()


class TokenVerifier:
    """Verifies a token string into `Claims`, caching the result per exact string."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        clock_skew: float = 5.0,
        cache_size: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock_skew = clock_skew
        self._clock = clock
        self._cache: BoundedDict[str, Claims] = BoundedDict(cache_size)
        self.generation = 0
        """Bumped when verifications are forgotten, so caches built on them know."""

    @classmethod
    def configured(cls, keys: KeySource, settings: CommonSettings) -> "TokenVerifier":
        """A verifier with the issuer, audience, skew and cache the settings give."""
        return cls(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            clock_skew=settings.jwt_clock_skew,
            cache_size=settings.token_cache_size,
        )

    def forget_all(self) -> None:
        """Drop every cached verification (a signing key was withdrawn)."""
        self._cache.clear()
        self.generation += 1

    def cached(self, token: str) -> Claims | None:
        """The claims of an already verified token, time claims checked; None if not cached.
        The hot path: no coroutine."""
        claims = self._cache.get(token)
        if claims is not None:
            self.check_times(claims)
        return claims

    async def verify(self, token: str) -> Claims:
        claims = self.cached(token)
        if claims is None:
            claims = await self._verify_signature(token)
            self.check_times(claims)
            self._cache.remember(token, claims)
        return claims

    def check_times(self, claims: Claims) -> None:
        now = self._clock()
        if now >= claims.exp:
            raise errors.TokenExpired()
        if claims.nbf > now + self._clock_skew or claims.iat > now + self._clock_skew:
            raise errors.TokenInvalid("The access token is not valid yet.")

    async def _verify_signature(self, token: str) -> Claims:
        if len(token) > MAX_TOKEN_LENGTH or not COMPACT_JWS.fullmatch(token):
            raise errors.TokenInvalid()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise errors.TokenInvalid() from None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise errors.TokenInvalid()
        key = await self._keys.key(kid)
        try:
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_exp": False,  # checked by check_times, on cache hits too
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
            return Claims.model_validate({**payload, "kid": kid})
        except (jwt.PyJWTError, ValidationError):
            raise errors.TokenInvalid() from None


VERIFIER = web.AppKey("verifier", TokenVerifier)


def verifier_context(settings: CommonSettings, auth_url: str) -> CleanupContext:
    """A cleanup context storing a verifier of tokens signed by the keys auth publishes at
    `auth_url`, refreshed every `jwks_refresh_interval` (a withdrawn key stops verifying
    even the tokens already cached)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            verifier: TokenVerifier
            keys = JwksKeySource(
                auth_url + JWKS_PATH,
                algorithms=settings.jwt_algorithms,
                session=session,
                refresh_interval=settings.jwks_refresh_interval,
                min_fetch_interval=settings.jwks_min_fetch_interval,
                on_change=lambda: verifier.forget_all(),
            )
            verifier = TokenVerifier.configured(keys, settings)
            app[VERIFIER] = verifier
            async with background(
                _every(settings.jwks_refresh_interval, keys.refresh), name="jwks-refresh"
            ):
                yield

    return context


async def _every(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        await work()
