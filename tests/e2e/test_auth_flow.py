"""The flow existing clients speak, end to end with auth and the registry as real processes."""

import asyncio
import uuid

import jwt
import pytest

from tests.support.credentials import AS_AUTH
from tests.support.stack import ADMIN_PASSWORD, ADMIN_USERNAME, Stack


async def test_login_use_logout_then_the_token_is_refused_everywhere(stack: Stack) -> None:
    await stack.start("auth", "registry")
    reply = await stack.login(deviceUid="device-1")
    assert reply.status == 200
    assert set(reply.body) == {"message", "code", "data"}
    assert reply.body["code"] == 200
    token = reply.data["accessToken"]
    user = reply.data["user"]
    assert user["username"] == ADMIN_USERNAME
    assert "admin" in user["roles"]
    assert not {"passwordHash", "password_hash", "password"} & set(user)

    claims = jwt.decode(token, options={"verify_signature": False})
    listed = await stack.call("registry", "GET", f"/api/v1/tokens/{claims['jti']}", token=token)
    assert listed.status == 200
    assert listed.data["kind"] == "session"
    assert (listed.data["channel"], listed.data["platform"]) == ("FLUTTER", "BYTEDESK")
    assert listed.data["device"] == "device-1"

    out = await stack.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (out.status, out.body["code"], out.data) == (200, 200, True)

    again = await stack.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (again.status, again.reason) == (401, "token_revoked")
    refused = await stack.call("registry", "GET", "/api/v1/tokens", token=token)
    assert (refused.status, refused.reason) == (401, "token_revoked")


async def test_wrong_password_and_unknown_user_get_the_same_answer(stack: Stack) -> None:
    await stack.start("auth", "registry")
    wrong = await stack.login(ADMIN_USERNAME, "not the password")
    unknown = await stack.login("nobody-" + uuid.uuid4().hex[:6], "not the password")
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body
    assert wrong.reason == "invalid_credentials"


async def test_usernames_are_case_insensitive(stack: Stack) -> None:
    await stack.start("auth", "registry")
    assert (await stack.login(ADMIN_USERNAME.upper())).status == 200
    admin = await stack.token()
    reply = await stack.call(
        "auth",
        "POST",
        "/auth/v1/users",
        token=admin,
        json={"username": "ROOT", "password": "another long password"},
    )
    assert (reply.status, reply.reason) == (409, "username_taken"), reply.body


