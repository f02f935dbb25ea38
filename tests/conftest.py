"""Fixtures shared by every test: the run's infrastructure, isolated per run and per test."""

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from tests.support.infra import Infra, create_database, drop_database, provision_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provision_infra() as found:
        yield found


@pytest.fixture
async def exchange(infra: Infra) -> AsyncIterator[str]:
    """An events exchange of this test's own, deleted afterwards."""
    name = f"latchkey.test.{infra.run_id}.{secrets.token_hex(3)}"
    yield name
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        with contextlib.suppress(Exception):
            await channel.exchange_delete(name)


@pytest.fixture
async def fresh_database(infra: Infra) -> AsyncIterator[str]:
    """A database of this test's own, for tests that count every event or row."""
    name = f"latchkey_test_{infra.run_id}_{secrets.token_hex(3)}"
    url = await create_database(infra.server_url, name)
    yield url
    await drop_database(infra.server_url, name)
