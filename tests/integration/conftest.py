"""The services in-process against real PostgreSQL and RabbitMQ: the registry alone with a test
token issuer, or the router in front of auth, the registry and the tests' upstream."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from latchkey.registry.app import create_app
from tests.support.apps import Services, ServicesFactory
from tests.support.infra import Infra
from tests.support.issuer import TokenMinter
from tests.support.portal import Portal, PortalFactory, routes
from tests.support.registry import Registry, RegistryFactory, registry_settings
from tests.support.upstream import upstream_app


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


@pytest.fixture
async def portal_factory(
    start_services: ServicesFactory, aiohttp_server: Any
) -> AsyncIterator[PortalFactory]:
    """The router, auth and the registry in-process with the tests' upstream routed under
    /agent/app (and, with `admin_app`, under /admin/app too, passing the token: its pages
    then share the token console's origin, which the router accepts only when told to);
    other keyword arguments are the router's settings."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:

        async def start(*, admin_app: bool = False, **router: Any) -> Portal[Services]:
            upstream: TestServer = await aiohttp_server(upstream_app())
            base = str(upstream.make_url("")).rstrip("/")
            settings = {"routes": routes(base, admin_app=admin_app), **router}
            if admin_app:
                settings["allow_console_shared_origin"] = True
            services = await start_services(
                names=("registry", "auth", "router"), overrides={"router": settings}
            )
            return await Portal.with_users(services, upstream, client)

        yield start


@pytest.fixture
async def portal(portal_factory: PortalFactory) -> Portal[Services]:
    return await portal_factory()