async def test_a_disabled_user_is_refused_and_loses_every_token(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    user = await stack.create_user(admin, "agent-1")
    agent_token = await stack.token("agent-1", "a long password 1")
    reply = await stack.call(
        "auth", "PATCH", f"/auth/v1/users/{user['userId']}", token=admin, json={"disabled": True}
    )
    assert (reply.status, reply.data["disabled"]) == (200, True)

    login = await stack.login("agent-1", "a long password 1")
    assert (login.status, login.reason) == (403, "user_disabled")
    introspected = await stack.call(
        "registry",
        "POST",
        "/internal/v1/introspect",
        json={"token": agent_token},
        headers=AS_AUTH,
    )
    assert introspected.data == {"active": False, "reason": "token_revoked"}


async def test_a_password_change_revokes_the_users_tokens(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    user = await stack.create_user(admin, "agent-2", roles=["agent", "admin"])
    old_token = await stack.token("agent-2", "a long password 1")
    reply = await stack.call(
        "auth",
        "PUT",
        f"/auth/v1/users/{user['userId']}/password",
        token=admin,
        json={"password": "a brand new password"},
    )
    assert reply.status == 200
    refused = await stack.call("registry", "GET", "/api/v1/tokens", token=old_token)
    assert (refused.status, refused.reason) == (401, "token_revoked")
    assert (await stack.login("agent-2", "a long password 1")).status == 401
    fresh = await stack.token("agent-2", "a brand new password")
    assert (await stack.call("registry", "GET", "/api/v1/tokens", token=fresh)).status == 200


async def test_lockout_refuses_even_the_right_password_then_lets_it_in(stack: Stack) -> None:
    await stack.start(
        "auth",
        "registry",
        LATCHKEY_LOCKOUT_USER_THRESHOLD="3",
        LATCHKEY_LOCKOUT_BASE_SECONDS="1.5",
    )
    for _ in range(3):
        assert (await stack.login(ADMIN_USERNAME, "wrong password")).status == 401
    locked = await stack.login()
    assert (locked.status, locked.reason) == (429, "too_many_attempts")
    assert 1 <= int(locked.headers["Retry-After"]) <= 2
    await asyncio.sleep(int(locked.headers["Retry-After"]) + 0.2)
    assert (await stack.login()).status == 200
    # A success resets the count: one more failure does not lock again.
    assert (await stack.login(ADMIN_USERNAME, "wrong password")).status == 401
    assert (await stack.login()).status == 200


async def test_lockout_backs_off_more_with_each_failure(stack: Stack) -> None:
    await stack.start(
        "auth",
        "registry",
        LATCHKEY_LOCKOUT_USER_THRESHOLD="2",
        LATCHKEY_LOCKOUT_BASE_SECONDS="1",
    )
    waits = []
    for _ in range(3):
        for _ in range(2):
            await stack.login(ADMIN_USERNAME, "wrong password")
        reply = await stack.login(ADMIN_USERNAME, "wrong password")
        waits.append(float(reply.body["data"]["retryAfter"]) if reply.status == 429 else 0)
        await asyncio.sleep(waits[-1] + 0.1)
    assert waits[0] >= 1
    assert waits[-1] > waits[0]


async def test_many_usernames_from_one_address_are_locked_out_by_address(stack: Stack) -> None:
    await stack.start("auth", "registry", LATCHKEY_LOCKOUT_ADDRESS_THRESHOLD="4")
    for index in range(4):
        assert (await stack.login(f"guess-{index}", "wrong password")).status == 401
    locked = await stack.login()
    assert (locked.status, locked.reason) == (429, "too_many_attempts")


async def test_parallel_guesses_cannot_race_past_the_threshold(stack: Stack) -> None:
    await stack.start("auth", "registry", LATCHKEY_LOCKOUT_USER_THRESHOLD="3")
    replies = await asyncio.gather(
        *(stack.login(ADMIN_USERNAME, f"guess {index}") for index in range(10))
    )
    assert sorted(reply.status for reply in replies) == [401] * 3 + [429] * 7


async def test_login_fails_with_503_and_no_token_when_the_registry_is_down(stack: Stack) -> None:
    await stack.start("auth", ready=False)
    reply = await stack.login()
    assert (reply.status, reply.reason) == (503, "registry_unavailable")
    assert "accessToken" not in str(reply.body)


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


async def test_bad_login_bodies_get_clear_errors(stack: Stack) -> None:
    await stack.start("auth", ready=False)
    for body, status, reason in BAD_LOGIN_BODIES:
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        reply = await stack.call("auth", "POST", "/auth/v1/login", **kwargs)
        assert (reply.status, reply.reason) == (status, reason), (body, reply.body)
        assert reply.body["code"] == status


async def test_logout_refuses_missing_malformed_forged_and_expired_tokens(stack: Stack) -> None:
    await stack.start("auth", "registry")
    token = await stack.token()
    head, payload, signature = token.split(".")
    expired = jwt.encode({"exp": 1}, "k" * 32, algorithm="HS256")
    for header, reason in [
        (None, "token_missing"),
        ("Basic abc", "token_invalid"),
        (f"Bearer {head}.{payload}.{signature[::-1]}", "token_invalid"),
        (f"Bearer {expired}", "token_invalid"),
        ("Bearer nonsense", "token_invalid"),
    ]:
        headers = {"Authorization": header} if header else {}
        reply = await stack.call("auth", "POST", "/api/v1/user/logout", headers=headers)
        assert (reply.status, reply.reason) == (401, reason), header


async def test_admin_api_needs_an_admin(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    await stack.create_user(admin, "plain-agent")
    agent = await stack.token("plain-agent", "a long password 1")
    for method, path in [
        ("GET", "/auth/v1/users"),
        ("POST", "/auth/v1/keys/rotate"),
        ("GET", "/auth/v1/keys"),
    ]:
        assert (await stack.call("auth", method, path)).status == 401
        reply = await stack.call("auth", method, path, token=agent)
        assert (reply.status, reply.reason) == (403, "forbidden")


BAD_USERS: list[tuple[dict[str, object], str]] = [
    ({"username": "short-pw", "password": "short"}, "validation_failed"),
    ({"username": "bad name", "password": "long enough pw"}, "validation_failed"),
    ({"username": "x", "password": "long enough pw", "roles": ["god"]}, "validation_failed"),
    ({"username": "x", "password": "long enough pw", "roles": []}, "validation_failed"),
    ({"username": "x", "password": "long enough pw", "portals": ["A B"]}, "validation_failed"),
    ({"username": "x", "password": "        "}, "validation_failed"),
]


async def test_bad_users_are_refused(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    for user, reason in BAD_USERS:
        reply = await stack.call("auth", "POST", "/auth/v1/users", token=admin, json=user)
        assert (reply.status, reply.reason) == (422, reason), (user, reply.body)
        assert "long enough pw" not in str(reply.body)


async def test_start_fails_clearly_when_no_user_and_no_admin_is_given(stack: Stack) -> None:
    process = stack.process("auth", LATCHKEY_ADMIN_USERNAME="", LATCHKEY_ADMIN_PASSWORD="")
    with pytest.raises(AssertionError, match="exited"):
        await process.start(timeout=20)
    assert "LATCHKEY_ADMIN_USERNAME" in process.log_text()
    assert ADMIN_PASSWORD not in process.log_text()


async def test_the_holder_of_a_disabled_token_can_still_sign_out(stack: Stack) -> None:
    await stack.start("auth", "registry")
    admin = await stack.token()
    token = await stack.token()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    path = f"/api/v1/tokens/{jti}"
    await stack.call("registry", "PATCH", path, token=admin, json={"disabled": True})
    out = await stack.call("auth", "POST", "/api/v1/user/logout", token=token)
    assert (out.status, out.data) == (200, True)
    record = await stack.call("registry", "GET", path, token=admin)
    assert record.data["status"] == "revoked"
    assert record.data["name"] == "Sign-in (FLUTTER/BYTEDESK)"
