"""The registry's own token-state source: its database, without going through HTTP."""

import asyncpg

from latchkey.common.contracts import EventKeys, Introspection, StateDigest
from latchkey.common.events import InstanceReport, TokenStateSnapshot
from latchkey.common.outages import Outage
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
        outage: Outage,
    ) -> None:
        self._pool = pool
        self._verifier = verifier
        self._keys = keys
        self._digest = records_digest
        self._outage = outage
        """A database outage met here is `DatabaseUnavailable`, which the token state's
        loops retry (as they retry a registry that cannot be reached), never asyncpg's own
        errors, which would end them."""

    async def snapshot(self) -> TokenStateSnapshot:
        with self._outage.noticing():
            return await state.snapshot(self._pool)

    async def events_after(self, seq: int) -> Events:
        try:
            with self._outage.noticing():
                page = await state.events_after(self._pool, after=seq, limit=PAGE_SIZE)
        except state.EventsPruned as exc:
            raise SnapshotNeeded() from exc
        return Events(page.events, page.latest, page.at)

    async def introspect(self, token: str) -> Introspection:
        with self._outage.noticing():
            return await state.introspect(self._pool, self._verifier, token)

    async def report(self, report: InstanceReport) -> None:
        with self._outage.noticing():
            await receipts.record_report(self._pool, report=report)

    async def event_keys(self) -> EventKeys:
        return self._keys

    async def digest(self) -> StateDigest:
        with self._outage.noticing():
            return await self._digest.digest(self._pool)
