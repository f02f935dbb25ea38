"""Base models for the wire: camelCase JSON names, snake_case Python names."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """What services send: camelCase on the wire, immutable in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, ser_json_timedelta="float"
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict with wire (camelCase) names."""
        return self.model_dump(mode="json", by_alias=True)


class RequestModel(ApiModel):
    """What clients send: unknown fields are refused so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Actor(ApiModel):
    """Who made a change: an admin (from their token), a user, or a service."""

    id: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name != self.id else self.id


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, for example 2030-01-01T00:00:00Z")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_timezone)]
"""A datetime that must state its zone; stored and compared in UTC."""
