"""Every call one Latchkey service makes to another, as models: the request it sends and the
answer it gets. The server declares its endpoint with them and the client's typed method uses
the same ones, so the two cannot drift apart and no call builds or reads a dict by hand.

Token-state events and the snapshot are in `latchkey.common.events`.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AliasChoices,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    model_validator,
)

from latchkey.common.domains import DomainList
from latchkey.common.models import ApiModel, RequestModel, UtcDatetime
from latchkey.common.text import (
    SINGLE_LINE,
    Description,
    Identifier,
    Name,
    Reason,
    ShortText,
)

LONGEST_TOKEN_LIFETIME = 366 * 86400
"""Seconds: no token lives longer (auth's lifetimes are bounded by it), so a revocation of a
jti no record names is kept this long."""

PortalName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")]
Portals = Annotated[list[PortalName], Field(max_length=20)]
REVEAL_SECRETS = {"reveal_secrets": True}
"""Serialisation context under which a `Password` is written out: only a service client
sending it on to the service that checks it does so."""


def _password_on_the_wire(value: SecretStr, info: SerializationInfo) -> str:
    if info.context == REVEAL_SECRETS:
        return value.get_secret_value()
    return str(value)


Password = Annotated[
    SecretStr,
    Field(min_length=1, max_length=1024),
    PlainSerializer(_password_on_the_wire, return_type=str, when_used="json"),
]


# --- users (auth) ---------------------------------------------------------------------------


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class User(ApiModel):
    """A user as every API shows it: never the password hash."""

    user_id: UUID = Field(
        validation_alias=AliasChoices("id", "userId"), serialization_alias="userId"
    )
    username: str
    display_name: str
    roles: list[Role]
    portals: list[str]
    disabled: bool
    password_changed_at: datetime
    created_at: datetime
    updated_at: datetime


class UserPage(ApiModel):
    items: list[User]
    next_after: str | None


class LoginRequest(RequestModel):
    """The login body existing clients send; unknown fields are ignored, as they always were."""

    model_config = {"extra": "ignore"}

    username: Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=200)]
    password: Password | None = None
    channel: ShortText = ""
    platform: ShortText = ""
    device_uid: Annotated[str, SINGLE_LINE, Field(max_length=200)] = ""
    captcha_uid: Annotated[str, SINGLE_LINE, Field(max_length=200)] | None = None
    captcha_code: ShortText | None = None
    password_hash: Annotated[str, Field(max_length=4096)] | None = None
    password_salt: Annotated[str, Field(max_length=4096)] | None = None


class LoginResult(ApiModel):
    access_token: str
    user: User


class PasswordCheck(RequestModel):
    """The registry asks auth whether an admin typed their own password (confirm access)."""

    password: Password


class PasswordChecked(ApiModel):
    verified: Literal[True] = True


class SignRequest(RequestModel):
    """The registry asks for an `access` token for a user (`POST /internal/v1/sign`)."""

    user_id: UUID
    portals: Portals | None = None
    allowed_domains: DomainList = Field(default_factory=list)
    expires_at: UtcDatetime | None = None


class SignedToken(ApiModel):
    access_token: str
    jti: UUID
    user_id: UUID
    username: str
    portals: list[str]
    roles: list[Role]
    allowed_domains: list[str]
    issued_at: datetime
    expires_at: datetime


# --- token records (the registry) -----------------------------------------------------------


class TokenKind(StrEnum):
    SESSION = "session"
    ACCESS = "access"
    UNKNOWN = "unknown"
    """A jti an admin revoked that no record named: the revocation itself is the record."""


class TokenStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DISABLED = "disabled"


class NewTokenRecord(RequestModel):
    """A token being issued, recorded before anyone sees it (`POST /internal/v1/tokens`)."""

    jti: UUID
    user_id: Identifier
    username: Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=200)]
    kind: TokenKind
    name: Name = ""
    description: Description = ""
    channel: ShortText = ""
    platform: ShortText = ""
    device: Annotated[str, SINGLE_LINE, Field(max_length=200)] = ""
    portals: Portals = Field(default_factory=list)
    allowed_domains: DomainList = Field(default_factory=list)
    created_by: Name = ""
    issued_at: UtcDatetime
    expires_at: UtcDatetime

    @model_validator(mode="after")
    def _expires_after_issue(self) -> "NewTokenRecord":
        if self.expires_at <= self.issued_at:
            raise ValueError("expiresAt must be later than issuedAt")
        return self


class TokenRecord(ApiModel):
    jti: UUID
    user_id: str
    username: str
    kind: TokenKind
    name: str
    description: str
    channel: str
    platform: str
    device: str
    portals: list[str]
    allowed_domains: list[str]
    created_by: str
    issued_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    status: TokenStatus
    disabled: bool
    disabled_at: datetime | None
    disabled_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


class TokenChange(TokenRecord):
    """A token after a change, with the sequence number of the event it caused (if any)."""

    event_seq: int | None


class ServiceRevoke(RequestModel):
    """A service revokes for someone: a user signing out, an admin changing a user."""

    reason: Reason = "logout"
    actor_id: Annotated[str, SINGLE_LINE, Field(max_length=128)] = ""
    actor_name: Name = ""


class UserRevocation(ApiModel):
    user_id: str
    not_before: datetime
    revoked_tokens: int
    seq: int


class DeepLinkUse(ApiModel):
    first_use: Literal[True] = True


class IntrospectRequest(RequestModel):
    token: Annotated[str, Field(min_length=1, max_length=8192)]
    token_type_hint: ShortText | None = Field(default=None, alias="token_type_hint")


class Introspection(ApiModel):
    """RFC 7662 §2.2: `active` always; the rest only for an active token."""

    active: bool
    reason: str | None = Field(default=None, description="Why it is inactive (our extension).")
    jti: UUID | None = None
    sub: str | None = None
    username: str | None = None
    token_type: Literal["Bearer"] | None = Field(default=None, alias="token_type")
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    portals: list[str] | None = None
    roles: list[str] | None = None
    domains: list[str] | None = Field(default=None, description="Effective allowed domains.")


class EventKey(ApiModel):
    """A public key the registry signs the events it publishes with (Ed25519, raw, base64url)."""

    kid: str
    public_key: str


class EventKeys(ApiModel):
    keys: list[EventKey]


class StateDigest(ApiModel):
    """A digest of every restriction in force as of `seq` on tokens that expire after `cutoff`
    (computed as every instance's view computes it), and of the global policy."""

    seq: int
    cutoff: int = Field(description="Unix seconds, a multiple of the view's bucket width.")
    digest: str
