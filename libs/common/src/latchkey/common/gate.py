"""Whether a verified token may be used now: the check that follows the signature check.

`Authenticator` verifies the signature (once per token string) and then asks a `TokenGate`
about revocation and disabling. The live token-state view is one gate; asking the registry's
introspection endpoint (RFC 7662), with a short cache, is another.
"""

import time
from typing import Any, Protocol

from latchkey.common import errors
from latchkey.common.tokens import Claims, TokenVerifier

REASONS: dict[str, type[errors.ApiError]] = {
    "token_revoked": errors.TokenRevoked,
    "token_disabled": errors.TokenDisabled,
    "token_expired": errors.TokenExpired,
}


def refusal(reason: str) -> errors.ApiError:
    """The error for an introspection `reason` (anything unknown is simply invalid)."""
    return REASONS.get(reason, errors.TokenInvalid)()


class Introspector(Protocol):
    async def introspect(self, token: str) -> dict[str, Any]: ...


class TokenGate(Protocol):
    async def check(self, token: str, claims: Claims) -> None:
        """Raise the reason the token may not be used now; return if it may."""


class IntrospectingGate:
    """Asks the registry about each token, remembering each answer for `ttl` seconds."""

    def __init__(
        self, registry: Introspector, *, ttl: float = 1.0, max_entries: int = 10_000
    ) -> None:
        self._registry = registry
        self._ttl = ttl
        self._max_entries = max_entries
        self._answers: dict[str, tuple[float, str | None]] = {}

    async def check(self, token: str, claims: Claims) -> None:
        now = time.monotonic()
        cached = self._answers.get(token)
        if cached is not None and now - cached[0] < self._ttl:
            reason = cached[1]
        else:
            answer = await self._registry.introspect(token)
            reason = None if answer.get("active") else str(answer.get("reason", "token_invalid"))
            if len(self._answers) >= self._max_entries:
                self._answers.clear()
            self._answers[token] = (now, reason)
        if reason is not None:
            raise refusal(reason)


class Authenticator:
    """Signature first (cached per token), then the gate."""

    def __init__(self, verifier: TokenVerifier, gate: TokenGate) -> None:
        self.verifier = verifier
        self.gate = gate

    async def authenticate(self, token: str) -> Claims:
        claims = await self.verifier.verify(token)
        await self.gate.check(token, claims)
        return claims
