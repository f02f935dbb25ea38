"""What the registry's public APIs take and answer (camelCase on the wire); what it exchanges
with the other services is in `latchkey.common.contracts`."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from latchkey.common.contracts import (
    DeepLinkUse,
    EventKey,
    EventKeys,
    Introspection,
    IntrospectRequest,
    NewTokenRecord,
    Portals,
    ServiceRevoke,
    StateDigest,
    TokenChange,
    TokenKind,
    TokenRecord,
    TokenStatus,
    UserRevocation,
)
from latchkey.common.domains import DomainList
from latchkey.common.models import (
    BIGINT_MAX,
    ApiModel,
    RequestModel,
    UtcDatetime,
    omitted_not_null,
)
from latchkey.common.text import SINGLE_LINE, Description, Identifier, Name, Reason

__all__ = [
    "BIGINT_MAX",
    "DeepLinkUse",
    "EventKey",
    "EventKeys",
    "IntrospectRequest",
    "Introspection",
    "NewTokenRecord",
    "ServiceRevoke",
    "StateDigest",
    "TokenChange",
    "TokenKind",
    "TokenRecord",
    "TokenStatus",
    "UserRevocation",
]


class GenerateTokenRequest(RequestModel):
    """An admin asks for an `access` token for a user (`POST /api/v1/tokens`)."""

    user_id: UUID = Field(description="The user's id in auth.")
    name: Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=200)]
    description: Description = ""
    expires_at: UtcDatetime | None = None
    portals: Portals | None = None
    allowed_domains: DomainList = Field(default_factory=list)


class GeneratedToken(ApiModel):
    """The token string, shown this once, beside its record."""

    access_token: str
    token: TokenRecord
    framing: str | None = Field(
        default=None,
        description="What the token means for framing: set when no other site may frame the "
        "portals it opens (it has no allowed domains and the global policy names none).",
    )


class TokenListQuery(RequestModel):
    user_id: Identifier | None = None
    username: Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=200)] | None = None
    kind: TokenKind | None = None
    status: TokenStatus | None = None
    q: Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Name contains."
    )
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: Annotated[str, SINGLE_LINE, Field(max_length=200)] | None = None


class TokenPage(ApiModel):
    items: list[TokenRecord]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class TokenPatch(RequestModel):
    name: Name | None = Field(default=None, json_schema_extra=omitted_not_null)
    description: Description | None = Field(default=None, json_schema_extra=omitted_not_null)
    allowed_domains: DomainList | None = Field(default=None, json_schema_extra=omitted_not_null)
    disabled: bool | None = Field(default=None, json_schema_extra=omitted_not_null)

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
    reason: Reason


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
        default=None, ge=1, le=BIGINT_MAX, description="Entries older than this id."
    )
    target: Annotated[str, SINGLE_LINE, Field(max_length=200)] | None = None


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


class EventsQuery(RequestModel):
    after: int = Field(ge=0, le=BIGINT_MAX)
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
    caught_up: bool = Field(
        default=False,
        description="It took the change by catching up (a snapshot loaded after a start or a "
        "restart), not as the change itself: `appliedAt` is when it caught up.",
    )


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
