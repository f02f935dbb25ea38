"""A sign-in raced against disabling the user or changing the password, driven
deterministically: the change lands at the worst moments of the sign-in (while its password is
being checked, and after its token is recorded but before it is answered), and no token that
any service honours comes out of it."""

from collections.abc import Awaitable, Callable
from typing import Any

from latchkey.auth.appkeys import ISSUER, LOGIN
from latchkey.common.appkeys import TOKEN_STATE
from tests.support.apps import Services
from tests.support.stack import USER_PASSWORD

Change = Callable[[Services, str, str], Awaitable[None]]


async def disable(services: Services, admin: str, user_id: str) -> None:
    status, body = await services.call(
        "auth", "PATCH", f"/auth/v1/users/{user_id}", token=admin, json={"disabled": True}
    )
    assert status == 200, body


async def new_password(services: Services, admin: str, user_id: str) -> None:
    status, body = await services.call(
        "auth",
        "PUT",
        f"/auth/v1/users/{user_id}/password",
        token=admin,
        json={"password": "another long password"},
    )
    assert status == 200, body


class CheckThenChange:
    """The password check, then the change (committed, revocation delivered) before the
    sign-in goes on: the window between reading the user and signing its token."""

    def __init__(self, real: Any, change: Callable[[], Awaitable[None]]) -> None:
        self._real = real
        self._change = change
        self.armed = True

    async def verify(self, password_hash: str | None, password: str) -> bool:
        matched: bool = await self._real.verify(password_hash, password)
        if self.armed:
            self.armed = False
            await self._change()
        return matched

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def active_tokens(services: Services, admin: str, user_id: str) -> list[dict[str, Any]]:
    status, body = await services.call(
        "registry", "GET", f"/api/v1/tokens?userId={user_id}&status=active", token=admin
    )
    assert status == 200, body
    items: list[dict[str, Any]] = body["data"]["items"]
    return items


async def sign_in(services: Services, username: str) -> tuple[int, Any]:
    return await services.call(
        "auth",
        "POST",
        "/auth/v1/login",
        json={"username": username, "password": USER_PASSWORD, "channel": "WEB", "platform": "WEB"},
    )


async def test_a_change_while_the_password_is_checked_leaves_no_token(services: Services) -> None:
    admin = await services.token()
    login = services.apps["auth"][LOGIN]
    for number, (change, refusal) in enumerate(
        [(disable, (403, "user_disabled")), (new_password, (401, "invalid_credentials"))]
    ):
        user = await services.create_user(admin, f"racer-{number}")
        hooked = CheckThenChange(
            login.passwords, lambda c=change, u=user: c(services, admin, u["userId"])
        )
        login.passwords = hooked  # type: ignore[assignment]
        try:
            status, body = await sign_in(services, user["username"])
        finally:
            login.passwords = hooked._real
        assert not hooked.armed
        assert (status, body["reason"]) == refusal, body
        assert await active_tokens(services, admin, user["userId"]) == []


async def test_a_change_after_the_token_is_recorded_revokes_it_and_refuses(
    services: Services,
) -> None:
    admin = await services.token()
    registry = services.apps["auth"][ISSUER].registry
    record = registry.record_token
    for number, (change, refusal) in enumerate(
        [(disable, (403, "user_disabled")), (new_password, (401, "invalid_credentials"))]
    ):
        user = await services.create_user(admin, f"late-{number}")
        recorded: list[str] = []

        async def record_then_change(
            token: Any,
            change: Change = change,
            user: dict[str, Any] = user,
            recorded: list[str] = recorded,
        ) -> Any:
            answer = await record(token)
            recorded.append(str(token.jti))
            await change(services, admin, user["userId"])
            return answer

        registry.record_token = record_then_change  # type: ignore[method-assign]
        try:
            status, body = await sign_in(services, user["username"])
        finally:
            registry.record_token = record  # type: ignore[method-assign]
        assert (status, body["reason"]) == refusal, body
        assert len(recorded) == 1
        # The token that was signed and recorded is revoked everywhere.
        status, shown = await services.call(
            "registry", "GET", f"/api/v1/tokens/{recorded[0]}", token=admin
        )
        assert (status, shown["data"]["status"]) == (200, "revoked")
        assert await active_tokens(services, admin, user["userId"]) == []


async def test_without_a_change_the_sign_in_works(services: Services) -> None:
    admin = await services.token()
    user = await services.create_user(admin, "calm")
    status, body = await sign_in(services, "calm")
    assert status == 200, body
    assert len(await active_tokens(services, admin, user["userId"])) == 1
    assert services.apps["auth"][TOKEN_STATE].live()
