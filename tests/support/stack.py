"""Latchkey's services started together as real processes, and a client that speaks to them."""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet

from tests.support.credentials import KEY_ENCRYPTION_KEY, credential_env
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess, free_port

ADMIN_USERNAME = "root"
ADMIN_PASSWORD = "correct horse battery staple"

USER_PASSWORD = "a long password 1"

FAST_HASHING = {
    # Cheap argon2id so the suite is quick; the parameters are what makes a hash slow,
    # not the code under test.
    "LATCHKEY_PASSWORD_TIME_COST": "1",
    "LATCHKEY_PASSWORD_MEMORY_COST": "8192",
    "LATCHKEY_PASSWORD_PARALLELISM": "1",
}


SERVICES = {
    "auth": ("latchkey.auth", "LATCHKEY_AUTH_PORT"),
    "registry": ("latchkey.registry", "LATCHKEY_REGISTRY_PORT"),
    "router": ("latchkey.portal", "LATCHKEY_ROUTER_PORT"),
}
SESSION_KEY = Fernet.generate_key().decode()


@dataclass
class Reply:
    """One answer of a service, read whole. It also unpacks as `(status, body)`, the way
    the shorter in-process tests read it."""

    status: int
    body: Any
    headers: dict[str, str]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.status, self.body))

    def __getitem__(self, index: int) -> Any:
        return (self.status, self.body)[index]

    @classmethod
    async def read(cls, response: aiohttp.ClientResponse) -> "Reply":
        """The whole answer: its body as JSON when it is JSON, else as text."""
        text = await response.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        return cls(response.status, body, dict(response.headers))

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def reason(self) -> str | None:
        return self.body.get("reason") if isinstance(self.body, dict) else None


@dataclass
class Stack:
    """auth and the registry as processes on one database and one exchange."""

    infra: Infra
    database_url: str
    exchange: str
    log_dir: Path
    session: aiohttp.ClientSession
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(
        default_factory=lambda: {
            "auth": free_port(),
            "registry": free_port(),
            "router": free_port(),
            "router:admin": free_port(),
        }
    )
    """Ports by instance name: `auth`, `auth-2`, `registry`, ... (the first ones are
    where services find each other)."""

    @property
    def auth(self) -> ServiceProcess:
        return self.services["auth"]

    @property
    def registry(self) -> ServiceProcess:
        return self.services["registry"]

    @property
    def router(self) -> ServiceProcess:
        return self.services["router"]

    @property
    def router_url(self) -> str:
        return self.router.url

    def portals(self, router: str) -> str:
        """LATCHKEY_PORTALS for a router instance: the admin portal on a port of its own."""
        admin = self.ports.setdefault(f"{router}:admin", free_port())
        return json.dumps({"agent": {"embeddable": True}, "admin": {"port": admin}})

    def admin_url(self, router: str = "router") -> str:
        """Where a router serves the admin portal (and the token console)."""
        scheme = self.services[router].url.split(":", 1)[0] if router in self.services else "http"
        return f"{scheme}://127.0.0.1:{self.ports[f'{router}:admin']}"

    def common_env(self) -> dict[str, str]:
        return {
            "LATCHKEY_DATABASE_URL": self.database_url,
            "LATCHKEY_AMQP_URL": self.infra.amqp_url,
            "LATCHKEY_EVENTS_EXCHANGE": self.exchange,
            "LATCHKEY_KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
            "LATCHKEY_LOG_FORMAT": "json",
            "LATCHKEY_LOG_LEVEL": "DEBUG",
            "LATCHKEY_STARTUP_TIMEOUT": "10",
            "LATCHKEY_AUTH_URL": f"http://127.0.0.1:{self.ports['auth']}",
            "LATCHKEY_REGISTRY_URL": f"http://127.0.0.1:{self.ports['registry']}",
            "LATCHKEY_ADMIN_USERNAME": ADMIN_USERNAME,
            "LATCHKEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LATCHKEY_HEARTBEAT_INTERVAL": "0.2",
            "LATCHKEY_SESSION_KEYS": SESSION_KEY,
            # Every service reads the portals (the registry's console links into them).
            "LATCHKEY_ROUTER_PORT": str(self.ports["router"]),
            "LATCHKEY_PORTALS": self.portals("router"),
            **FAST_HASHING,
            **self.env,
        }

    def process(self, name: str, **env: str) -> ServiceProcess:
        """The process of instance `name` (`auth`, `registry-2`, ...), not started yet. A
        router serves the admin portal on a port of its own (`admin_url`), as `make run`."""
        service = name.split("-")[0]
        module, port_variable = SERVICES[service]
        port = self.ports.setdefault(name, free_port())
        if service == "router":
            if "LATCHKEY_PORTALS" not in env and name != "router":
                env = {**env, "LATCHKEY_PORTALS": self.portals(name)}
            portals = json.loads(env.get("LATCHKEY_PORTALS") or self.portals(name))
            self.ports[f"{name}:admin"] = portals.get("admin", {}).get("port") or port
        environment = {
            **self.common_env(),
            **credential_env(service),
            "LATCHKEY_INSTANCE_ID": name,
            **env,
            port_variable: str(port),
        }
        process = ServiceProcess(name, module, environment, port, self.log_dir)
        self.services[name] = process
        return process

    def instances(self, service: str) -> list[ServiceProcess]:
        return [p for name, p in self.services.items() if name.split("-")[0] == service]

    async def start(self, *names: str, ready: bool = True, **env: str) -> "Stack":
        """Start services and wait for `/readyz` (or only `/healthz` with ready=False)."""
        await asyncio.gather(*(self.process(name, **env).start(ready=ready) for name in names))
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.services.values()))

    async def call(
        self, service: str, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> Reply:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self.services[service].url + path
        async with self.session.request(method, url, headers=headers, ssl=False, **kw) as response:
            return await Reply.read(response)

    async def login(
        self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, **extra: Any
    ) -> Reply:
        body = {
            "username": username,
            "password": password,
            "channel": "FLUTTER",
            "platform": "BYTEDESK",
            **extra,
        }
        return await self.call("auth", "POST", "/auth/v1/login", json=body)

    async def token(self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> str:
        reply = await self.login(username, password)
        assert reply.status == 200, reply.body
        token: str = reply.data["accessToken"]
        return token

    async def create_user(
        self, admin: str, username: str, password: str = USER_PASSWORD, **fields: Any
    ) -> dict[str, Any]:
        reply = await self.call(
            "auth",
            "POST",
            "/auth/v1/users",
            token=admin,
            json={"username": username, "password": password, **fields},
        )
        assert reply.status == 201, reply.body
        user: dict[str, Any] = reply.data
        return user
