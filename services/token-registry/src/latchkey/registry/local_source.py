"""The registry's own token-state source: its database, without going through HTTP."""

from typing import Any

import asyncpg

from latchkey.common.events import InstanceReport, TokenStateSnapshot
from latchkey.common.tokens import TokenVerifier
from latchkey.common.tokenstate.source import Events, SnapshotNeeded
from latchkey.registry import receipts, state

PAGE_SIZE = 1000


class LocalStateSource:
    def __init__(self, pool: asyncpg.Pool, verifier: TokenVerifier) -> None:
        self._pool = pool
        self._verifier = verifier

    async def snapshot(self) -> TokenStateSnapshot:
        return await state.snapshot(self._pool)

    async def events_after(self, seq: int) -> Events:
        try:
            page = await state.events_after(self._pool, after=seq, limit=PAGE_SIZE)
        except state.EventsPruned as exc:
            raise SnapshotNeeded() from exc
        return Events([*page.events], page.latest)  # validated once, by state

    async def introspect(self, token: str) -> dict[str, Any]:
        answer = await state.introspect(self._pool, self._verifier, token)
        return answer.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def report(self, report: InstanceReport) -> None:
        await receipts.record_report(self._pool, report=report)
