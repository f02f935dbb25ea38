"""The flow existing clients speak, and auth's rules, with auth and the registry in this
process against real PostgreSQL and RabbitMQ: login, logout, users, lockouts, bad input."""

import asyncio
import uuid
from typing import Any

import jwt

from tests.support.apps import Services, ServicesFactory
from tests.support.credentials import AS_AUTH
from tests.support.stack import ADMIN_PASSWORD, ADMIN_USERNAME, USER_PASSWORD


def reason(body: Any) -> str | None:
    return body.get("reason") if isinstance(body, dict) else None


async def test_login_use_logout_then_the_token_is_refused_everywhere(services: Services) -> None:
    status, body = await services.login(deviceUid="device-1")
    assert status == 200
    assert set(body) == {"message", "code", "data"}
    assert body["code"] == 200
    token, user = body["data"]["accessToken"], body["data"]["user"]
    assert user["username"] == ADMIN_USERNAME
    assert "admin" in user["roles"]
    assert not {"passwordHash", "password_hash", "password"} & set(user)

    claims = jwt.decode(token, options={"verify_signature": False})
    status, listed = await services.call(
        "registry", "GET", f"/api/v1/tokens/{claims['jti']}", token=token
    )
    assert status == 200
    assert listed["data"]["kind"] == "session"
    assert (listed["data"]["channel"], listed["data"]["platform"]) == ("FLUTTER", "BYTEDESK")
    assert listed["data"]["device"] == "device-1"

    status, out = await services.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (status, out["code"], out["data"]) == (200, 200, True)
    status, again = await services.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (status, reason(again)) == (401, "token_revoked")
    status, refused = await services.call("registry", "GET", "/api/v1/tokens", token=token)
    assert (status, reason(refused)) == (401, "token_revoked")


async def test_wrong_password_and_unknown_user_get_the_same_answer(services: Services) -> None:
    wrong = await services.login(ADMIN_USERNAME, "not the password")
    unknown = await services.login("nobody-" + uuid.uuid4().hex[:6], "not the password")
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]
    assert reason(wrong[1]) == "invalid_credentials"


async def test_usernames_are_case_insensitive(services: Services) -> None:
    assert (await services.login(ADMIN_USERNAME.upper()))[0] == 200
    admin = await services.token()
    status, body = await services.call(
        "auth",
        "POST",
        "/auth/v1/users",
        token=admin,
        json={"username": "ROOT", "password": "another long password"},
    )
    assert (status, reason(body)) == (409, "username_taken"), body


async def test_a_disabled_user_is_refused_and_loses_every_token(services: Services) -> None:
    admin = await services.token()
    user = await services.create_user(admin, "agent-1")
    agent_token = await services.token("agent-1", USER_PASSWORD)
    status, body = await services.call(
        "auth", "PATCH", f"/auth/v1/users/{user['userId']}", token=admin, json={"disabled": True}
    )
    assert (status, body["data"]["disabled"]) == (200, True)
    status, body = await services.login("agent-1", USER_PASSWORD)
    assert (status, reason(body)) == (403, "user_disabled")
    status, introspected = await services.call(
        "registry", "POST", "/internal/v1/introspect", json={"token": agent_token}, headers=AS_AUTH
    )
    assert introspected["data"] == {"active": False, "reason": "token_revoked"}


async def test_a_password_change_revokes_the_users_tokens(services: Services) -> None:
    admin = await services.token()
    user = await services.create_user(admin, "agent-2", roles=["agent", "admin"])
    old_token = await services.token("agent-2", USER_PASSWORD)
    status, _ = await services.call(
        "auth",
        "PUT",
        f"/auth/v1/users/{user['userId']}/password",
        token=admin,
        json={"password": "a brand new password"},
    )
    assert status == 200
    status, refused = await services.call("registry", "GET", "/api/v1/tokens", token=old_token)
    assert (status, reason(refused)) == (401, "token_revoked")
    assert (await services.login("agent-2", USER_PASSWORD))[0] == 401
    fresh = await services.token("agent-2", "a brand new password")
    assert (await services.call("registry", "GET", "/api/v1/tokens", token=fresh))[0] == 200


def lockout(**settings: Any) -> dict[str, dict[str, Any]]:
    return {"auth": {f"lockout_{name}": value for name, value in settings.items()}}


