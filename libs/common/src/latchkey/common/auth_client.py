"""Calls the registry makes to the auth service's internal API (service credential)."""

from datetime import datetime
from typing import Any

from latchkey.common import errors
from latchkey.common.service_client import ServiceClient


class AuthUnavailable(errors.ServiceUnavailable):
    reason = "auth_unavailable"
    message = "The auth service cannot be reached right now; try again shortly."


class AuthClient(ServiceClient):
    unavailable = AuthUnavailable

    async def sign_access_token(
        self,
        *,
        user_id: str,
        portals: list[str] | None,
        allowed_domains: list[str],
        expires_at: datetime | None,
    ) -> dict[str, Any]:
        """A signed access token and what it says; the caller must record it."""
        body: dict[str, Any] = {"userId": user_id, "allowedDomains": allowed_domains}
        if portals is not None:
            body["portals"] = portals
        if expires_at is not None:
            body["expiresAt"] = expires_at.isoformat()
        result: dict[str, Any] = await self._call("POST", "/internal/v1/sign", json=body)
        return result

    async def list_users(self, *, bearer: str, limit: int = 500) -> list[dict[str, Any]]:
        """Users by username, asked for with an admin's own token (not the service one)."""
        page: dict[str, Any] = await self._call(
            "GET", f"/auth/v1/users?limit={limit}", bearer=bearer
        )
        items: list[dict[str, Any]] = page["items"]
        return items
