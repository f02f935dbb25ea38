"""Delivery receipts: each instance tells the registry which changes it has applied and when,
about once a second and at once after applying one, so an admin can see a revocation reach
every running instance. The same report carries which tokens were used (their "last used")."""

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from latchkey.common.events import AppliedEvent, InstanceReport, Mode, TokenUse
from latchkey.common.lifecycle import wait_event
from latchkey.common.service_client import ServiceError
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.source import StateSource
from latchkey.common.tokenstate.sync import SOURCE_ERRORS

log = logging.getLogger(__name__)

BATCH_DELAY = 0.005
"""After a change is applied, wait this long for the rest of a burst before reporting."""
MIN_INTERVAL = 0.1
"""Reports go out at most this often: at a hundred changes a second, six instances
reporting each one would keep the registry busier with receipts than with revocations.
The time each change was applied is recorded when it is applied, not when it is reported."""
MAX_APPLIED = 1000
MAX_USED = 10_000
APPLIED_PER_REPORT = 200
USED_PER_REPORT = 300
"""A report stays well inside the registry's 64 KiB body limit; the rest goes next time."""


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
        self._last_sent = float("-inf")
        self.reports = 0
        sequencer.on_applied(self.applied)
        sequencer.on_loaded(self.caught_up)

    def applied(self, seq: int) -> None:
        self._applied.append(AppliedEvent(seq=seq, applied_at=datetime.now(UTC)))
        self._wake.set()

    def caught_up(self, seq: int) -> None:
        """`seq` came with a snapshot: its receipt says so, and so stands (in the registry)
        for every change before it that this instance never saw as an event."""
        if self._applied and self._applied[-1].seq == seq:
            self._applied[-1] = self._applied[-1].model_copy(update={"caught_up": True})

    def used(self, jti: UUID) -> None:
        if len(self._used) < MAX_USED or jti in self._used:
            self._used[jti] = time.time()

    async def run(self) -> None:
        while True:
            if await wait_event(self._wake, self._interval):
                next_allowed = self._last_sent + MIN_INTERVAL - time.monotonic()
                await asyncio.sleep(max(BATCH_DELAY, next_allowed))
            self._wake.clear()
            if await self.send() and (self._applied or len(self._used) > USED_PER_REPORT):
                self._wake.set()  # more than one report's worth was waiting

    async def send(self) -> bool:
        """Report once; False when the registry could not be reached (kept for next time)."""
        self._last_sent = time.monotonic()
        applied = list(itertools.islice(self._applied, APPLIED_PER_REPORT))
        used = dict(itertools.islice(self._used.items(), USED_PER_REPORT))
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
        except ServiceError as exc:
            # The registry refused this report itself: sending it again would not help.
            log.warning(
                "the registry refused a receipt (%s %s); dropping it", exc.status, exc.reason
            )
        except SOURCE_ERRORS as exc:
            log.debug("receipt not delivered (%s); will retry", type(exc).__name__)
            return False
        else:
            self.reports += 1
        for _ in applied:
            self._applied.popleft()
        for jti, at in used.items():
            if self._used.get(jti) == at:
                del self._used[jti]
        return True
