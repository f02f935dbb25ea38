"""Ordering: apply each event exactly once, in sequence order, whatever the broker delivers.

Events arrive duplicated, out of order or not at all (a reconnect, a restart, a lost message).
The sequencer applies the next expected one, holds early ones, skips what is already applied,
and fills any gap from the registry by sequence number; when the registry no longer keeps the
events asked for, it starts over from a snapshot. It knows nothing of sockets, so it can be
driven by a property-based test through every interleaving.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from latchkey.common.events import TokenEvent, UnknownEvent
from latchkey.common.tokenstate.source import SnapshotNeeded, StateSource
from latchkey.common.tokenstate.view import TokenStateView

log = logging.getLogger(__name__)

MAX_PENDING = 100_000
"""Early events held while a gap is filled; past this they are dropped and fetched again."""

AppliedListener = Callable[[int], None]


class Sequencer:
    def __init__(
        self,
        view: TokenStateView,
        source: StateSource,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self._source = source
        self._monotonic = monotonic
        self._pending: dict[int, TokenEvent | UnknownEvent] = {}
        self._lock = asyncio.Lock()
        self._applied_listeners: list[AppliedListener] = []
        self.latest_known = 0
        """The newest sequence number heard of (an event or a heartbeat)."""
        self.in_sync_at: float | None = None
        """When the view last matched everything the registry had said (monotonic)."""

    def on_applied(self, listener: AppliedListener) -> None:
        self._applied_listeners.append(listener)

    @property
    def behind(self) -> bool:
        return not self.view.loaded or self.latest_known > self.view.seq

    def staleness(self) -> float:
        """Seconds since the view was last known to be complete (infinite before the first)."""
        if self.in_sync_at is None:
            return float("inf")
        return self._monotonic() - self.in_sync_at

    # --- what the broker delivers ----------------------------------------------------------

    def offer(self, event: TokenEvent | UnknownEvent) -> bool:
        """Take an event; True when a gap opened and `catch_up` should run."""
        self.latest_known = max(self.latest_known, event.seq)
        if not self.view.loaded or event.seq > self.view.seq + 1:
            if event.seq > self.view.seq and len(self._pending) < MAX_PENDING:
                self._pending[event.seq] = event
            return True
        if event.seq == self.view.seq + 1:
            self._apply(event)
            self._drain()
        self._mark_in_sync()
        return self.behind

    def heard(self, seq: int) -> bool:
        """A heartbeat says the registry is at `seq`; True when we must catch up."""
        self.latest_known = max(self.latest_known, seq)
        self._mark_in_sync()
        return self.behind

    # --- what the registry answers ----------------------------------------------------------

    async def load_snapshot(self) -> None:
        async with self._lock:
            await self._load_snapshot()

    async def catch_up(self, *, ask: bool = False) -> None:
        """Fetch what is missing until the view is at the newest known sequence number;
        `ask` fetches at least once, to learn the newest (after a reconnect nothing tells us
        what was published while we were away)."""
        async with self._lock:
            if not self.view.loaded:
                await self._load_snapshot()
                ask = False
            while self.behind or ask:
                ask = False
                try:
                    page = await self._source.events_after(self.view.seq)
                except SnapshotNeeded:
                    log.warning("events after %d are no longer kept; reloading", self.view.seq)
                    await self._load_snapshot()
                    continue
                self.latest_known = max(self.latest_known, page.latest)
                for event in page.events:
                    if event.seq == self.view.seq + 1:
                        self._apply(event)
                        self._drain()
                if not page.events:
                    # The registry has nothing after our seq: whatever we heard of beyond it
                    # (a heartbeat racing a commit) will come with the next event or heartbeat.
                    self.latest_known = self.view.seq
            self._pending = {seq: e for seq, e in self._pending.items() if seq > self.view.seq}
            self._mark_in_sync()

    async def _load_snapshot(self) -> None:
        snapshot = await self._source.snapshot()
        if snapshot.seq < self.view.seq:
            log.warning("registry snapshot %d is older than our %d", snapshot.seq, self.view.seq)
        self.view.load(snapshot)
        self.latest_known = max(self.latest_known, snapshot.seq)
        self._drain()
        self._pending = {seq: e for seq, e in self._pending.items() if seq > self.view.seq}
        self._mark_in_sync()
        for listener in self._applied_listeners:
            listener(self.view.seq)

    # --- applying -------------------------------------------------------------------------

    def _apply(self, event: TokenEvent | UnknownEvent) -> None:
        if isinstance(event, UnknownEvent):
            log.warning("skipping event %d of unknown type %s", event.seq, event.type)
            self.view.skip(event.seq)
        else:
            self.view.apply(event)
        for listener in self._applied_listeners:
            listener(event.seq)

    def _drain(self) -> None:
        while (event := self._pending.pop(self.view.seq + 1, None)) is not None:
            self._apply(event)

    def _mark_in_sync(self) -> None:
        if self.view.loaded and not self.behind:
            self.in_sync_at = self._monotonic()
