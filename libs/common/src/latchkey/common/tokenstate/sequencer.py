"""Ordering: apply each event exactly once, in sequence order, whatever the broker delivers.

Events arrive duplicated, out of order or not at all (a reconnect, a restart, a lost message).
The sequencer applies the next expected one, holds early ones, skips what is already applied,
and fills any gap from the registry by sequence number; when the registry no longer keeps the
events asked for, or names a type this version cannot read, it starts over from a snapshot
(which states every effect in terms this version reads). Nothing is ever skipped on the
broker's word.

It also says how fresh the view is, on the registry's clock: the view is as fresh as the
newest heartbeat (or registry answer) it has applied everything up to, so an instance that
stalled and resumes with a backlog stays stale until it has worked through it. It knows
nothing of sockets, so it can be driven by a property-based test through every interleaving.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

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
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.view = view
        self._source = source
        self._monotonic = monotonic
        self._wall = wall
        self._pending: dict[int, TokenEvent] = {}
        self._lock = asyncio.Lock()
        self._applied_listeners: list[AppliedListener] = []
        self._loaded_listeners: list[AppliedListener] = []
        self.latest_known = 0
        """The newest sequence number heard of (an event or a heartbeat)."""
        self._fresh: tuple[float, float] | None = None
        """(registry's time, our monotonic time) of the newest news the view is complete up to."""
        self._awaiting: tuple[int, float, float] | None = None
        """The newest heartbeat heard while behind: (its seq, its time, when it came)."""

    def on_applied(self, listener: AppliedListener) -> None:
        """Call `listener` with each sequence number applied (a snapshot's too)."""
        self._applied_listeners.append(listener)

    def on_loaded(self, listener: AppliedListener) -> None:
        """Call `listener` with a loaded snapshot's sequence number (after `on_applied`)."""
        self._loaded_listeners.append(listener)

    @property
    def behind(self) -> bool:
        return not self.view.loaded or self.latest_known > self.view.seq

    def staleness(self) -> float:
        """Seconds since the registry last said something the view is complete up to:
        measured on the registry's clock (a heartbeat processed late is old news) and on ours
        (a registry clock running ahead of ours does not make old news fresh); infinite
        before the first."""
        if self._fresh is None:
            return float("inf")
        said_at, came_at = self._fresh
        return max(0.0, self._wall() - said_at, self._monotonic() - came_at)

    # --- what the broker delivers ----------------------------------------------------------

    def offer(self, event: TokenEvent | UnknownEvent) -> bool:
        """Take an event; True when a gap opened and `catch_up` should run. An event of a type
        this version cannot read is a gap too: the registry says what it is."""
        self.latest_known = max(self.latest_known, event.seq)
        if isinstance(event, UnknownEvent):
            return self.behind
        if not self.view.loaded or event.seq > self.view.seq + 1:
            if event.seq > self.view.seq and len(self._pending) < MAX_PENDING:
                self._pending[event.seq] = event
            return True
        if event.seq == self.view.seq + 1:
            self._apply(event)
            self._drain()
        return self.behind

    def heard(self, seq: int, at: datetime, came_at: float | None = None) -> bool:
        """A heartbeat sent at `at` (the registry's clock) says the registry is at `seq`;
        True when we must catch up."""
        self.latest_known = max(self.latest_known, seq)
        came = self._monotonic() if came_at is None else came_at
        if self.view.loaded and self.view.seq >= seq:
            self._mark_fresh(at.timestamp(), came)
        elif self._awaiting is None or seq >= self._awaiting[0]:
            self._awaiting = (seq, at.timestamp(), came)
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
                asked_at = self._monotonic()
                try:
                    page = await self._source.events_after(self.view.seq)
                except SnapshotNeeded:
                    log.warning("events after %d are no longer kept; reloading", self.view.seq)
                    await self._load_snapshot()
                    continue
                self.latest_known = max(self.latest_known, page.latest)
                newer_type = self._apply_page(page.events)
                if newer_type is not None:
                    log.warning(
                        "event %d is of a type this version cannot read (%s); reloading the "
                        "snapshot, which states its effect",
                        newer_type.seq,
                        newer_type.type,
                    )
                    await self._load_snapshot()
                    continue
                if not page.events:
                    # The registry has nothing after our seq: whatever we heard of beyond it
                    # (a heartbeat racing a commit) will come with the next event or heartbeat.
                    self.latest_known = self.view.seq
                if not self.behind and page.at is not None:
                    self._mark_fresh(page.at.timestamp(), asked_at)
            self._pending = {seq: e for seq, e in self._pending.items() if seq > self.view.seq}

    def _apply_page(self, events: list[TokenEvent | UnknownEvent]) -> UnknownEvent | None:
        for event in events:
            if event.seq != self.view.seq + 1:
                continue
            if isinstance(event, UnknownEvent):
                return event
            self._apply(event)
            self._drain()
        return None

    async def _load_snapshot(self) -> None:
        asked_at = self._monotonic()
        started = time.perf_counter()
        snapshot = await self._source.snapshot()
        fetched = time.perf_counter()
        if snapshot.seq < self.view.seq:
            log.warning("registry snapshot %d is older than our %d", snapshot.seq, self.view.seq)
        self.view.load(snapshot)
        log.info(
            "token-state snapshot at %d loaded: %d restrictions, fetched in %.3f s, "
            "applied in %.3f s",
            snapshot.seq,
            self.view.entries,
            fetched - started,
            time.perf_counter() - fetched,
        )
        self.latest_known = max(self.latest_known, snapshot.seq)
        self._drain()
        self._pending = {seq: e for seq, e in self._pending.items() if seq > self.view.seq}
        if not self.behind and snapshot.at is not None:
            self._mark_fresh(snapshot.at.timestamp(), asked_at)
        self._heartbeat_caught_up()
        for listener in self._applied_listeners:
            listener(self.view.seq)
        for listener in self._loaded_listeners:
            listener(self.view.seq)

    # --- applying -------------------------------------------------------------------------

    def _apply(self, event: TokenEvent) -> None:
        self.view.apply(event)
        for listener in self._applied_listeners:
            listener(event.seq)
        self._heartbeat_caught_up()

    def _drain(self) -> None:
        while (event := self._pending.pop(self.view.seq + 1, None)) is not None:
            self._apply(event)

    def _heartbeat_caught_up(self) -> None:
        if self._awaiting is not None and self.view.seq >= self._awaiting[0]:
            _, said_at, came_at = self._awaiting
            self._awaiting = None
            self._mark_fresh(said_at, came_at)

    def _mark_fresh(self, said_at: float, came_at: float) -> None:
        if self._fresh is None or said_at > self._fresh[0]:
            self._fresh = (said_at, came_at)
