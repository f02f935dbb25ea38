"""Where the tests' PostgreSQL and RabbitMQ come from, and the per-run isolation on top of them.

`LATCHKEY_TEST_DATABASE_URL` / `LATCHKEY_TEST_AMQP_URL` point at running servers; without them
the servers are started with testcontainers. When neither works the run stops at once and says
what to set: a missing database is a failure, never a skip.
"""

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import aio_pika
import asyncpg
import pytest
from yarl import URL

HOW_TO = (
    "set LATCHKEY_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres) and "
    "LATCHKEY_TEST_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/), or make a Docker engine "
    "available for testcontainers"
)


@dataclass(frozen=True)
class Infra:
    database_url: str
    """A database of this run's own, dropped at the end."""
    server_url: str
    """The PostgreSQL server (maintenance database) it lives on, to create more."""
    amqp_url: str
    run_id: str

    @property
    def exchange(self) -> str:
        return f"latchkey.test.{self.run_id}.token-events"


def _stop(message: str) -> None:
    pytest.exit(f"Cannot reach the test infrastructure: {message}; {HOW_TO}.", returncode=3)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    url = os.environ.get("LATCHKEY_TEST_DATABASE_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
    except Exception as exc:
        _stop(f"no LATCHKEY_TEST_DATABASE_URL and testcontainers failed ({type(exc).__name__})")
        raise
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@contextlib.contextmanager
def rabbitmq_server() -> Iterator[str]:
    url = os.environ.get("LATCHKEY_TEST_AMQP_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-alpine")
        container.start()
    except Exception as exc:
        _stop(f"no LATCHKEY_TEST_AMQP_URL and testcontainers failed ({type(exc).__name__})")
        raise
    try:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        yield f"amqp://{container.username}:{container.password}@{host}:{port}/"
    finally:
        container.stop()


def database_url_for(server_url: str, name: str) -> str:
    return str(URL(server_url).with_path(f"/{name}"))


async def create_database(server_url: str, name: str) -> str:
    try:
        conn = await asyncpg.connect(server_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        _stop(f"PostgreSQL at {URL(server_url).with_password(None)} answered {exc!r}")
        raise
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url_for(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def check_broker(amqp_url: str) -> None:
    try:
        connection = await aio_pika.connect(amqp_url, timeout=10)
    except Exception as exc:
        _stop(f"RabbitMQ answered {type(exc).__name__}")
        raise
    await connection.close()


async def delete_exchanges(amqp_url: str, prefix: str) -> None:
    """Exchanges are named per run; remove this run's (RabbitMQ has no pattern delete)."""
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for name in (f"{prefix}.token-events",):
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)


@contextlib.contextmanager
def provision_infra() -> Iterator[Infra]:
    run_id = secrets.token_hex(4)
    with postgres_server() as server_url, rabbitmq_server() as amqp_url:
        name = f"latchkey_test_{run_id}"
        database_url = asyncio.run(create_database(server_url, name))
        asyncio.run(check_broker(amqp_url))
        try:
            yield Infra(database_url, server_url, amqp_url, run_id)
        finally:
            asyncio.run(drop_database(server_url, name))
            asyncio.run(delete_exchanges(amqp_url, f"latchkey.test.{run_id}"))
