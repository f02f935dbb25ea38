"""Keeping the view in step with the registry through the events exchange.

At start (and after every reconnect) the instance first declares and binds a fresh exclusive
queue, so nothing published from then on is missed, then loads a snapshot (the first time)
or catches up by sequence number (after a reconnect), and only then applies what the queue
holds and whatever arrives after. We own the reconnect rather than aio-pika's robust
connection: a new server-named queue each time cannot collide with the old one.
"""

import asyncio
import contextlib
import json
import logging
from typing import Any

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from pydantic import ValidationError

from latchkey.common import errors
from latchkey.common.amqp import CONNECT_ERRORS, Broker
from latchkey.common.app import background, wait_event
from latchkey.common.events import Heartbeat, parse_event
from latchkey.common.service_client import ServiceError
from latchkey.common.tokenstate.sequencer import Sequencer

log = logging.getLogger(__name__)

LOST = object()
WATCHDOG_INTERVAL = 0.25
RETRY_DELAY = 0.5
SOURCE_ERRORS = (errors.ServiceUnavailable, ServiceError, OSError, asyncio.TimeoutError)


class TokenStateSync:
    """Runs for the life of the process: consumes the exchange, fills gaps, never gives up."""

    def __init__(self, sequencer: Sequencer, broker: Broker) -> None:
        self.sequencer = sequencer
        self._broker = broker
        self._wake_watchdog = asyncio.Event()
        self.reconnects = 0

    async def run(self) -> None:
        async with background(self._watchdog(), name="token-state-watchdog"):
            while True:
                connection = await self._broker.connection()
                try:
                    await self._session(connection)
                except asyncio.CancelledError:
                    raise
                except (*CONNECT_ERRORS, *SOURCE_ERRORS) as exc:
                    log.warning("token-state sync interrupted: %s", type(exc).__name__)
                except Exception:
                    log.exception("token-state sync failed; starting over")
                self.reconnects += 1
                await asyncio.sleep(RETRY_DELAY)

    async def _session(self, connection: AbstractConnection) -> None:
        buffer: asyncio.Queue[Any] = asyncio.Queue()
        channel = await connection.channel(publisher_confirms=False)
        try:
            exchange = await self._broker.declare_exchange(channel)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange)

            async def receive(message: AbstractIncomingMessage) -> None:
                buffer.put_nowait(message.body)

            await queue.consume(receive, no_ack=True)
            # Bound first, then state: anything published meanwhile waits in the buffer.
            await self._fill_gaps(initial=True)
            async with background(self._signal_lost(connection, buffer), name="token-state-lost"):
                while (body := await buffer.get()) is not LOST:
                    await self._handle(body)
        finally:
            with contextlib.suppress(*CONNECT_ERRORS):
                await channel.close()

    async def _signal_lost(
        self, connection: AbstractConnection, buffer: asyncio.Queue[Any]
    ) -> None:
        await self._broker.wait_lost(connection)
        buffer.put_nowait(LOST)

    async def _handle(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and payload.get("type") == "heartbeat":
                behind = self.sequencer.heard(Heartbeat.model_validate(payload).seq)
            else:
                behind = self.sequencer.offer(parse_event(payload))
        except (ValueError, ValidationError):
            log.warning("ignoring a message that is not a token event")
            return
        if behind:
            await self._fill_gaps(initial=False)

    async def _fill_gaps(self, *, initial: bool) -> None:
        """Catch up now; if the registry cannot answer, the watchdog keeps trying. On a new
        connection (`initial`) ask the registry even if nothing says we are behind."""
        try:
            await self.sequencer.catch_up(ask=initial)
        except SOURCE_ERRORS as exc:
            level = logging.WARNING if initial else logging.INFO
            log.log(level, "cannot catch up with the registry yet: %s", type(exc).__name__)
            self._wake_watchdog.set()

    async def _watchdog(self) -> None:
        """Retry catching up while behind (registry down, or a gap with no later message)."""
        while True:
            await wait_event(self._wake_watchdog, WATCHDOG_INTERVAL)
            self._wake_watchdog.clear()
            if self.sequencer.behind:
                with contextlib.suppress(*SOURCE_ERRORS):
                    await self.sequencer.catch_up()
