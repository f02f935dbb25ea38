"""Services started as real processes, stopped (and their logs kept) after each test."""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import INTERNAL_TOKEN
from tests.support.infra import Infra
from tests.support.issuer import TokenMinter
from tests.support.processes import ServiceProcess, free_port
from tests.support.stack import Stack

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


def base_env(infra: Infra, *, database_url: str, exchange: str, auth_url: str) -> dict[str, str]:
    return {
        "LATCHKEY_DATABASE_URL": database_url,
        "LATCHKEY_AMQP_URL": infra.amqp_url,
        "LATCHKEY_EVENTS_EXCHANGE": exchange,
        "LATCHKEY_AUTH_URL": auth_url,
        "LATCHKEY_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "LATCHKEY_LOG_FORMAT": "json",
        "LATCHKEY_LOG_LEVEL": "DEBUG",
        "LATCHKEY_STARTUP_TIMEOUT": "10",
    }


ProcessFactory = Callable[..., Awaitable[ServiceProcess]]


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
