"""What the registry's APIs take and answer (camelCase on the wire)."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from latchkey.common.domains import DomainList
from latchkey.common.models import ApiModel, RequestModel, UtcDatetime

Text = Field(default="", max_length=200)
Portal = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")


class TokenKind(StrEnum):
    SESSION = "session"
    ACCESS = "access"


class TokenStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DISABLED = "disabled"


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


class NewTokenRecord(RequestModel):
    """What auth sends when it issues a token (`POST /internal/v1/tokens`)."""

    jti: UUID
    user_id: str = Field(min_length=1, max_length=128)
    username: str = Field(min_length=1, max_length=200)
    kind: TokenKind
    name: str = Text
    description: str = Field(default="", max_length=2000)
    channel: str = Field(default="", max_length=64)
    platform: str = Field(default="", max_length=64)
    device: str = Field(default="", max_length=200)
    portals: list[str] = Field(default_factory=list, max_length=20)
    allowed_domains: DomainList = Field(default_factory=list)
    created_by: str = Field(default="", max_length=200)
    issued_at: UtcDatetime
    expires_at: UtcDatetime

    @model_validator(mode="after")
    def _expires_after_issue(self) -> "NewTokenRecord":
        if self.expires_at <= self.issued_at:
            raise ValueError("expiresAt must be later than issuedAt")
        return self


class GenerateTokenRequest(RequestModel):
    """An admin asks for an `access` token for a user (`POST /api/v1/tokens`)."""

    user_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    expires_at: UtcDatetime | None = None
    portals: list[str] | None = Field(default=None, max_length=20)
    allowed_domains: DomainList = Field(default_factory=list)


class GeneratedToken(ApiModel):
    """The token string, shown this once, beside its record."""

    access_token: str
    token: TokenRecord


class TokenListQuery(RequestModel):
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    username: str | None = Field(default=None, min_length=1, max_length=200)
    kind: TokenKind | None = None
    status: TokenStatus | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200, description="Name contains.")
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=200)


class TokenPage(ApiModel):
    items: list[TokenRecord]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class TokenPatch(RequestModel):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    allowed_domains: DomainList | None = None
    disabled: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> "TokenPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, allowedDomains, disabled")
        nulls = [to_camel(name) for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(
                f"{', '.join(sorted(nulls))} cannot be null; leave a field out to keep it"
            )
        return self


class RevokeRequest(RequestModel):
    reason: str = Field(min_length=1, max_length=500)


class InternalRevokeRequest(RequestModel):
    reason: str = Field(default="logout", min_length=1, max_length=500)
    actor_id: str = Field(default="", max_length=128)
    actor_name: str = Field(default="", max_length=200)


class UserRevocation(ApiModel):
    user_id: str
    not_before: datetime
    revoked_tokens: int
    seq: int


class DomainPolicy(ApiModel):
    domains: list[str]
    updated_at: datetime
    updated_by: str


class DomainPolicyChange(DomainPolicy):
    event_seq: int


class DomainPolicyUpdate(RequestModel):
    domains: DomainList


class AuditQuery(RequestModel):
    limit: int = Field(default=50, ge=1, le=500)
    before: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Entries older than this id."
    )
    target: str | None = Field(default=None, max_length=200)


class AuditEntry(ApiModel):
    id: int
    at: datetime
    actor_id: str
    actor_name: str
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(ApiModel):
    items: list[AuditEntry]
    next_before: int | None


class IntrospectRequest(RequestModel):
    token: str = Field(min_length=1, max_length=8192)
    token_type_hint: str | None = Field(default=None, alias="token_type_hint")


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


class EventsQuery(RequestModel):
    after: int = Field(ge=0)
    limit: int = Field(default=1000, ge=1, le=10_000)


class Instance(ApiModel):
    instance_id: str
    service: str
    applied_seq: int
    lag: int = Field(description="Changes committed that this instance has not applied yet.")
    mode: str
    started_at: datetime
    reported_at: datetime


class InstanceDelivery(ApiModel):
    instance_id: str
    service: str
    applied: bool
    applied_at: datetime | None
    latency_ms: float | None = Field(description="From the change's commit to its application.")


class DeliveryReceipt(ApiModel):
    """Which live instances have applied a change, and how long each took."""

    seq: int
    type: str
    at: datetime
    instances: int
    applied: int
    complete: bool
    pending: list[str]
    deliveries: list[InstanceDelivery]
