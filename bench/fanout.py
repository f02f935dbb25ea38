"""The bare RabbitMQ fanout, measured like the revocations beside it: a durable fanout exchange,
persistent messages published with confirms, and as many consumers as there are service
instances, each in a process of its own with an exclusive server-named queue (as the services'
token-state sync declares it).

`python -m bench.fanout consume --url URL --exchange X --out FILE` consumes until a message
`stop` arrives, then writes each message id with its wall-clock receipt time to FILE.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aio_pika
import uvloop
from aio_pika.abc import AbstractIncomingMessage


async def declare(
    channel: aio_pika.abc.AbstractChannel, name: str
) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)


async def consume(url: str, exchange_name: str, out: Path) -> None:
    received: dict[str, float] = {}
    stop = asyncio.Event()
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await declare(channel, exchange_name)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)

        async def receive(message: AbstractIncomingMessage) -> None:
            at = time.time()
            if message.body == b"stop":
                stop.set()
            else:
                received[message.message_id or ""] = at

        await queue.consume(receive, no_ack=True)
        print("ready", flush=True)
        await stop.wait()
    out.write_text(json.dumps(received))


class Publisher:
    """Publishes numbered messages with confirms; remembers when each publish started."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange_name = exchange
        self.sent: dict[str, float] = {}
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def open(self) -> None:
        self._connection = await aio_pika.connect(self.url)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await declare(channel, self.exchange_name)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, message_id: str, body: bytes = b"{}") -> None:
        assert self._exchange is not None
        self.sent[message_id] = time.time()
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
        )
        await self._exchange.publish(message, routing_key="", mandatory=False)

    async def delete_exchange(self) -> None:
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.exchange_delete(self.exchange_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["consume"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(consume(args.url, args.exchange, args.out))
    sys.exit(0)


if __name__ == "__main__":
    main()
