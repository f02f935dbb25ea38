"""Base models for the wire: camelCase JSON names, snake_case Python names, and the bounds
every number and date a client sends is held to."""

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


def omitted_not_null(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional field that may be left out but not sent as null (a
    patch: left out keeps the value): the document offers the value's own schema only."""
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [option for option in options if option != {"type": "null"}]
        schema.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    if schema.get("default", ...) is None:
        del schema["default"]


class Actor(ApiModel):
    """Who made a change: an admin (from their token), a user, or a service."""

    id: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name != self.id else self.id


BIGINT_MAX = 2**63 - 1
"""The largest integer PostgreSQL stores (`bigint`): sequence numbers, ids, counts."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Dates clients send lie in [EARLIEST, LATEST): far enough either way for anything Latchkey
records, and far from the ends of Python's datetime, where converting a zone or adding a
lifetime overflows (year 1 at +14:00 is year 0)."""


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, for example 2030-01-01T00:00:00Z")
    if not EARLIEST <= value < LATEST:
        raise ValueError("must lie between 1970-01-01 and 2199-12-31 (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_timezone)]
"""A datetime that must state its zone and lie between 1970 and 2199; stored and compared in
UTC."""
