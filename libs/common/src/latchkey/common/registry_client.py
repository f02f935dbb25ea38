"""Calls other services make to the token registry's internal API (service credential)."""

from datetime import datetime
from typing import Any
from uuid import UUID

import aiohttp
from pydantic import SecretStr

from latchkey.common import errors
from latchkey.common.credentials import service_headers
from latchkey.common.events import EventPage, TokenStateSnapshot
from latchkey.common.models import ApiModel

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)


class RegistryUnavailable(errors.ServiceUnavailable):
    reason = "registry_unavailable"
    message = "The token registry cannot be reached right now; try again shortly."


class RegistryError(Exception):
    """The registry answered with an error envelope."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class TokenToRecord(ApiModel):
    jti: UUID
    user_id: str
    username: str
    kind: str
    name: str = ""
    description: str = ""
    channel: str = ""
    platform: str = ""
    device: str = ""
    portals: list[str]
    allowed_domains: list[str] = []
    created_by: str = ""
    issued_at: datetime
    expires_at: datetime


class RegistryClient:
    """A thin client: every failure to reach the registry is `RegistryUnavailable`."""

    def __init__(
        self,
        base_url: str,
        credential: SecretStr,
        session: aiohttp.ClientSession,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = service_headers(credential)
        self._session = session
        self._timeout = timeout

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                json=json,
                headers=self._headers,
                timeout=timeout or self._timeout,
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RegistryUnavailable() from exc
        if response.status >= 500:
            raise RegistryUnavailable()
        if response.status >= 400:
            raise RegistryError(
                response.status, str(body.get("reason", "")), str(body.get("message", ""))
            )
        return body["data"]

    async def record_token(self, token: TokenToRecord) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/internal/v1/tokens", json=token.wire())
        return result

    async def revoke_token(
        self, jti: UUID, *, reason: str, actor_id: str = "", actor_name: str = ""
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST",
            f"/internal/v1/tokens/{jti}/revoke",
            json={"reason": reason, "actorId": actor_id, "actorName": actor_name},
        )
        return result

    async def revoke_user(
        self, user_id: str, *, reason: str, actor_id: str, actor_name: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST",
            f"/internal/v1/users/{user_id}/revoke",
            json={"reason": reason, "actorId": actor_id, "actorName": actor_name},
        )
        return result

    async def introspect(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/internal/v1/introspect", json={"token": token}
        )
        return result

    async def token_state(self) -> TokenStateSnapshot:
        data = await self._call(
            "GET", "/internal/v1/token-state", timeout=aiohttp.ClientTimeout(total=60)
        )
        return TokenStateSnapshot.model_validate(data)

    async def events_after(self, seq: int, *, limit: int = 1000) -> EventPage:
        data = await self._call("GET", f"/internal/v1/events?after={seq}&limit={limit}")
        return EventPage.model_validate(data)
