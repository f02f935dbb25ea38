"""Services started as real processes, stopped (and their logs kept) after each test."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.support.infra import Infra
from tests.support.issuer import TokenMinter
from tests.support.portal import Portal, PortalFactory, ProcessFactory, routes
from tests.support.processes import ServiceProcess, free_port
from tests.support.stack import Stack
from tests.support.upstream import upstream_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
async def minter(aiohttp_server: Any) -> tuple[TokenMinter, str]:
    """A stand-in issuer's JWKS on a real socket (for tests that run without auth)."""
    issuer = TokenMinter()
    server: TestServer = await aiohttp_server(issuer.app())
    return issuer, str(server.make_url("")).rstrip("/")


@pytest.fixture
def log_dir(request: pytest.FixtureRequest) -> Path:
    path = ARTIFACTS / "logs" / request.node.name.replace("/", "_")[:120]
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.log"):
        old.unlink()
    return path


@pytest.fixture
async def processes(log_dir: Path) -> AsyncIterator[ProcessFactory]:
    """Start services as processes; every one still running is stopped after the test."""
    started: list[ServiceProcess] = []

    async def start(
        name: str, module: str, env: dict[str, str], port_variable: str, **kw: Any
    ) -> ServiceProcess:
        port = free_port()
        process = ServiceProcess(name, module, {**env, port_variable: str(port)}, port, log_dir)
        started.append(process)
        return await process.start(**kw)

    yield start
    for process in started:
        await process.stop()


@pytest.fixture
async def stack(
    infra: Infra, fresh_database: str, exchange: str, log_dir: Path
) -> AsyncIterator[Stack]:
    """auth and the registry, not started yet: `await stack.start("auth", "registry")`."""
    async with aiohttp.ClientSession() as session:
        services = Stack(infra, fresh_database, exchange, log_dir, session)
        yield services
        await services.stop()


@pytest.fixture
async def portal_factory(stack: Stack, aiohttp_server: Any) -> AsyncIterator[PortalFactory]:
    """Start the whole stack and the tests' upstream, routed under /agent/app (and, with
    `admin_app`, under /admin/app too, passing the token: its pages then share the token
    console's origin, which the router accepts only when told to)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:

        async def start(*, admin_app: bool = False, **router_env: str) -> Portal[Stack]:
            upstream: TestServer = await aiohttp_server(upstream_app())
            base = str(upstream.make_url("")).rstrip("/")
            await stack.start("registry", "auth")
            env: dict[str, str] = {"LATCHKEY_ROUTES": routes(base, admin_app=admin_app)}
            if admin_app:
                env["LATCHKEY_ALLOW_CONSOLE_SHARED_ORIGIN"] = "true"
            env.update(router_env)
            await stack.start("router", **env)
            return await Portal.with_users(stack, upstream, client)

        yield start


@pytest.fixture
async def portal(portal_factory: PortalFactory) -> Portal[Stack]:
    return await portal_factory()