async def test_lockout_refuses_even_the_right_password_then_lets_it_in(
    start_services: ServicesFactory,
) -> None:
    services = await start_services(overrides=lockout(user_threshold=3, base_seconds=1.5))
    for _ in range(3):
        assert (await services.login(ADMIN_USERNAME, "wrong password"))[0] == 401
    async with services.http.post(
        services.urls["auth"] + "/auth/v1/login",
        json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD,
              "channel": "FLUTTER", "platform": "BYTEDESK"},
    ) as locked:  # fmt: skip
        assert (locked.status, (await locked.json())["reason"]) == (429, "too_many_attempts")
        retry_after = int(locked.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    await asyncio.sleep(retry_after + 0.2)
    assert (await services.login())[0] == 200
    # A success resets the count: one more failure does not lock again.
    assert (await services.login(ADMIN_USERNAME, "wrong password"))[0] == 401
    assert (await services.login())[0] == 200


async def test_lockout_backs_off_more_with_each_failure(start_services: ServicesFactory) -> None:
    services = await start_services(overrides=lockout(user_threshold=2, base_seconds=1))
    waits = []
    for _ in range(3):
        for _ in range(2):
            await services.login(ADMIN_USERNAME, "wrong password")
        status, body = await services.login(ADMIN_USERNAME, "wrong password")
        waits.append(float(body["data"]["retryAfter"]) if status == 429 else 0)
        await asyncio.sleep(waits[-1] + 0.1)
    assert waits[0] >= 1
    assert waits[-1] > waits[0]


async def test_many_usernames_from_one_address_are_locked_out_by_address(
    start_services: ServicesFactory,
) -> None:
    services = await start_services(overrides=lockout(address_threshold=4))
    for index in range(4):
        assert (await services.login(f"guess-{index}", "wrong password"))[0] == 401
    status, body = await services.login()
    assert (status, reason(body)) == (429, "too_many_attempts")


async def test_parallel_guesses_cannot_race_past_the_threshold(
    start_services: ServicesFactory,
) -> None:
    services = await start_services(overrides=lockout(user_threshold=3))
    replies = await asyncio.gather(
        *(services.login(ADMIN_USERNAME, f"guess {index}") for index in range(10))
    )
    assert sorted(status for status, _ in replies) == [401] * 3 + [429] * 7


BAD_LOGIN_BODIES: list[tuple[object, int, str]] = [
    ("{bad json", 400, "malformed_json"),
    ([], 422, "validation_failed"),
    ({"username": 123, "password": "x", "platform": "BYTEDESK"}, 422, "validation_failed"),
    ({"username": "root", "platform": "BYTEDESK"}, 422, "validation_failed"),
    ({"username": "", "password": "x", "platform": "BYTEDESK"}, 422, "validation_failed"),
    ({"username": "root", "password": "x", "platform": "SPACESHIP"}, 422, "validation_failed"),
    (
        {"username": "root", "passwordHash": "a", "passwordSalt": "s", "platform": "BYTEDESK"},
        400,
        "password_hash_not_supported",
    ),
    (
        {"username": "root", "password": "x" * 2000, "platform": "BYTEDESK"},
        422,
        "validation_failed",
    ),
]


async def test_bad_login_bodies_get_clear_errors(services: Services) -> None:
    for sent, status, expected in BAD_LOGIN_BODIES:
        kwargs = {"data": sent} if isinstance(sent, str) else {"json": sent}
        answered, body = await services.call("auth", "POST", "/auth/v1/login", **kwargs)
        assert (answered, reason(body)) == (status, expected), (sent, body)
        assert body["code"] == status


async def test_logout_refuses_missing_malformed_forged_and_expired_tokens(
    services: Services,
) -> None:
    token = await services.token()
    head, payload, signature = token.split(".")
    expired = jwt.encode({"exp": 1}, "k" * 32, algorithm="HS256")
    for header, expected in [
        (None, "token_missing"),
        ("Basic abc", "token_invalid"),
        (f"Bearer {head}.{payload}.{signature[::-1]}", "token_invalid"),
        (f"Bearer {expired}", "token_invalid"),
        ("Bearer nonsense", "token_invalid"),
    ]:
        headers = {"Authorization": header} if header else {}
        status, body = await services.call("auth", "POST", "/api/v1/user/logout", headers=headers)
        assert (status, reason(body)) == (401, expected), header


async def test_admin_api_needs_an_admin(services: Services) -> None:
    admin = await services.token()
    await services.create_user(admin, "plain-agent")
    agent = await services.token("plain-agent", USER_PASSWORD)
    for method, path in [
        ("GET", "/auth/v1/users"),
        ("POST", "/auth/v1/keys/rotate"),
        ("GET", "/auth/v1/keys"),
    ]:
        assert (await services.call("auth", method, path))[0] == 401
        status, body = await services.call("auth", method, path, token=agent)
        assert (status, reason(body)) == (403, "forbidden")


BAD_USERS: list[dict[str, object]] = [
    {"username": "short-pw", "password": "short"},
    {"username": "bad name", "password": "long enough pw"},
    {"username": "x", "password": "long enough pw", "roles": ["god"]},
    {"username": "x", "password": "long enough pw", "roles": []},
    {"username": "x", "password": "long enough pw", "portals": ["A B"]},
    {"username": "x", "password": "        "},
]


async def test_bad_users_are_refused(services: Services) -> None:
    admin = await services.token()
    for user in BAD_USERS:
        status, body = await services.call("auth", "POST", "/auth/v1/users", token=admin, json=user)
        assert (status, reason(body)) == (422, "validation_failed"), (user, body)
        assert "long enough pw" not in str(body)


async def test_the_holder_of_a_disabled_token_can_still_sign_out(services: Services) -> None:
    admin = await services.token()
    status, body = await services.login()
    token = body["data"]["accessToken"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    path = f"/api/v1/tokens/{jti}"
    await services.call("registry", "PATCH", path, token=admin, json={"disabled": True})
    status, out = await services.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (status, out["data"]) == (200, True)
    status, record = await services.call("registry", "GET", path, token=admin)
    assert record["data"]["status"] == "revoked"
    assert record["data"]["name"] == "Sign-in (FLUTTER/BYTEDESK)"
