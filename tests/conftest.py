"""Fixtures shared by every test: the run's infrastructure, isolated per run and per test, and
the services in this process on real sockets."""

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import aio_pika
import pytest

from tests.support.apps import Services, ServicesFactory, running_services
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


@pytest.fixture
async def start_services(
    infra: Infra, fresh_database: str, exchange: str
) -> AsyncIterator[ServicesFactory]:
    """Start services in this process on real sockets (auth and the registry unless `names`
    says otherwise), with `overrides` of their settings by service, and wait until their
    token-state views are live; all stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(
            *,
            names: tuple[str, ...] = ("registry", "auth"),
            overrides: dict[str, dict[str, Any]] | None = None,
        ) -> Services:
            started = await stack.enter_async_context(
                running_services(infra, fresh_database, exchange, names=names, overrides=overrides)
            )
            await started.live()
            return started

        yield start


@pytest.fixture
async def services(start_services: ServicesFactory) -> Services:
    """Auth and the registry in this process: the rules of a login, a token and an event,
    without starting processes."""
    return await start_services()


@pytest.fixture
async def every_service(start_services: ServicesFactory) -> Services:
    """Auth, the registry and the router in this process."""
    return await start_services(names=("registry", "auth", "router"))
