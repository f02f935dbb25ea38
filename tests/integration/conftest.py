"""The registry in-process against real PostgreSQL and RabbitMQ, with a test token issuer."""

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from latchkey.registry.app import create_app
from tests.support.infra import Infra
from tests.support.issuer import TokenMinter
from tests.support.registry import Registry, RegistryFactory, registry_settings


@pytest.fixture
async def issuer_url(aiohttp_server: Any) -> tuple[TokenMinter, str]:
    issuer = TokenMinter()
    server: TestServer = await aiohttp_server(issuer.app())
    return issuer, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def start_registry(
    infra: Infra,
    exchange: str,
    issuer_url: tuple[TokenMinter, str],
    aiohttp_client: Any,
) -> RegistryFactory:
    """Start a registry (call again for a second instance on the same database)."""
    issuer, url = issuer_url

    async def start(database_url: str | None = None, **overrides: Any) -> Registry:
        settings = registry_settings(
            infra,
            database_url=database_url or infra.database_url,
            exchange=exchange,
            auth_url=url,
            **overrides,
        )
        client = await aiohttp_client(create_app(settings))
        return Registry(client=client, issuer=issuer, settings=settings)

    return start


@pytest.fixture
async def registry(start_registry: RegistryFactory) -> Registry:
    return await start_registry()
