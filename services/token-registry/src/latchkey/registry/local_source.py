"""The registry's own token-state source: its database, without going through HTTP."""

import asyncpg

from latchkey.common.contracts import EventKeys, Introspection, StateDigest
from latchkey.common.events import InstanceReport, TokenStateSnapshot
from latchkey.common.tokenstate.source import Events, SnapshotNeeded
from latchkey.common.verification import TokenVerifier
from latchkey.registry import receipts, state

PAGE_SIZE = 1000


class LocalStateSource:
    def __init__(
        self,
        pool: asyncpg.Pool,
        verifier: TokenVerifier,
        keys: EventKeys,
        records_digest: state.RecordsDigest,
    ) -> None:
        self._pool = pool
        self._verifier = verifier
        self._keys = keys
        self._digest = records_digest

    async def snapshot(self) -> TokenStateSnapshot:
        return await state.snapshot(self._pool)

    async def events_after(self, seq: int) -> Events:
        try:
            page = await state.events_after(self._pool, after=seq, limit=PAGE_SIZE)
        except state.EventsPruned as exc:
            raise SnapshotNeeded() from exc
        return Events(page.events, page.latest, page.at)

    async def introspect(self, token: str) -> Introspection:
        return await state.introspect(self._pool, self._verifier, token)

    async def report(self, report: InstanceReport) -> None:
        await receipts.record_report(self._pool, report=report)

    async def event_keys(self) -> EventKeys:
        return self._keys

    async def digest(self) -> StateDigest:
        return await self._digest.digest(self._pool)
