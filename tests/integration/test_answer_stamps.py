"""The registry's time stamps on what tells instances how fresh they are (heartbeats, event
pages, snapshots) are taken before the sequence number is read: everything committed by that
time is in the answer, so an instance can never believe itself fresher than it is."""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from latchkey.common.db import POOL
from latchkey.common.event_signing import EventSigner
from latchkey.registry import repository, state
from latchkey.registry.relay import OutboxRelay
from tests.support.registry import Registry

Reads = list[tuple[asyncio.Task[Any] | None, datetime]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """When each read of the latest sequence number started, and by which task. Each takes a
    while, as a busy database's would, so a stamp taken after the read cannot pass for one
    taken before."""
    started: Reads = []
    read = repository.latest_seq

    async def slow_read(conn: Any) -> int:
        started.append((asyncio.current_task(), datetime.now(UTC)))
        await asyncio.sleep(0.02)
        return await read(conn)

    monkeypatch.setattr(repository, "latest_seq", slow_read)
    return started


def my_last_read(reads: Reads) -> datetime:
    """The test's own last read (the registry's relay reads too, meanwhile)."""
    return [at for task, at in reads if task is asyncio.current_task()][-1]


async def test_an_events_page_is_stamped_before_its_read(registry: Registry, reads: Reads) -> None:
    page = await state.events_after(registry.app[POOL], after=0, limit=10)
    assert page.at is not None
    assert page.at <= my_last_read(reads)


async def test_a_snapshot_is_stamped_before_its_read(registry: Registry, reads: Reads) -> None:
    snapshot = await state.snapshot(registry.app[POOL])
    assert snapshot.at is not None
    assert snapshot.at <= my_last_read(reads)


class Exchange:
    """Stands in for the broker's exchange: what the relay publishes is all that is looked at."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def publish(self, message: Any, **_: Any) -> None:
        self.bodies.append(json.loads(message.body))


async def test_a_heartbeat_is_stamped_before_its_read(registry: Registry, reads: Reads) -> None:
    relay = OutboxRelay(
        settings=registry.settings,
        broker=None,  # type: ignore[arg-type]  (not used to publish one heartbeat)
        signer=EventSigner(Ed25519PrivateKey.generate()),
    )
    exchange = Exchange()
    conn = await asyncpg.connect(registry.settings.database_url.get_secret_value())
    try:
        await relay._publish_heartbeat(conn, exchange)  # type: ignore[arg-type]
    finally:
        await conn.close()
    (heartbeat,) = exchange.bodies
    assert heartbeat["type"] == "heartbeat"
    assert datetime.fromisoformat(heartbeat["at"]) <= my_last_read(reads)
