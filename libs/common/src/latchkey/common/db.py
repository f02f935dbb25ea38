"""The PostgreSQL pool: opened with a bounded wait at start, closed on shutdown."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from aiohttp import web
from pydantic import SecretStr

from latchkey.common.edge import OUTAGES
from latchkey.common.health import add_readiness_check
from latchkey.common.lifecycle import CleanupContext, background
from latchkey.common.migrations import Migrations
from latchkey.common.outages import Outage, is_database_outage
from latchkey.common.settings import DatabaseSettings, masked_url

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
"""A new pool connection that takes longer than this is an outage (asyncpg's default is a
minute, which a request would wait out before answering 503)."""

Connection: TypeAlias = asyncpg.Connection


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pool connection released without asyncpg's reset query (a round trip each time):
    pooled connections never keep session state (no SET, no LISTEN: the relay's LISTEN
    has a connection of its own), so there is nothing to reset."""

    def get_reset_query(self) -> str:
        return ""


"""A connection, or the pool's proxy of one (they answer the same calls)."""


async def init_connection(connection: asyncpg.Connection) -> None:
    """JSON columns come back as Python values."""
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def connect_with_retry(dsn: SecretStr, *, timeout: float) -> asyncpg.Connection:
    """One connection, retried for `timeout` seconds (the database may still be starting)."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            connection: asyncpg.Connection = await asyncpg.connect(dsn.get_secret_value())
            return connection
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable yet (%s): %s", masked_url(dsn), type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


@asynccontextmanager
async def open_pool(dsn: SecretStr, *, size: int, timeout: float) -> AsyncIterator[asyncpg.Pool]:
    """An open pool, its first connection retried for `timeout` seconds; closed on exit."""
    probe = await connect_with_retry(dsn, timeout=timeout)
    await probe.close()
    pool = await asyncpg.create_pool(
        dsn.get_secret_value(),
        # No floor: asyncpg keeps one by reconnecting in the background, logging a traceback
        # at each try, so an outage would be a stack of traces; connections are made as
        # requests need them, and stay (max_inactive_connection_lifetime) while they do.
        min_size=0,
        max_size=size,
        init=init_connection,
        connection_class=PooledConnection,
        timeout=CONNECT_TIMEOUT,
        # The default recycles every connection after 50k queries, a needless latency spike.
        max_queries=10_000_000,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    log.info("database pool open: %s (%d connections at most)", masked_url(dsn), size)
    try:
        yield pool
    finally:
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("database connections still busy after %ss; terminating", CLOSE_TIMEOUT)
            pool.terminate()


POOL = web.AppKey("pool", asyncpg.Pool)


def pool_context(
    settings: DatabaseSettings, *, startup_timeout: float, migrations: Migrations | None = None
) -> CleanupContext:
    """A cleanup context that migrates (when given migrations), then stores the pool."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if migrations is not None:
            connection = await connect_with_retry(settings.database_url, timeout=startup_timeout)
            try:
                await migrations.apply(connection)
            finally:
                await connection.close()
        async with open_pool(
            settings.database_url, size=settings.database_pool_size, timeout=startup_timeout
        ) as pool:
            app[POOL] = pool
            outage = app[OUTAGES].of("database")
            outage.probe = lambda: pool.fetchval("SELECT 1")
            add_readiness_check(app, "database", lambda: database_ready(pool, outage))
            async with background(outage.watch(), name="database-outage"):
                yield

    return context


async def database_ready(pool: asyncpg.Pool, outage: Outage | None = None) -> tuple[bool, str]:
    """Readiness probe: a round trip to the database (an outage it finds is logged once,
    like one a request finds)."""
    try:
        await pool.fetchval("SELECT 1")
    except Exception as exc:
        if outage is None or not is_database_outage(exc):
            raise
        outage.failed(exc)
        return False, f"unavailable ({type(exc).__name__})"
    if outage is not None:
        outage.answered()
    return True, "ok"
