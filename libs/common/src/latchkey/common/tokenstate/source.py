"""Where an instance's token state comes from: the registry (over HTTP, or its own database)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from latchkey.common.contracts import EventKeys, Introspection, StateDigest
from latchkey.common.events import InstanceReport, TokenEvent, TokenStateSnapshot, UnknownEvent


class SnapshotNeeded(Exception):
    """The events asked for are no longer kept: load a snapshot instead."""


@dataclass(frozen=True)
class Events:
    events: list[TokenEvent | UnknownEvent]
    latest: int
    at: datetime | None = None
    """When the registry answered, on its clock."""


class StateSource(Protocol):
    async def snapshot(self) -> TokenStateSnapshot: ...

    async def events_after(self, seq: int) -> Events:
        """The events after `seq` in order (a page of them); SnapshotNeeded when pruned."""
        ...

    async def introspect(self, token: str) -> Introspection: ...

    async def report(self, report: InstanceReport) -> None: ...

    async def event_keys(self) -> EventKeys:
        """The public keys the registry signs published events with."""
        ...

    async def digest(self) -> StateDigest:
        """A digest of the registry's own records, to compare the view with."""
        ...
