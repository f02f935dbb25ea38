"""Auth, the registry and the router in the test's own process, on real sockets, against real
PostgreSQL and RabbitMQ: most rules are tested this way, without starting processes."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

from latchkey.auth.app import create_app as create_auth
from latchkey.auth.settings import AuthSettings
from latchkey.common.http_server import Runner
from latchkey.common.tokenstate.runtime import TOKEN_STATE
from latchkey.portal.app import create_app as create_router
from latchkey.portal.settings import RouterSettings
from latchkey.registry.app import create_app as create_registry
from latchkey.registry.settings import RegistrySettings
from tests.support.credentials import KEY_ENCRYPTION_KEY, credential_settings
from tests.support.infra import Infra
from tests.support.processes import free_port
from tests.support.stack import ADMIN_PASSWORD, ADMIN_USERNAME, USER_PASSWORD, Reply

SESSION_KEY = Fernet.generate_key().decode()
FAST_HASHING = {"password_time_cost": 1, "password_memory_cost": 8192, "password_parallelism": 1}

AppFactory = Callable[[web.Application], web.Application]
BUILDERS: dict[str, tuple[type[Any], Callable[[Any], web.Application]]] = {
    "registry": (RegistrySettings, create_registry),
    "auth": (AuthSettings, create_auth),
    "router": (RouterSettings, create_router),
}
"""Each service's settings class and app factory, as its `__main__` uses them."""


@dataclass
class Services:
    """The three services in-process, and a client that speaks to them as clients do."""

    http: aiohttp.ClientSession
    urls: dict[str, str]
    apps: dict[str, web.Application] = field(default_factory=dict)

    @property
    def router_url(self) -> str:
        return self.urls["router"]

    def admin_url(self) -> str:
        """Where the router serves the admin portal (and the token console)."""
        return self.urls["router:admin"]

    async def call(
        self, service: str, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> Reply:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, self.urls[service] + path, headers=headers, allow_redirects=False, **kw
        ) as response:
            return await Reply.read(response)

    async def login(
        self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, **extra: Any
    ) -> Reply:
        """A login as existing clients send it."""
        body = {"username": username, "password": password, "channel": "FLUTTER"}
        return await self.call(
            "auth", "POST", "/auth/v1/login", json={**body, "platform": "BYTEDESK", **extra}
        )

    async def token(self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> str:
        status, body = await self.login(username, password, channel="WEB", platform="WEB")
        assert status == 200, body
        token: str = body["data"]["accessToken"]
        return token

    async def create_user(self, admin: str, username: str, **fields: Any) -> dict[str, Any]:
        status, body = await self.call(
            "auth",
            "POST",
            "/auth/v1/users",
            token=admin,
            json={"username": username, "password": USER_PASSWORD, **fields},
        )
        assert status == 201, body
        user: dict[str, Any] = body["data"]
        return user

    async def live(self, timeout: float = 10.0) -> None:
        """Every token-state view is loaded and fresh."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not all(app[TOKEN_STATE].live() for app in self.apps.values()):
            assert asyncio.get_running_loop().time() < deadline, "views not live in time"
            await asyncio.sleep(0.02)


def settings_for(
    infra: Infra, database_url: str, exchange: str, urls: dict[str, str], ports: dict[str, int]
) -> dict[str, dict[str, Any]]:
    common = {
        "amqp_url": infra.amqp_url,
        "events_exchange": exchange,
        "startup_timeout": 10,
        "log_format": "text",
        "router_port": ports["router"],
        "portals": {"agent": {"embeddable": True}, "admin": {"port": ports["router:admin"]}},
    }
    stored = {"database_url": database_url, "key_encryption_key": KEY_ENCRYPTION_KEY}
    return {
        "registry": {
            **common,
            **stored,
            **credential_settings("registry"),
            "auth_url": urls["auth"],
            "registry_port": ports["registry"],
            "relay_poll_interval": 0.2,
            "heartbeat_interval": 0.2,
        },
        "auth": {
            **common,
            **stored,
            **credential_settings("auth"),
            **FAST_HASHING,
            "registry_url": urls["registry"],
            "auth_port": ports["auth"],
            "admin_username": ADMIN_USERNAME,
            "admin_password": ADMIN_PASSWORD,
        },
        "router": {
            **common,
            **credential_settings("router"),
            "auth_url": urls["auth"],
            "registry_url": urls["registry"],
            "session_keys": SESSION_KEY,
        },
    }


@asynccontextmanager
async def running_services(
    infra: Infra,
    database_url: str,
    exchange: str,
    *,
    names: tuple[str, ...] = ("registry", "auth", "router"),
    overrides: dict[str, dict[str, Any]] | None = None,
    wrap: dict[str, AppFactory] | None = None,
) -> AsyncIterator[Services]:
    """The services named, started in-process (with `overrides` of their settings, and each
    app passed through `wrap[name]` before it starts, to stand in a piece of it)."""
    ports = {name: free_port() for name in ("registry", "auth", "router", "router:admin")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    values = settings_for(infra, database_url, exchange, urls, ports)
    for name, extra in (overrides or {}).items():
        portals = {**values[name]["portals"]}
        for portal, options in extra.get("portals", {}).items():  # merged: ports stay
            portals[portal] = {**portals.get(portal, {}), **options}
        values[name].update({**extra, "portals": portals})
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        services = Services(http, urls)
        for name in names:  # the registry first: auth records its first admin's logins there
            settings_class, create = BUILDERS[name]
            settings = settings_class(_env_file=None, **values[name])
            app = create(settings)
            if wrap and name in wrap:
                app = wrap[name](app)
            runner = Runner(app, shutdown_timeout=1)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            listening = (
                settings.listening_ports()
                if isinstance(settings, RouterSettings)
                else [ports[name]]
            )
            for port in listening:
                await web.TCPSite(runner, "127.0.0.1", port).start()
            services.apps[name] = app
        yield services


ServicesFactory = Callable[..., Awaitable[Services]]
"""`start_services(names=..., overrides=...)`: services started for a test (a fixture)."""
