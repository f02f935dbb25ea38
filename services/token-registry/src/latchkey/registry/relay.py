"""The outbox relay: publishes committed events, in order, with publisher confirms.

Exactly one registry instance relays at a time: the one holding a session advisory lock on a
connection of its own. When that connection or process dies, the lock goes with it and a
standby takes over within a poll interval. An event is marked published only after the
broker confirmed it, so a crash in between republishes it; consumers skip what they already
applied by its sequence number. Every `heartbeat_interval` the relay also announces the
latest committed sequence number, so an instance that missed a message notices and catches up.
"""

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

import aio_pika
import asyncpg
from aio_pika.abc import AbstractConnection, AbstractExchange

from latchkey.common.amqp import Broker
from latchkey.common.db import init_connection
from latchkey.common.event_signing import EventSigner
from latchkey.common.events import Heartbeat
from latchkey.common.lifecycle import wait_event
from latchkey.common.outages import Outage, is_database_outage
from latchkey.registry import queries
from latchkey.registry import repository as repo
from latchkey.registry.settings import RegistrySettings

log = logging.getLogger(__name__)

BATCH_SIZE = 500
PRUNE_INTERVAL = 3600.0
RETRY_DELAY = 1.0
PUBLISH_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
FORGET_INSTANCES_AFTER = 3600.0

Role = Literal["starting", "leader", "standby", "unavailable"]
"""leader: holds the relay lock and publishes; standby: another instance holds it;
unavailable: cannot relay now (its database or broker is away), retrying."""


class Interrupted(Exception):
    """The relay's database connection or broker channel closed under it."""


class OutboxRelay:
    """Runs in every registry instance; publishes only while it holds the relay lock."""

    def __init__(
        self,
        *,
        settings: RegistrySettings,
        broker: Broker,
        signer: EventSigner,
        outage: Outage | None = None,
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._signer = signer
        self._outage = outage
        self.role: Role = "starting"
        self.why = "starting"
        """Why the relay is in its role, for people (readiness, logs)."""
        self.published_at: float | None = None
        """When (monotonic) the broker last confirmed a message of ours, while leading."""
        self.published = 0
        """Events this instance has published."""
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Forever: take the lock when free, relay while holding it, start over on any failure."""
        while True:
            try:
                await self._attempt()
            except asyncio.CancelledError:
                raise
            except Interrupted as exc:
                self._step_down(str(exc))
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                aio_pika.exceptions.AMQPError,
                TimeoutError,
            ) as exc:
                if self._outage is not None and is_database_outage(exc):
                    self._outage.failed(exc)  # one line per outage, however many retries
                self._step_down(type(exc).__name__)
            except Exception:
                log.exception("relay failed; starting over")
                self._step_down("an unexpected error")
            await asyncio.sleep(RETRY_DELAY)

    def _step_down(self, why: str) -> None:
        if self.role == "leader":
            log.warning(
                "this instance no longer relays the outbox (%s); another may take over", why
            )
        elif self.role != "unavailable":
            log.info("relay attempt interrupted (%s); trying again", why)
        else:
            log.debug("relay attempt interrupted (%s); trying again", why)
        self.role, self.why = "unavailable", why

    @property
    def broker_connected(self) -> bool:
        return self._broker.connected

    def seconds_since_publish(self) -> float:
        if self.published_at is None:
            return float("inf")
        return time.monotonic() - self.published_at

    async def _attempt(self) -> None:
        # The broker first: an instance that cannot publish must not hold the lock meanwhile,
        # so another that can takes over.
        if not self._broker.connected and self.role != "unavailable":
            self._step_down("the broker is unavailable")
        connection = await self._broker.connection()
        conn = await asyncpg.connect(
            self._settings.database_url.get_secret_value(), timeout=CONNECT_TIMEOUT
        )
        if self._outage is not None:
            self._outage.answered()
        await init_connection(conn)
        try:
            if not await repo.try_relay_lock(conn):
                if self.role != "standby":
                    log.info("another instance relays the outbox; this one stands by")
                self.role, self.why = "standby", "another instance holds the relay lock"
                await asyncio.sleep(self._settings.relay_poll_interval)
                return
            self.role, self.why = "leader", "holds the relay lock"
            log.info("this instance now relays the outbox")
            await conn.add_listener(queries.EVENTS_CHANNEL, self._on_notify)
            await self._relay(conn, connection)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _relay(self, conn: asyncpg.Connection, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        try:
            exchange = await self._broker.declare_exchange(channel)
            next_heartbeat = next_prune = time.monotonic()
            while True:
                if conn.is_closed():
                    raise Interrupted("its database connection closed")
                if channel.is_closed:
                    raise Interrupted("its broker channel closed")
                # Clear before scanning: a NOTIFY that lands during the scan wakes the next wait.
                self._wake.clear()
                published = await self._publish_pending(conn, exchange)
                now = time.monotonic()
                if now >= next_heartbeat:
                    await self._publish_heartbeat(conn, exchange)
                    next_heartbeat = now + self._settings.heartbeat_interval
                if now >= next_prune:
                    await self._prune(conn)
                    next_prune = now + PRUNE_INTERVAL
                if published == BATCH_SIZE:
                    continue
                timeout = min(self._settings.relay_poll_interval, next_heartbeat - now)
                await wait_event(self._wake, max(timeout, 0.01))
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def _publish_pending(self, conn: asyncpg.Connection, exchange: AbstractExchange) -> int:
        pending = await repo.unpublished_events(conn, limit=BATCH_SIZE)
        if not pending:
            return 0
        # Sent in order on one channel; each publish returns once the broker confirmed it.
        await asyncio.gather(
            *(
                exchange.publish(
                    self._message(
                        json.dumps(payload, separators=(",", ":")).encode(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(seq),
                    ),
                    routing_key="",
                    mandatory=False,
                    timeout=PUBLISH_TIMEOUT,
                )
                for seq, payload in pending
            )
        )
        self.published_at = time.monotonic()
        await repo.mark_published(conn, seqs=[seq for seq, _ in pending])
        self.published += len(pending)
        return len(pending)

    def _message(self, body: bytes, **properties: Any) -> aio_pika.Message:
        """A message the registry signed: instances act on nothing else."""
        return aio_pika.Message(
            body,
            content_type="application/json",
            headers=self._signer.headers(body),  # type: ignore[arg-type]
            **properties,
        )

    async def _publish_heartbeat(
        self, conn: asyncpg.Connection, exchange: AbstractExchange
    ) -> None:
        # Stamped before the read: the registry had committed at least `seq` by `at`. Stamped
        # after, a commit in between would let an instance believe itself complete up to a
        # moment it is not, and so fresher than it is.
        at = datetime.now(UTC)
        heartbeat = Heartbeat(seq=await repo.latest_seq(conn), at=at)
        await exchange.publish(
            self._message(
                heartbeat.model_dump_json(by_alias=True).encode(),
                delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                # Older than the staleness bound, a heartbeat is no news: let the broker drop
                # it rather than deliver it late (instances judge its age themselves too).
                expiration=self._settings.max_staleness,
            ),
            routing_key="",
            mandatory=False,
            timeout=PUBLISH_TIMEOUT,
        )
        self.published_at = time.monotonic()

    async def _prune(self, conn: asyncpg.Connection) -> None:
        removed = await repo.prune_events(conn, older_than_days=self._settings.event_retention_days)
        if removed:
            log.info("pruned %d published events", removed)
        await repo.prune_receipts(
            conn,
            instances_after=FORGET_INSTANCES_AFTER,
            deliveries_after=self._settings.event_retention_days * 86400,
        )
        await repo.prune_confirmations(conn)
