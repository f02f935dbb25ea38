"""The registry's unit of work: a change, its audit entries and its events commit together.

    async with change(pool, actor=actor) as unit:
        revoked = await repo.revoke_token(unit.conn, ...)
        unit.audit("token.revoke", target=str(jti), details={...})
        unit.emit(lambda seq, at: TokenRevoked(seq=seq, at=at, ...))
    unit.seq  # the sequence number of its (last) event, once committed

Events are written last, just before the commit: taking a sequence number locks the counter
row until the transaction ends, so the lock is held for as short a time as possible (and
sequence order is commit order).
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from latchkey.common.clock import Clock, utc_now
from latchkey.common.db import Connection
from latchkey.common.events import TokenEvent
from latchkey.common.models import Actor
from latchkey.registry import repository as repo

EventBuilder = Callable[[int, datetime], TokenEvent]


@dataclass
class Change:
    conn: Connection
    actor: Actor
    now: datetime
    _audits: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _events: list[EventBuilder] = field(default_factory=list)
    seq: int | None = None
    """The sequence number of the last event written (None: the change caused none)."""

    def audit(self, action: str, *, target: str, details: dict[str, Any]) -> None:
        self._audits.append((action, target, details))

    def emit(self, build: EventBuilder) -> None:
        """An event for the next sequence number, built once the number is known."""
        self._events.append(build)

    async def _write(self) -> None:
        for action, target, details in self._audits:
            await repo.insert_audit(
                self.conn, actor=self.actor, action=action, target=target, details=details
            )
        for build in self._events:
            self.seq = (await repo.append_event(self.conn, build, now=self.now)).seq


@asynccontextmanager
async def change(
    pool: asyncpg.Pool, *, actor: Actor, clock: Clock = utc_now
) -> AsyncIterator[Change]:
    """One transaction for a change and everything written about it."""
    async with pool.acquire() as conn, conn.transaction():
        unit = Change(conn, actor, clock())
        yield unit
        await unit._write()
