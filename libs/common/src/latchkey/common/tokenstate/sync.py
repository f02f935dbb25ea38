"""Keeping the view in step with the registry through the events exchange.

At start (and after every reconnect) the instance first declares and binds a fresh exclusive
queue, so nothing published from then on is missed, then loads the registry's event keys and
a snapshot (the first time) or catches up by sequence number (after a reconnect), and only
then applies what the queue holds and whatever arrives after. Only messages the registry
signed are acted on (`latchkey.common.event_signing`). We own the reconnect rather than
aio-pika's robust connection: a new server-named queue each time cannot collide with the old
one.
"""

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from pydantic import ValidationError

from latchkey.common import errors
from latchkey.common.amqp import CONNECT_ERRORS, Broker
from latchkey.common.event_signing import EventVerifier, Verdict
from latchkey.common.events import Heartbeat, parse_event
from latchkey.common.lifecycle import background, wait_event
from latchkey.common.service_client import ServiceError
from latchkey.common.tokenstate.sequencer import Sequencer
from latchkey.common.tokenstate.source import StateSource

log = logging.getLogger(__name__)

LOST = object()
WATCHDOG_INTERVAL = 0.25
RETRY_DELAY = 0.5
KEY_REFRESH_INTERVAL = 5.0
"""Least seconds between fetches of the event keys caused by a message naming an unknown one."""
REJECTION_LOG_INTERVAL = 10.0
SOURCE_ERRORS = (errors.ServiceUnavailable, ServiceError, OSError, asyncio.TimeoutError)


class TokenStateSync:
    """Runs for the life of the process: consumes the exchange, fills gaps, never gives up."""

    def __init__(
        self, sequencer: Sequencer, broker: Broker, source: StateSource, *, owns_exchange: bool
    ) -> None:
        self.sequencer = sequencer
        self._broker = broker
        self._source = source
        self._owns_exchange = owns_exchange
        self.verifier = EventVerifier()
        self._wake_watchdog = asyncio.Event()
        self._keys_fetched_at = float("-inf")
        self.rejected = 0
        """Messages dropped because the registry did not sign them."""
        self._rejections_logged_at = float("-inf")
        self._rejections_unlogged = 0

    async def run(self) -> None:
        async with background(self._watchdog(), name="token-state-watchdog"):
            while True:
                connection = await self._broker.connection()
                try:
                    await self._session(connection)
                except asyncio.CancelledError:
                    raise
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    # Started before the registry: it alone declares the exchange.
                    log.info("the events exchange does not exist yet; waiting for the registry")
                except (*CONNECT_ERRORS, *SOURCE_ERRORS) as exc:
                    log.warning("token-state sync interrupted: %s", type(exc).__name__)
                except Exception:
                    log.exception("token-state sync failed; starting over")
                await asyncio.sleep(RETRY_DELAY)

    async def _session(self, connection: AbstractConnection) -> None:
        buffer: asyncio.Queue[Any] = asyncio.Queue()
        channel = await connection.channel(publisher_confirms=False)
        try:
            exchange = await self._broker.declare_exchange(channel, passive=not self._owns_exchange)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange)

            async def receive(message: AbstractIncomingMessage) -> None:
                buffer.put_nowait((message.body, dict(message.headers or {}), time.monotonic()))

            await queue.consume(receive, no_ack=True)
            # Bound first, then state: anything published meanwhile waits in the buffer.
            await self._refresh_keys(force=True)
            await self._fill_gaps(initial=True)
            async with background(self._signal_lost(connection, buffer), name="token-state-lost"):
                while (item := await buffer.get()) is not LOST:
                    await self._handle(*item)
        finally:
            with contextlib.suppress(*CONNECT_ERRORS):
                await channel.close()

    async def _signal_lost(
        self, connection: AbstractConnection, buffer: asyncio.Queue[Any]
    ) -> None:
        await self._broker.wait_lost(connection)
        buffer.put_nowait(LOST)

    async def _handle(self, body: bytes, headers: dict[str, Any], came_at: float) -> None:
        if not await self._genuine(body, headers):
            return
        try:
            payload = json.loads(body)
            if isinstance(payload, dict) and payload.get("type") == "heartbeat":
                heartbeat = Heartbeat.model_validate(payload)
                behind = self.sequencer.heard(heartbeat.seq, heartbeat.at, came_at)
            else:
                behind = self.sequencer.offer(parse_event(payload))
        except (ValueError, ValidationError):
            log.warning("ignoring a signed message that is not a token event")
            return
        if behind:
            await self._fill_gaps(initial=False)

    async def _genuine(self, body: bytes, headers: dict[str, Any]) -> bool:
        """Whether the registry signed this message; anything else is dropped (and, if it was
        a real event, fetched by its number once a later message shows the gap)."""
        text = {key: value.decode() if isinstance(value, bytes) else value
                for key, value in headers.items()}  # fmt: skip
        verdict = self.verifier.verdict(body, text)
        if verdict is Verdict.UNKNOWN_KEY and await self._refresh_keys(force=False):
            verdict = self.verifier.verdict(body, text)
        if verdict is Verdict.GENUINE:
            return True
        self.rejected += 1
        self._rejections_unlogged += 1
        now = time.monotonic()
        if now - self._rejections_logged_at >= REJECTION_LOG_INTERVAL:
            log.warning(
                "dropped %d message(s) on the events exchange that the registry did not sign "
                "(last: %s); check who may publish to it",
                self._rejections_unlogged,
                verdict.value,
            )
            self._rejections_logged_at, self._rejections_unlogged = now, 0
        return False

    async def _refresh_keys(self, *, force: bool) -> bool:
        """Fetch the registry's event keys; False when it was done too recently to try again."""
        now = time.monotonic()
        if not force and now - self._keys_fetched_at < KEY_REFRESH_INTERVAL:
            return False
        self._keys_fetched_at = now
        try:
            self.verifier.use(await self._source.event_keys())
        except SOURCE_ERRORS as exc:
            if force:
                raise
            log.info("cannot fetch the event keys yet: %s", type(exc).__name__)
            return False
        return True

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
