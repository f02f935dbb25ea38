"""Token-state events on the fanout exchange, and the snapshot they extend (version 1).

The registry writes each change with a sequence number that follows commit order; every
instance applies them in that order. Adding a field or an event type keeps version 1; a
change that older consumers would misread gets a new version.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter, ValidationError

from latchkey.common.models import ApiModel

EVENTS_VERSION = 1


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
    """Sent by the relay every second: the latest sequence number the registry has committed."""

    v: Literal[1] = 1
    type: Literal["heartbeat"] = "heartbeat"
    seq: int = Field(ge=0)
    at: datetime


BrokerMessage = Annotated[TokenEvent | Heartbeat, Field(discriminator="type")]

token_event_adapter: TypeAdapter[TokenEvent] = TypeAdapter(TokenEvent)
broker_message_adapter: TypeAdapter[BrokerMessage] = TypeAdapter(BrokerMessage)


class TokenDomains(ApiModel):
    jti: UUID
    domains: list[str]
    expires_at: datetime


class SubjectRevocation(ApiModel):
    user_id: str
    not_before: datetime
    expires_at: datetime


class TokenStateSnapshot(ApiModel):
    """Every restriction on an unexpired token, as of sequence number `seq`."""

    seq: int = Field(ge=0)
    revoked: list[TokenRef]
    disabled: list[TokenRef]
    domains: list[TokenDomains]
    subjects: list[SubjectRevocation]
    policy_domains: list[str]


class EventPage(ApiModel):
    """Events after a sequence number, in order; `latest` is the newest committed."""

    events: list[TokenEvent]
    latest: int


@dataclass(frozen=True)
class UnknownEvent:
    """An event of a type this version cannot read: its place in the sequence still counts."""

    seq: int
    type: str


def parse_event(payload: Any) -> TokenEvent | UnknownEvent:
    """A known event, or its sequence number when the type is newer than this code."""
    try:
        return token_event_adapter.validate_python(payload)
    except ValidationError:
        if isinstance(payload, dict) and isinstance(payload.get("seq"), int):
            return UnknownEvent(seq=payload["seq"], type=str(payload.get("type")))
        raise


class AppliedEvent(ApiModel):
    seq: int
    applied_at: datetime


class TokenUse(ApiModel):
    jti: UUID
    at: datetime


Mode = Literal["live", "introspect", "deny", "starting"]


class InstanceReport(ApiModel):
    """What each instance tells the registry about once a second: its delivery receipt."""

    instance_id: str = Field(min_length=1, max_length=200)
    service: str = Field(min_length=1, max_length=64)
    applied_seq: int = Field(ge=0)
    started_at: datetime
    mode: Mode
    applied: list[AppliedEvent] = Field(default_factory=list, max_length=1000)
    used: list[TokenUse] = Field(default_factory=list, max_length=10_000)
