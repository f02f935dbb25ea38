"""The router in front of auth, the registry and the tests' upstream (`Portal`), with what it
takes to sign in and call it, over services run as processes (`Stack`) or in the test's own
process (`Services`); and the environment a service process gets."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
import jwt
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from pydantic.alias_generators import to_camel
from yarl import URL

from tests.support.credentials import KEY_ENCRYPTION_KEY, credential_env
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess
from tests.support.stack import USER_PASSWORD, Reply


def base_env(infra: Infra, *, database_url: str, exchange: str, auth_url: str) -> dict[str, str]:
    return {
        "LATCHKEY_DATABASE_URL": database_url,
        "LATCHKEY_AMQP_URL": infra.amqp_url,
        "LATCHKEY_EVENTS_EXCHANGE": exchange,
        "LATCHKEY_AUTH_URL": auth_url,
        "LATCHKEY_KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
        **credential_env("registry"),
        "LATCHKEY_LOG_FORMAT": "json",
        "LATCHKEY_LOG_LEVEL": "DEBUG",
        "LATCHKEY_STARTUP_TIMEOUT": "10",
    }


ProcessFactory = Callable[..., Awaitable[ServiceProcess]]


class Backend(Protocol):
    """What a portal needs of the services behind it, run as processes or in-process."""

    @property
    def router_url(self) -> str: ...

    def admin_url(self) -> str: ...

    async def token(self, username: str = ..., password: str = ...) -> str: ...

    async def call(
        self, service: str, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> Reply: ...

    async def create_user(self, admin: str, username: str, **fields: Any) -> dict[str, Any]: ...


BackendT = TypeVar("BackendT", bound=Backend)


def routes(upstream: str, *, admin_app: bool) -> str:
    """LATCHKEY_ROUTES of a portal test: the upstream under /agent/app (and, with `admin_app`,
    under /admin/app too, passing the token)."""
    return f"/agent/app={upstream}" + (f",/admin/app={upstream}+token" if admin_app else "")


@dataclass
class Page:
    """An answer from the router, read whole (the tests look at status, headers and body)."""

    status: int
    headers: "CIMultiDictProxy[str]"
    body: bytes

    async def json(self) -> Any:
        return json.loads(self.body)

    async def text(self) -> str:
        return self.body.decode()


@dataclass
class Portal(Generic[BackendT]):
    """The router in front of auth, the registry and the tests' upstream."""

    stack: BackendT
    upstream: TestServer
    client: aiohttp.ClientSession

    async def request(
        self, method: str, path: str, *, cookies: dict[str, str] | None = None, **kw: Any
    ) -> Page:
        headers = dict(kw.pop("headers", {}))
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        # Sent as written (encoded=True): dot segments and escapes must reach the router. The
        # admin portal is on an origin (port) of its own.
        url = URL(self.origin_for(path) + path, encoded=True)
        async with self.client.request(
            method, url, headers=headers, allow_redirects=False, ssl=False, **kw
        ) as response:
            return Page(response.status, response.headers, await response.read())

    def origin_for(self, path: str) -> str:
        """Where the router serves the portal a path names."""
        if path == "/admin" or path.startswith("/admin/"):
            return self.stack.admin_url()
        return self.stack.router_url

    async def get(self, path: str, **kw: Any) -> Page:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Page:
        return await self.request("POST", path, **kw)

    async def agent_token(self) -> str:
        return await self.stack.token("agent-one", USER_PASSWORD)

    async def generated_token(self, **fields: Any) -> str:
        """An access token for agent-one from the registry (camelCase fields as the API)."""
        admin = await self.stack.token()
        body = {"userId": self.agent_id, "name": "generated"}
        body.update({to_camel(name): value for name, value in fields.items()})
        reply = await self.stack.call("registry", "POST", "/api/v1/tokens", token=admin, json=body)
        assert reply.status == 201, reply.body
        token: str = reply.data["accessToken"]
        return token

    async def session_cookie(self, token: str, path: str = "/agent/app") -> dict[str, str]:
        page = await self.get(f"{path}?accessToken={token}")
        assert page.status == 303, page.body
        value = page.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
        return {"latchkey_session": value}

    async def revoke(self, token: str) -> None:
        """Revoke `token` as an admin does."""
        admin = await self.stack.token()
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        reply = await self.stack.call(
            "registry", "POST", f"/api/v1/tokens/{jti}/revoke", token=admin, json={"reason": "t"}
        )
        assert reply.status == 200, reply.body

    async def token_for(self, change: str) -> str:
        """An agent token that must be refused for the reason `change` names."""
        admin = await self.stack.token()
        if change == "wrong_portal":
            return await self.stack.token("admin-only", USER_PASSWORD)
        if change == "expire":
            expires = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
            reply = await self.stack.call(
                "registry",
                "POST",
                "/api/v1/tokens",
                token=admin,
                json={"userId": self.agent_id, "name": "brief", "expiresAt": expires},
            )
            assert reply.status == 201, reply.body
            await asyncio.sleep(2.2)
            token: str = reply.data["accessToken"]
            return token
        token = await self.agent_token()
        if change == "forge":
            head, payload, signature = token.split(".")
            return f"{head}.{payload}.{signature[:-4]}AAAA"
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        path = f"/api/v1/tokens/{jti}"
        if change == "revoke":
            await self.stack.call(
                "registry", "POST", path + "/revoke", token=admin, json={"reason": "t"}
            )
        elif change == "disable":
            await self.stack.call("registry", "PATCH", path, token=admin, json={"disabled": True})
        await asyncio.sleep(0.05)
        return token

    agent_id: str = ""

    @classmethod
    async def with_users(
        cls, stack: BackendT, upstream: TestServer, client: aiohttp.ClientSession
    ) -> "Portal[BackendT]":
        """The portal once its users exist: agent-one (agent) and admin-only (admin)."""
        admin = await stack.token()
        agent = await stack.create_user(admin, "agent-one", display_name="Agent One")
        await stack.create_user(admin, "admin-only", portals=["admin"])
        return cls(stack, upstream, client, agent_id=agent["userId"])


PortalFactory = Callable[..., Awaitable[Portal[Any]]]
