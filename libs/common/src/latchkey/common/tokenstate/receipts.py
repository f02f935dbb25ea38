"""Delivery receipts: each instance tells the registry which changes it has applied and when,
about once a second and at once after applying one, so an admin can see a revocation reach
every running instance. The same report carries which tokens were used (their "last used")."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from latchkey.common.app import wait_event
from latchkey.common.events import AppliedEvent, InstanceReport, Mode, TokenUse
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.source import StateSource
from latchkey.common.tokenstate.sync import SOURCE_ERRORS

log = logging.getLogger(__name__)

BATCH_DELAY = 0.005
"""After a change is applied, wait this long for the rest of a burst before reporting."""
MAX_APPLIED = 1000
MAX_USED = 10_000


class Receipts:
    def __init__(
        self,
        source: StateSource,
        sequencer: Sequencer,
        *,
        instance_id: str,
        service: str,
        mode: Callable[[], Mode],
        interval: float = 1.0,
    ) -> None:
        self._source = source
        self._sequencer = sequencer
        self._instance_id = instance_id
        self._service = service
        self._mode = mode
        self._interval = interval
        self._started_at = datetime.now(UTC)
        self._applied: deque[AppliedEvent] = deque(maxlen=MAX_APPLIED)
        self._used: dict[UUID, float] = {}
        self._wake = asyncio.Event()
        self.reports = 0
        sequencer.on_applied(self.applied)

    def applied(self, seq: int) -> None:
        self._applied.append(AppliedEvent(seq=seq, applied_at=datetime.now(UTC)))
        self._wake.set()

    def used(self, jti: UUID) -> None:
        if len(self._used) < MAX_USED or jti in self._used:
            self._used[jti] = time.time()

    async def run(self) -> None:
        while True:
            if await wait_event(self._wake, self._interval):
                await asyncio.sleep(BATCH_DELAY)
            self._wake.clear()
            await self.send()

    async def send(self) -> None:
        applied = list(self._applied)
        used = dict(self._used)
        report = InstanceReport(
            instance_id=self._instance_id,
            service=self._service,
            applied_seq=self._sequencer.view.seq,
            started_at=self._started_at,
            mode=self._mode(),
            applied=applied,
            used=[
                TokenUse(jti=jti, at=datetime.fromtimestamp(at, UTC)) for jti, at in used.items()
            ],
        )
        try:
            await self._source.report(report)
        except SOURCE_ERRORS as exc:
            log.debug("receipt not delivered (%s); will retry", type(exc).__name__)
            return
        self.reports += 1
        for _ in applied:
            self._applied.popleft()
        for jti, at in used.items():
            if self._used.get(jti) == at:
                del self._used[jti]
