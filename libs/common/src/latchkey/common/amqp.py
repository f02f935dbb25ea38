"""One RabbitMQ connection per process, reconnected by us rather than by aio-pika.

aio-pika's robust connection restores queues from weak references and can hit
RESOURCE_LOCKED re-declaring exclusive queues, so components here own their recovery: they
wait for `Broker.connection()`, build their channels and queues afresh, and start over when
the connection they hold is lost (`Broker.wait_lost`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aiohttp import web
from pydantic import SecretStr
from yarl import URL

from latchkey.common.health import add_readiness_check
from latchkey.common.lifecycle import CleanupContext
from latchkey.common.settings import CommonSettings, masked_url

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
"""AMQP heartbeat: a silent broker is noticed within about two of these."""

CONNECT_ERRORS = (OSError, aio_pika.exceptions.AMQPError, asyncio.TimeoutError)


def _with_heartbeat(url: str) -> str:
    parsed = URL(url)
    if "heartbeat" in parsed.query:
        return url
    return str(parsed.update_query(heartbeat=HEARTBEAT_SECONDS))


class Broker:
    """Holds the process's connection and replaces it, with backoff, whenever it drops."""

    def __init__(self, url: SecretStr, *, name: str, exchange: str) -> None:
        self._url = url
        self._name = name
        self.exchange_name = exchange
        self._connection: AbstractConnection | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.connected_since: float | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, *, timeout: float) -> None:
        """Connect (retrying for `timeout` seconds, then failing the start) and keep connected."""
        self._adopt(await self._connect(deadline=time.monotonic() + timeout))
        self._supervisor = asyncio.create_task(self._supervise(), name=f"broker:{self._name}")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._connected.clear()
        if self._connection is not None:
            with contextlib.suppress(*CONNECT_ERRORS):
                await self._connection.close()

    async def connection(self) -> AbstractConnection:
        """The live connection, waiting for one when the broker is away."""
        await self._connected.wait()
        assert self._connection is not None
        return self._connection

    async def wait_lost(self, connection: AbstractConnection) -> None:
        """Return once `connection` is no longer the live one."""
        while self._connection is connection and self._connected.is_set():
            await self._lost.wait()

    async def declare_exchange(
        self, channel: AbstractChannel, *, passive: bool = False
    ) -> AbstractExchange:
        """The events exchange. Consumers declare it `passive`ly (it must exist already),
        which needs no configure permission on it: only the registry's broker user may
        create, change or delete it (README, Running with Docker)."""
        return await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.FANOUT, durable=True, passive=passive
        )

    async def ready(self) -> tuple[bool, str]:
        """Readiness probe."""
        return (True, "connected") if self.connected else (False, "reconnecting")

    def _adopt(self, connection: AbstractConnection) -> None:
        # aio-pika reports an unexpected close through close_callbacks only (its closed()
        # future resolves on an explicit close), so that is what we listen to.
        self._lost = asyncio.Event()
        connection.close_callbacks.add(lambda *_: self._lost.set())
        self._connection = connection
        self.connected_since = time.monotonic()
        self._connected.set()

    async def _connect(self, *, deadline: float | None) -> AbstractConnection:
        delay = 0.1
        while True:
            try:
                return await aio_pika.connect(
                    _with_heartbeat(self._url.get_secret_value()),
                    client_properties={"connection_name": self._name},
                    timeout=5,
                )
            except CONNECT_ERRORS as exc:
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "broker not reachable (%s): %s", masked_url(self._url), type(exc).__name__
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            self._connected.clear()
            log.warning("broker connection lost; reconnecting")
            if self._connection is not None:
                with contextlib.suppress(*CONNECT_ERRORS):
                    await self._connection.close()
            self._adopt(await self._connect(deadline=None))
            log.info("broker connection restored")


BROKER = web.AppKey("broker", Broker)


def broker_context(settings: CommonSettings, *, name: str) -> CleanupContext:
    """A cleanup context that connects at start (failing it after `startup_timeout`)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        broker = Broker(settings.amqp_url, name=name, exchange=settings.events_exchange)
        await broker.start(timeout=settings.startup_timeout)
        app[BROKER] = broker
        add_readiness_check(app, "broker", broker.ready)
        try:
            yield
        finally:
            await broker.close()

    return context
