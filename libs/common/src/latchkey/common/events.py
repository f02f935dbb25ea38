"""Token-state events on the fanout exchange, and the snapshot they extend (version 1).

The registry writes each change with a sequence number that follows commit order; every
instance applies them in that order. Adding a field or an event type keeps version 1; a
change that older consumers would misread gets a new version.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BeforeValidator, Field, TypeAdapter

from latchkey.common.models import BIGINT_MAX, ApiModel, UtcDatetime
from latchkey.common.packed import PackedRefs
from latchkey.common.text import SINGLE_LINE


class _Event(ApiModel):
    v: Literal[1] = 1
    seq: int = Field(ge=1, description="Position in the registry's commit order.")
    at: datetime


class TokenRevoked(_Event):
    type: Literal["token.revoked"] = "token.revoked"
    jti: UUID
    expires_at: datetime


class TokenDisabled(_Event):
    type: Literal["token.disabled"] = "token.disabled"
    jti: UUID
    expires_at: datetime


class TokenEnabled(_Event):
    type: Literal["token.enabled"] = "token.enabled"
    jti: UUID
    expires_at: datetime


class TokenDomainsChanged(_Event):
    type: Literal["token.domains_changed"] = "token.domains_changed"
    jti: UUID
    domains: list[str] = Field(description="Empty: the global policy applies again.")
    expires_at: datetime


class TokenRef(ApiModel):
    jti: UUID
    expires_at: datetime


class UserRevoked(_Event):
    """Every token of a user issued before `not_before` is revoked.

    `tokens` lists the recorded ones (exact even within the same second as the revocation);
    `not_before` also catches tokens signed but still on their way to being recorded.
    """

    type: Literal["user.revoked"] = "user.revoked"
    user_id: str
    not_before: datetime
    expires_at: datetime = Field(description="After this no token it could affect is alive.")
    tokens: list[TokenRef]


class DomainPolicyChanged(_Event):
    type: Literal["policy.changed"] = "policy.changed"
    domains: list[str]


TokenEvent = Annotated[
    TokenRevoked
    | TokenDisabled
    | TokenEnabled
    | TokenDomainsChanged
    | UserRevoked
    | DomainPolicyChanged,
    Field(discriminator="type"),
]


class Heartbeat(ApiModel):
    """Sent by the relay every second: the latest sequence number the registry has committed,
    and when it said so (on its clock: instances measure their staleness by it)."""

    v: Literal[1] = 1
    type: Literal["heartbeat"] = "heartbeat"
    seq: int = Field(ge=0)
    at: datetime


token_event_adapter: TypeAdapter[TokenEvent] = TypeAdapter(TokenEvent)


class TokenDomains(ApiModel):
    jti: UUID
    domains: list[str]
    expires_at: datetime


class SubjectRevocation(ApiModel):
    user_id: str
    not_before: datetime
    expires_at: datetime


class UnknownEvent(ApiModel):
    """An event of a type this version cannot read: only its place in the sequence is known,
    and the registry is asked what it means (by a snapshot)."""

    seq: int = Field(ge=1)
    type: str


KNOWN_TYPES = frozenset(
    model.model_fields["type"].default
    for model in (
        TokenRevoked,
        TokenDisabled,
        TokenEnabled,
        TokenDomainsChanged,
        UserRevoked,
        DomainPolicyChanged,
    )
)


def parse_event(payload: Any) -> TokenEvent | UnknownEvent:
    """A known event, or its sequence number when the type is newer than this code (an
    event of a known type that does not validate is an error, never "unknown")."""
    if isinstance(payload, dict) and payload.get("type") not in KNOWN_TYPES:
        return UnknownEvent.model_validate(payload, from_attributes=False)
    return token_event_adapter.validate_python(payload)


def _known_or_unknown(payload: Any) -> Any:
    if isinstance(payload, dict) and payload.get("type") not in KNOWN_TYPES:
        return UnknownEvent.model_validate(payload)
    return payload


class TokenStateSnapshot(ApiModel):
    """Every restriction on an unexpired token, as of sequence number `seq` (read at `at`,
    on the registry's clock). Revoked and disabled tokens, of which there may be millions,
    are packed (`latchkey.common.packed`); the rest are few.

    Version 2: version 1 listed revoked and disabled tokens as objects."""

    v: Literal[2] = 2
    seq: int = Field(ge=0)
    at: datetime | None = None
    revoked: PackedRefs
    disabled: PackedRefs = Field(description="Disabled and not revoked.")
    domains: list[TokenDomains]
    subjects: list[SubjectRevocation]
    policy_domains: list[str]


class EventPage(ApiModel):
    """Events after a sequence number, in order; `latest` is the newest committed, as of `at`
    (the registry's clock). An event of a type newer than this code is kept by its number."""

    events: list[Annotated[TokenEvent | UnknownEvent, BeforeValidator(_known_or_unknown)]]
    latest: int
    at: datetime | None = None


# What an instance reports is checked as strictly as what a client sends: the registry stores
# it (PostgreSQL refuses NUL and integers past bigint) and computes with its dates.


class AppliedEvent(ApiModel):
    seq: int = Field(ge=0, le=BIGINT_MAX, description="0: the empty snapshot a view starts from.")
    applied_at: UtcDatetime
    caught_up: bool = False
    """Reached by loading a snapshot (at a start or a reload), not by applying the event."""


class TokenUse(ApiModel):
    jti: UUID
    at: UtcDatetime


Mode = Literal["live", "introspect", "deny", "starting"]
ServiceName = Literal["auth", "portal-router", "token-registry"]
"""The names instances report under."""


class InstanceReport(ApiModel):
    """What each instance tells the registry about once a second: its delivery receipt."""

    instance_id: Annotated[str, SINGLE_LINE, Field(min_length=1, max_length=200)]
    service: ServiceName
    applied_seq: int = Field(ge=0, le=BIGINT_MAX)
    started_at: UtcDatetime
    mode: Mode
    applied: list[AppliedEvent] = Field(default_factory=list, max_length=1000)
    used: list[TokenUse] = Field(default_factory=list, max_length=10_000)
