"""Whether a token may be used now: the one admission path of every service.

A token is admitted when its signature verifies (checked once per exact token string), it has
not expired and is valid already, it is not revoked, its user's tokens issued before it were
not all revoked (the subject's not-before), it is not disabled, it was recorded (where that is
known), and it opens the portal asked for. The facts beyond the signature come from a
`FactSource`: the live token-state view of the instance (or, while the view is stale, the
registry's answer, or a refusal), or, in the registry, its own records. The rule that turns
facts into a refusal is `refusal`, and nothing else decides.
"""

from typing import NamedTuple, Protocol

from latchkey.common import errors
from latchkey.common.verification import Claims, TokenVerifier


class TokenFacts(NamedTuple):
    """What is known of a token beyond its signature."""

    revoked: bool = False
    disabled: bool = False
    subject_not_before: int | None = None
    """Whole seconds: the user's tokens issued before this are revoked."""
    recorded: bool = True
    """False when the registry has no record of it (or one for another user)."""


CLEAR = TokenFacts()


def issued_before(issued_at: float, not_before: int | None) -> bool:
    """The subject rule: a token issued before its user's not-before is revoked. `iat` is whole
    seconds, so the not-before is floored: a token of the same second is kept, and the
    revocation catches those by their recorded jti instead."""
    return not_before is not None and issued_at < not_before


def refusal(
    claims: Claims, facts: TokenFacts, *, allow_disabled: bool = False
) -> errors.ApiError | None:
    """Why a verified, unexpired token may not be used, or None when it may."""
    if not facts.recorded:
        return errors.TokenInvalid("This access token was never recorded.")
    if facts.revoked or issued_before(claims.iat, facts.subject_not_before):
        return errors.TokenRevoked()
    if facts.disabled and not allow_disabled:
        return errors.TokenDisabled()
    return None


class FactSource(Protocol):
    def facts_now(self, claims: Claims) -> TokenFacts | None:
        """The facts without waiting (the hot path), or None when they need `facts`."""

    async def facts(self, token: str, claims: Claims) -> TokenFacts:
        """The facts, asking whoever knows them; raises when nobody can say now."""

    def admitted(self, claims: Claims) -> None:
        """The token was admitted (its "last used" moves on)."""


class Admission:
    """Signature (cached per token string), time claims, facts, the rule, the portal."""

    def __init__(self, verifier: TokenVerifier, facts: FactSource) -> None:
        self.verifier = verifier
        self.facts = facts

    def admit_now(self, token: str, portal: str | None = None) -> Claims | None:
        """`admit` without a coroutine, for a token already verified and a source that knows
        the facts now; None when `admit` must decide. Raises the refusal like `admit`."""
        claims = self.verifier.cached(token)
        if claims is None:
            return None
        facts = self.facts.facts_now(claims)
        if facts is None:
            return None
        decide(claims, facts, portal)
        self.facts.admitted(claims)
        return claims

    async def admit(
        self, token: str, *, portal: str | None = None, allow_disabled: bool = False
    ) -> Claims:
        """The claims of a token that may be used now (for `portal`, when one is named);
        raises the reason it may not. `allow_disabled` is for taking rights away only (its
        holder may still sign a disabled token out)."""
        claims = await self.verifier.verify(token)
        facts = self.facts.facts_now(claims)
        if facts is None:
            facts = await self.facts.facts(token, claims)
        decide(claims, facts, portal, allow_disabled=allow_disabled)
        self.facts.admitted(claims)
        return claims


def decide(
    claims: Claims, facts: TokenFacts, portal: str | None, *, allow_disabled: bool = False
) -> None:
    if facts is not CLEAR:
        error = refusal(claims, facts, allow_disabled=allow_disabled)
        if error is not None:
            raise error
    if portal is not None and portal not in claims.portals:
        raise errors.PortalNotAllowed()
