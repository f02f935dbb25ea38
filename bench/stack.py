"""Latchkey's services as processes on a database and an exchange of the bench's own, and a
client that signs in, creates users, mints tokens and opens sessions."""

import asyncio
import contextlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
from cryptography.fernet import Fernet
from yarl import URL

from bench.processes import Process, free_port

POSTGRES_URL = os.environ.get(
    "LATCHKEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("LATCHKEY_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

SERVICES = {
    "auth": ("latchkey.auth", "LATCHKEY_AUTH_PORT"),
    "registry": ("latchkey.registry", "LATCHKEY_REGISTRY_PORT"),
    "router": ("latchkey.portal", "LATCHKEY_ROUTER_PORT"),
}
ADMIN_USERNAME = "bench-admin"
USER_PASSWORD = "bench password 1"  # noqa: S105 (the bench user of a throwaway database)


@dataclass
class Stack:
    """auth, the registry and the router (and more instances of each) as processes."""

    log_dir: Path
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    credentials: dict[str, str] = field(
        default_factory=lambda: {name: secrets.token_urlsafe(32) for name in SERVICES}
    )
    """Each service's own credential (`LATCHKEY_<SERVICE>_CREDENTIAL`): the bench presents
    the one of the service whose call it makes (the registry's to sign, auth's to record)."""
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    session_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    key_encryption_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Process] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None

    @property
    def database(self) -> str:
        return f"latchkey_bench_{self.run_id}"

    @property
    def database_url(self) -> str:
        return str(URL(POSTGRES_URL).with_path(f"/{self.database}"))

    @property
    def exchange(self) -> str:
        return f"latchkey.bench.{self.run_id}"

    def internal(self, caller: str) -> dict[str, str]:
        """Headers of an internal call made as service `caller`."""
        return {"Authorization": f"Bearer {self.credentials[caller]}"}

    def url(self, name: str) -> str:
        return self.services[name].url

    def env(self) -> dict[str, str]:
        for name in SERVICES:
            self.ports.setdefault(name, free_port())
        return {
            "LATCHKEY_DATABASE_URL": self.database_url,
            "LATCHKEY_AMQP_URL": AMQP_URL,
            "LATCHKEY_EVENTS_EXCHANGE": self.exchange,
            **{
                f"LATCHKEY_{name.upper()}_CREDENTIAL": credential
                for name, credential in self.credentials.items()
            },
            "LATCHKEY_KEY_ENCRYPTION_KEY": self.key_encryption_key,
            "LATCHKEY_ADMIN_USERNAME": ADMIN_USERNAME,
            "LATCHKEY_ADMIN_PASSWORD": self.admin_password,
            "LATCHKEY_SESSION_KEYS": self.session_key,
            "LATCHKEY_AUTH_URL": f"http://127.0.0.1:{self.ports['auth']}",
            "LATCHKEY_REGISTRY_URL": f"http://127.0.0.1:{self.ports['registry']}",
            "LATCHKEY_ACCESS_LOG": "false",
            "LATCHKEY_LOG_LEVEL": "WARNING",
            "LATCHKEY_LOG_FORMAT": "text",
            "LATCHKEY_STARTUP_TIMEOUT": "20",
            **self.extra_env,
        }

    async def create_database(self) -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    async def drop_database(self) -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await conn.close()

    async def delete_exchange(self) -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
        async with connection:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(self.exchange)

    def process(self, name: str, **env: str) -> Process:
        """Instance `name` (`auth`, `registry-2`, ...), not started yet."""
        service = name.split("-")[0]
        module, port_variable = SERVICES[service]
        port = self.ports.setdefault(name, free_port())
        environment = {**self.env(), "LATCHKEY_INSTANCE_ID": name, **env, port_variable: str(port)}
        if service == "router":
            # The admin portal's port of its own (9004 by default) for every router instance:
            # two instances cannot both bind 9004, nor can one beside a `make run`.
            admin_port = self.ports.setdefault(name + ":admin", free_port())
            portals = {"agent": {"embeddable": True}, "admin": {"port": admin_port}}
            environment.setdefault("LATCHKEY_PORTALS", json.dumps(portals))
        process = Process(name, module, env=environment, log_dir=self.log_dir, port=port)
        self.services[name] = process
        return process

    async def start(self, *names: str, **env: str) -> None:
        await asyncio.gather(
            *(self.process(name, **env).start(ready_path="/readyz") for name in names)
        )

    async def stop(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.services.values()))

    # --- calls -----------------------------------------------------------------------------

    async def call(
        self, name: str, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        assert self.http is not None
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url(name) + path, headers=headers, **kw) as reply:
            body = await reply.json(content_type=None) if reply.content_length != 0 else None
            return reply.status, body, reply.headers

    async def login(self, username: str = ADMIN_USERNAME, password: str | None = None) -> str:
        body = {
            "username": username,
            "password": password or self.admin_password,
            "channel": "FLUTTER",
            "platform": "BYTEDESK",
        }
        status, answer, _ = await self.call("auth", "POST", "/auth/v1/login", json=body)
        if status != 200:
            raise RuntimeError(f"login answered {status}: {answer}")
        token: str = answer["data"]["accessToken"]
        return token

    async def create_user(self, admin: str, username: str, **fields: Any) -> str:
        body = {"username": username, "password": USER_PASSWORD, **fields}
        status, answer, _ = await self.call(
            "auth", "POST", "/auth/v1/users", token=admin, json=body
        )
        if status != 201:
            raise RuntimeError(f"creating a user answered {status}: {answer}")
        return str(answer["data"]["userId"])
