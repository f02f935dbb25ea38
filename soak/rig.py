"""The soak's own world on this machine: a database, a private RabbitMQ node, a cuttable
PostgreSQL connection, a balancer in front of the registries, an upstream portal, and every
instance of every service as a process (the tests' own `Stack`, so both start services the
same way)."""

import asyncio
import contextlib
import secrets
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import asyncpg
from aiohttp import web
from yarl import URL

from soak.config import INSTANCES, REGISTRIES, STALE_MODES, SoakConfig
from soak.judge import Stalls
from soak.proxy import ProxyProcess
from tests.support.infra import Infra, create_database, drop_database
from tests.support.processes import ServiceProcess, free_port
from tests.support.rabbit import RabbitNode
from tests.support.stack import Stack

SOAK_ENV = {
    # What users run with, where the tests' Stack picks something quicker or noisier.
    "LATCHKEY_HEARTBEAT_INTERVAL": "1",
    "LATCHKEY_LOG_LEVEL": "INFO",
    # The soak counts every answer itself; a line per probe would only cost CPU and disk.
    "LATCHKEY_ACCESS_LOG": "false",
    # Four services with a pool each share one PostgreSQL server with everyone else's tests.
    "LATCHKEY_DATABASE_POOL_SIZE": "5",
}

RELAY_HOLDER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
"""
"""Which registry holds the relay lock: each names its connections after itself."""


@dataclass
class Rig:
    config: SoakConfig
    stack: Stack
    node: RabbitNode
    database: ProxyProcess
    """Every service's PostgreSQL connections pass through it: `block()` cuts them all."""
    balancer: ProxyProcess
    """Where services and the soak reach "the registry": whichever instance is up."""
    direct_database_url: str
    """The soak's database without the proxy, for looking at it during a cut."""
    stalls: Stalls = field(default_factory=Stalls)

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.balancer.port}"

    def instance(self, name: str) -> ServiceProcess:
        return self.stack.services[name]

    @property
    def instances(self) -> list[ServiceProcess]:
        return [self.stack.services[name] for name in INSTANCES]

    async def relaying_registry(self, *, wait: float = 10.0) -> str:
        """The registry instance that relays the outbox now (after a fault a standby may
        take a moment to take over)."""
        conn = await asyncpg.connect(self.direct_database_url, timeout=5)
        try:
            for _ in range(int(wait / 0.1)):
                holder: str | None = await conn.fetchval(RELAY_HOLDER)
                if holder is not None:
                    return holder
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        raise RuntimeError(f"no registry has held the relay lock for {wait:g}s")


@contextlib.asynccontextmanager
async def rig(config: SoakConfig) -> AsyncIterator[Rig]:
    """Everything up and ready; everything stopped and removed afterwards."""
    config.log_dir.mkdir(parents=True, exist_ok=True)
    for old in config.log_dir.glob("*.log"):
        old.unlink()
    node = await RabbitNode().start()
    database = f"latchkey_soak_{secrets.token_hex(4)}"
    try:
        direct_url = await create_database(config.database_server, database)
        try:
            async with _world(config, node, direct_url) as found:
                yield found
        finally:
            await drop_database(config.database_server, database)
    finally:
        await node.stop()


@contextlib.asynccontextmanager
async def _world(config: SoakConfig, node: RabbitNode, direct_url: str) -> AsyncIterator[Rig]:
    """The proxies, the upstream and the services, on a database and a node of their own."""
    direct = URL(direct_url)
    async with (
        _serve(_upstream()) as upstream_url,
        aiohttp.ClientSession() as session,
        ProxyProcess((direct.host or "127.0.0.1", direct.port or 5432)) as pg,
    ):
        stack = _stack(config, session, node, direct_url, pg.port)
        ports = [stack.ports.setdefault(registry, free_port()) for registry in REGISTRIES]
        async with ProxyProcess(*(("127.0.0.1", port) for port in ports)) as balancer:
            found = Rig(config, stack, node, pg, balancer, direct_url)
            try:
                await _start(found, upstream_url)
                yield found
            finally:
                await _stop(stack)


def _stack(
    config: SoakConfig, session: aiohttp.ClientSession, node: RabbitNode, direct: str, pg: int
) -> Stack:
    proxied = str(URL(direct).with_host("127.0.0.1").with_port(pg))
    infra = Infra(proxied, config.database_server, node.url, run_id="soak")
    stack = Stack(infra, proxied, "latchkey.token-events", config.log_dir, session)
    stack.env.update(SOAK_ENV, LATCHKEY_MAX_STALENESS=str(config.max_staleness))
    return stack


async def _start(rig: Rig, upstream_url: str) -> None:
    stack = rig.stack
    stack.env["LATCHKEY_REGISTRY_URL"] = rig.registry_url

    def process(name: str, **env: str) -> ServiceProcess:
        if name.startswith("registry"):
            # Named connections tell which registry holds the relay lock.
            env["LATCHKEY_DATABASE_URL"] = str(
                URL(stack.database_url).update_query(application_name=name)
            )
        if name.startswith("router"):
            env["LATCHKEY_ROUTES"] = f"/agent/app={upstream_url}"
            env["LATCHKEY_STALE_MODE"] = STALE_MODES[name]
        return stack.process(name, **env)

    # The first registry and auth migrate their schemas; everyone else starts on top.
    await asyncio.gather(process("registry").start(), process("auth").start())
    rest = [name for name in INSTANCES if name not in ("registry", "auth")]
    await asyncio.gather(*(process(name).start() for name in rest))


async def _stop(stack: Stack) -> None:
    for process in stack.services.values():
        if process.running:
            process.signal(signal.SIGCONT)  # a frozen process cannot hear SIGTERM
    await stack.stop()


def _upstream() -> web.Application:
    """The portal behind the routers: a page for every path (the tests' upstream records
    every request it sees, which a long soak cannot afford)."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="portal page")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


@contextlib.asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
