"""Calls other services make to the token registry's internal API (each with its own
credential; the registry's endpoints say which services may make each)."""

from uuid import UUID

import aiohttp

from latchkey.common import errors
from latchkey.common.contracts import (
    DeepLinkUse,
    EventKeys,
    Introspection,
    IntrospectRequest,
    NewTokenRecord,
    ServiceRevoke,
    StateDigest,
    TokenChange,
    TokenRecord,
    UserRevocation,
)
from latchkey.common.events import EventPage, InstanceReport, TokenStateSnapshot
from latchkey.common.service_client import ServiceClient, ServiceError
from latchkey.common.tokenstate.source import Events, SnapshotNeeded

RegistryError = ServiceError
SNAPSHOT_TIMEOUT = aiohttp.ClientTimeout(total=60)


class RegistryUnavailable(errors.ServiceUnavailable):
    reason = "registry_unavailable"
    message = "The token registry cannot be reached right now; try again shortly."


class RegistryClient(ServiceClient):
    """The registry's internal API; failing to reach it is `RegistryUnavailable`."""

    unavailable = RegistryUnavailable

    async def record_token(self, token: NewTokenRecord) -> TokenRecord:
        return await self._call("POST", "/internal/v1/tokens", TokenRecord, body=token)

    async def revoke_token(self, jti: UUID, revoke: ServiceRevoke) -> TokenChange:
        path = f"/internal/v1/tokens/{jti}/revoke"
        return await self._call("POST", path, TokenChange, body=revoke)

    async def revoke_user(self, user_id: str, revoke: ServiceRevoke) -> UserRevocation:
        path = f"/internal/v1/users/{user_id}/revoke"
        return await self._call("POST", path, UserRevocation, body=revoke)

    async def mark_deep_link_used(self, jti: UUID) -> bool:
        """True the first time a token's deep link is used; False every time after."""
        try:
            await self._call("POST", f"/internal/v1/tokens/{jti}/deep-link", DeepLinkUse)
        except ServiceError as exc:
            if exc.reason == "link_already_used":
                return False
            # Anything else (an unrecorded token, a wrong credential) means the use could
            # not be recorded: the link is not honoured, and the caller is told to retry.
            raise self.unavailable() from exc
        return True

    async def introspect(self, token: str) -> Introspection:
        body = IntrospectRequest(token=token)
        return await self._call("POST", "/internal/v1/introspect", Introspection, body=body)

    async def snapshot(self) -> TokenStateSnapshot:
        return await self._call(
            "GET", "/internal/v1/token-state", TokenStateSnapshot, timeout=SNAPSHOT_TIMEOUT
        )

    async def events_after(self, seq: int, *, limit: int = 1000) -> Events:
        path = f"/internal/v1/events?after={seq}&limit={limit}"
        try:
            page = await self._call("GET", path, EventPage)
        except ServiceError as exc:
            if exc.status == 410:
                raise SnapshotNeeded() from exc
            raise
        return Events(page.events, page.latest, page.at)

    async def event_keys(self) -> EventKeys:
        return await self._call("GET", "/internal/v1/event-keys", EventKeys)

    async def digest(self) -> StateDigest:
        return await self._call(
            "GET", "/internal/v1/token-state/digest", StateDigest, timeout=SNAPSHOT_TIMEOUT
        )

    async def report(self, report: InstanceReport) -> None:
        await self._call("POST", "/internal/v1/instances/report", type(None), body=report)
