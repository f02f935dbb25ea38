"""Calls other services make to the auth service: the registry's internal ones (its own
credential), and the router's sign-in and sign-out, which are the public API's."""

from uuid import UUID

from latchkey.common import errors
from latchkey.common.contracts import (
    LoginRequest,
    LoginResult,
    PasswordCheck,
    PasswordChecked,
    SignedToken,
    SignRequest,
    UserPage,
)
from latchkey.common.service_client import ServiceClient

CLIENT_ADDRESS_HEADER = "X-Latchkey-Client-Address"
"""Where the router says which client a sign-in comes from; auth believes it only from a
caller that presents the router's credential."""


class AuthUnavailable(errors.ServiceUnavailable):
    reason = "auth_unavailable"
    message = "The auth service cannot be reached right now; try again shortly."


class AuthClient(ServiceClient):
    unavailable = AuthUnavailable

    async def sign_access_token(self, request: SignRequest) -> SignedToken:
        """A signed access token and what it says; the caller must record it."""
        return await self._call("POST", "/internal/v1/sign", SignedToken, body=request)

    async def check_password(self, user_id: UUID | str, password: str) -> None:
        """Raises `ServiceError` (401 invalid_credentials, 429 too_many_attempts) unless
        `password` is this user's."""
        path = f"/internal/v1/users/{user_id}/password/check"
        await self._call("POST", path, PasswordChecked, body=PasswordCheck(password=password))

    async def list_users(self, *, bearer: str, limit: int = 500) -> UserPage:
        """Users by username, asked for with an admin's own token (not a service's)."""
        return await self._call("GET", f"/auth/v1/users?limit={limit}", UserPage, bearer=bearer)

    async def login(self, request: LoginRequest, *, client_address: str) -> LoginResult:
        """Sign a person in for the router's form, saying which client it is for."""
        return await self._call(
            "POST",
            "/auth/v1/login",
            LoginResult,
            body=request,
            headers={CLIENT_ADDRESS_HEADER: client_address},
        )

    async def logout(self, token: str) -> bool:
        """Revoke `token` as its holder does."""
        return await self._call("POST", "/api/v1/user/logout", bool, bearer=token)
