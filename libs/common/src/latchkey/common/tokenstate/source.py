"""Where an instance's token state comes from: the registry (over HTTP, or its own database)."""

from dataclasses import dataclass
from typing import Any, Protocol

from latchkey.common.events import InstanceReport, TokenEvent, TokenStateSnapshot, UnknownEvent


class SnapshotNeeded(Exception):
    """The events asked for are no longer kept: load a snapshot instead."""


@dataclass(frozen=True)
class Events:
    events: list[TokenEvent | UnknownEvent]
    latest: int


class StateSource(Protocol):
    async def snapshot(self) -> TokenStateSnapshot: ...

    async def events_after(self, seq: int) -> Events:
        """The events after `seq` in order (a page of them); SnapshotNeeded when pruned."""
        ...

    async def introspect(self, token: str) -> dict[str, Any]: ...

    async def report(self, report: InstanceReport) -> None: ...
