"""The registry in-process, as the integration tests drive it: its settings for a test, the
`Registry` under test and what it takes to call it as an admin or as a service."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from latchkey.registry.settings import RegistrySettings
from tests.support.credentials import AS_AUTH, KEY_ENCRYPTION_KEY, credential_settings
from tests.support.infra import Infra
from tests.support.issuer import TokenMinter

INTERNAL = AS_AUTH
"""What auth presents: the registry's internal endpoints other than the router's take it."""


def registry_settings(
    infra: Infra, *, database_url: str, exchange: str, auth_url: str, **overrides: Any
) -> RegistrySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "amqp_url": infra.amqp_url,
        "events_exchange": exchange,
        "auth_url": auth_url,
        **credential_settings("registry"),
        "key_encryption_key": KEY_ENCRYPTION_KEY,
        "relay_poll_interval": 0.2,
        "heartbeat_interval": 0.2,
        "startup_timeout": 5,
        "log_format": "text",
    }
    values.update(overrides)
    return RegistrySettings(_env_file=None, **values)


@dataclass
class Registry:
    """The registry under test, and what it takes to call it as an admin or as a service."""

    client: TestClient
    issuer: TokenMinter
    settings: RegistrySettings

    @property
    def app(self) -> web.Application:
        assert self.client.app is not None
        return self.client.app

    async def record(self, **claims: Any) -> tuple[str, dict[str, Any]]:
        """Mint a token and record it, as auth does when it issues one."""
        token, signed = self.issuer.token(**claims)
        response = await self.client.post(
            "/internal/v1/tokens", json=record_body(signed), headers=INTERNAL
        )
        assert response.status == 201, await response.text()
        return token, signed

    async def admin(self, **claims: Any) -> dict[str, str]:
        token, _ = await self.record(roles=["admin"], portals=["admin"], name="root", **claims)
        return {"Authorization": f"Bearer {token}"}


def record_body(claims: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "jti": claims["jti"],
        "userId": claims["sub"],
        "username": claims.get("name", "someone"),
        "kind": "session",
        "channel": "FLUTTER",
        "platform": "BYTEDESK",
        "portals": claims.get("portals", []),
        "allowedDomains": claims.get("domains", []),
        "issuedAt": datetime.fromtimestamp(claims["iat"], UTC).isoformat(),
        "expiresAt": datetime.fromtimestamp(claims["exp"], UTC).isoformat(),
    }
    body.update(overrides)
    return body


RegistryFactory = Callable[..., Awaitable[Registry]]


def new_jti() -> str:
    return str(uuid.uuid4())
