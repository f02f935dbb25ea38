"""A queue of the tests' own on the events exchange: what every instance would hear."""

import asyncio
import json
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage


class EventTap:
    """Collects token events (and, when asked, heartbeats) published to an exchange."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        self._url = amqp_url
        self._exchange = exchange
        self._connection: AbstractConnection | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.heartbeats: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> "EventTap":
        self._connection = await aio_pika.connect(self._url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self._exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange)
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        await self._connection.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        target = self.heartbeats if body.get("type") == "heartbeat" else self.events
        await target.put(body)

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def collect(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        async def gather() -> list[dict[str, Any]]:
            return [await self.events.get() for _ in range(count)]

        return await asyncio.wait_for(gather(), timeout)

    async def quiet(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Whatever else arrives within `seconds` (to assert that nothing more did)."""
        await asyncio.sleep(seconds)
        extra = []
        while not self.events.empty():
            extra.append(self.events.get_nowait())
        return extra
