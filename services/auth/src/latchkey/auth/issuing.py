"""Issuing tokens: claims as DESIGN.md lists them, signed, and recorded before anyone sees them."""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from latchkey.auth.models import SignedToken, SignRequest, User
from latchkey.auth.signing import KeyStore
from latchkey.common import errors
from latchkey.common.contracts import NewTokenRecord, TokenKind
from latchkey.common.registry_client import RegistryClient, RegistryError, RegistryUnavailable


class RecordingFailed(errors.ServiceUnavailable):
    reason = "registry_unavailable"
    message = "The sign-in could not be completed right now; try again shortly."


class PortalsNotAllowed(errors.ValidationFailed):
    message = "A token can only open portals its user may open."


class ExpiryTooLate(errors.ValidationFailed):
    message = "The expiry is later than generated tokens may last."


@dataclass(frozen=True)
class Issuer:
    keys: KeyStore
    registry: RegistryClient
    issuer: str
    audience: str
    session_lifetime: int
    access_lifetime: int
    access_max_lifetime: int

    def claims(
        self,
        user: User,
        *,
        portals: list[str],
        domains: list[str],
        issued_at: int,
        expires_at: int,
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user.user_id),
            "jti": str(uuid.uuid4()),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "name": user.username,
            "portals": portals,
            "roles": [role.value for role in user.roles],
        }
        if domains:
            claims["domains"] = domains
        return claims

    async def issue_session(self, user: User, *, channel: str, platform: str, device: str) -> str:
        """A login token, recorded in the registry first: unrecorded, it is never returned."""
        now = int(time.time())
        claims = self.claims(
            user,
            portals=user.portals,
            domains=[],
            issued_at=now,
            expires_at=now + self.session_lifetime,
        )
        token = self.keys.sign(claims)
        record = NewTokenRecord(
            jti=claims["jti"],
            user_id=claims["sub"],
            username=user.username,
            kind=TokenKind.SESSION,
            name=f"Sign-in ({'/'.join(part for part in (channel, platform) if part) or 'API'})",
            channel=channel,
            platform=platform,
            device=device,
            portals=user.portals,
            issued_at=datetime.fromtimestamp(now, UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
        try:
            await self.registry.record_token(record)
        except (RegistryUnavailable, RegistryError) as exc:
            raise RecordingFailed() from exc
        return token

    def sign_access(self, user: User, request: SignRequest) -> SignedToken:
        """An access token for the registry to record (it never leaves unrecorded)."""
        portals = request.portals if request.portals is not None else user.portals
        if not set(portals) <= set(user.portals):
            extra = sorted(set(portals) - set(user.portals))
            raise PortalsNotAllowed(data=[{"field": "portals", "message": f"not allowed: {extra}"}])
        now = int(time.time())
        if request.expires_at is None:
            expires_at = now + self.access_lifetime
        else:
            expires_at = int(request.expires_at.timestamp())
            if expires_at > now + self.access_max_lifetime:
                raise ExpiryTooLate(
                    data=[
                        {"field": "expiresAt", "message": f"at most {self.access_max_lifetime} s"}
                    ]
                )
            if expires_at <= now:
                raise errors.ValidationFailed(
                    data=[{"field": "expiresAt", "message": "must be in the future"}]
                )
        claims = self.claims(
            user,
            portals=portals,
            domains=request.allowed_domains,
            issued_at=now,
            expires_at=expires_at,
        )
        return SignedToken(
            access_token=self.keys.sign(claims),
            jti=claims["jti"],
            user_id=user.user_id,
            username=user.username,
            portals=portals,
            roles=user.roles,
            allowed_domains=request.allowed_domains,
            issued_at=datetime.fromtimestamp(now, UTC),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
