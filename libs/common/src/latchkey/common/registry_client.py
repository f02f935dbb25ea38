"""Calls other services make to the token registry's internal API (service credential)."""

from datetime import datetime
from typing import Any
from uuid import UUID

import aiohttp

from latchkey.common import errors
from latchkey.common.events import InstanceReport, TokenStateSnapshot, parse_event
from latchkey.common.models import ApiModel
from latchkey.common.service_client import ServiceClient, ServiceError
from latchkey.common.tokenstate.source import Events, SnapshotNeeded

RegistryError = ServiceError


class RegistryUnavailable(errors.ServiceUnavailable):
    reason = "registry_unavailable"
    message = "The token registry cannot be reached right now; try again shortly."


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


class RegistryClient(ServiceClient):
    """The registry's internal API; failing to reach it is `RegistryUnavailable`."""

    unavailable = RegistryUnavailable

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

    async def mark_deep_link_used(self, jti: UUID) -> bool:
        """True the first time a token's deep link is used; False every time after."""
        try:
            await self._call("POST", f"/internal/v1/tokens/{jti}/deep-link")
        except ServiceError as exc:
            if exc.reason == "link_already_used":
                return False
            # Anything else (an unrecorded token, a wrong credential) means the use could
            # not be recorded: the link is not honoured, and the caller is told to retry.
            raise self.unavailable() from exc
        return True

    async def introspect(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/internal/v1/introspect", json={"token": token}
        )
        return result

    async def snapshot(self) -> TokenStateSnapshot:
        data = await self._call(
            "GET", "/internal/v1/token-state", timeout=aiohttp.ClientTimeout(total=60)
        )
        return TokenStateSnapshot.model_validate(data)

    async def events_after(self, seq: int, *, limit: int = 1000) -> Events:
        try:
            data = await self._call("GET", f"/internal/v1/events?after={seq}&limit={limit}")
        except ServiceError as exc:
            if exc.status == 410:
                raise SnapshotNeeded() from exc
            raise
        return Events([parse_event(item) for item in data["events"]], int(data["latest"]))

    async def report(self, report: InstanceReport) -> None:
        await self._call("POST", "/internal/v1/instances/report", json=report.wire())
