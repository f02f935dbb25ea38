"""Revocation reaching every instance of every service, with everything as real processes:
two of each service, the broker taken away, instances restarted and started late."""

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from tests.support.credentials import AS_AUTH
from tests.support.processes import ServiceProcess
from tests.support.propagation import (
    all_in_step_with_registry,
    check,
    record,
    status,
    time_until_refused,
    until,
)
from tests.support.rabbit import RabbitNode
from tests.support.stack import Stack


async def start_two_of_each(stack: Stack, **env: str) -> list[ServiceProcess]:
    await stack.start("registry", "auth", **env)
    await stack.start("registry-2", "auth-2", "router", "router-2", **env)
    return list(stack.services.values())


async def revoke(
    stack: Stack, admin: str, token: str, *, via: str = "registry-2"
) -> dict[str, Any]:
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    reply = await stack.call(
        via, "POST", f"/api/v1/tokens/{jti}/revoke", token=admin, json={"reason": "test"}
    )
    assert reply.status == 200, reply.body
    data: dict[str, Any] = reply.data
    return data


async def test_a_revocation_reaches_every_instance_and_the_receipt_says_so(
    stack: Stack,
) -> None:
    instances = await start_two_of_each(stack)
    admin = await stack.token()
    await stack.create_user(admin, "agent-a")
    tokens = [await stack.token("agent-a", "a long password 1") for _ in range(5)]
    for instance in instances:
        assert (await check(stack, instance, tokens[0]))["honoured"], instance.name

    timings: dict[str, list[float]] = {instance.name: [] for instance in instances}
    for token in tokens:
        change = await revoke(stack, admin, token)
        for name, ms in (
            await time_until_refused(stack, instances, token, "token_revoked")
        ).items():
            timings[name].append(ms)
    record(
        "revoke_to_refused_ms",
        {name: {"median": statistics.median(v), "max": max(v)} for name, v in timings.items()},
    )

    async def receipt_complete() -> bool:
        reply = await stack.call(
            "registry", "GET", f"/api/v1/events/{change['eventSeq']}/delivery", token=admin
        )
        return reply.status == 200 and reply.data["complete"] and reply.data["instances"] == 6

    await until(receipt_complete, timeout=10, interval=0.05)
    receipt = (
        await stack.call(
            "registry", "GET", f"/api/v1/events/{change['eventSeq']}/delivery", token=admin
        )
    ).data
    assert {item["instanceId"] for item in receipt["deliveries"]} == {p.name for p in instances}
    assert all(item["latencyMs"] is not None for item in receipt["deliveries"])
    listed = (await stack.call("registry", "GET", "/api/v1/instances", token=admin)).data
    assert {item["instanceId"] for item in listed} == {p.name for p in instances}
    assert all(item["lag"] == 0 for item in listed)

    # The same reports carry "last used": the admin's token was used at auth, not here.
    admin_jti = jwt.decode(admin, options={"verify_signature": False})["jti"]

    async def last_used_known() -> bool:
        reply = await stack.call("registry", "GET", f"/api/v1/tokens/{admin_jti}", token=admin)
        return reply.data["lastUsedAt"] is not None

    await until(last_used_known, timeout=10, interval=0.1)


async def test_an_instance_restarted_after_a_change_says_when_it_caught_up(
    stack: Stack,
) -> None:
    """It took the changes made while it was down with the snapshot it loaded at start: its
    receipt of each is that time, not a bare "applied"."""
    await stack.start("registry", "auth")
    admin = await stack.token()
    await stack.create_user(admin, "agent-r")
    token, later = [await stack.token("agent-r", "a long password 1") for _ in range(2)]
    # The registry has auth's keys (and the admin's token verified) before auth goes away.
    assert (await stack.call("registry", "GET", "/api/v1/tokens", token=admin)).status == 200
    await stack.services["auth"].kill()
    change = await revoke(stack, admin, token, via="registry")
    await revoke(stack, admin, later, via="registry")  # the snapshot is past `change`
    restarted = datetime.now(UTC)
    await stack.start("auth")
    path = f"/api/v1/events/{change['eventSeq']}/delivery"

    async def delivered() -> dict[str, Any] | None:
        reply = await stack.call("registry", "GET", path, token=admin)
        found = {item["instanceId"]: item for item in reply.data["deliveries"]}
        item = found.get("auth")
        return item if item and item["appliedAt"] else None

    await until(delivered, timeout=10, interval=0.1)
    auth = await delivered()
    assert auth is not None
    assert auth["applied"] is True
    assert auth["caughtUp"] is True
    assert datetime.fromisoformat(auth["appliedAt"]) >= restarted
    reply = await stack.call("registry", "GET", path, token=admin)
    (registry,) = [i for i in reply.data["deliveries"] if i["instanceId"] == "registry"]
    assert registry["caughtUp"] is False  # it was running: a receipt of the change itself


async def test_every_kind_of_change_reaches_every_instance(stack: Stack) -> None:
    instances = await start_two_of_each(stack)
    admin = await stack.token()
    user = await stack.create_user(admin, "agent-b")
    token = await stack.token("agent-b", "a long password 1")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    path = f"/api/v1/tokens/{jti}"

    await stack.call("registry", "PATCH", path, token=admin, json={"disabled": True})
    await time_until_refused(stack, instances, token, "token_disabled")
    await stack.call("registry", "PATCH", path, token=admin, json={"disabled": False})

    async def honoured_everywhere() -> bool:
        return all([(await check(stack, p, token))["honoured"] for p in instances])

    await until(honoured_everywhere)

    await stack.call("registry", "PATCH", path, token=admin, json={"allowedDomains": ["a.example"]})
    await stack.call(
        "registry",
        "PUT",
        "/api/v1/domain-policy",
        token=admin,
        json={"domains": ["*.corp.example"]},
    )
    await all_in_step_with_registry(stack)
    assert all([(await status(stack, p))["policyDomains"] == ["*.corp.example"] for p in instances])

    other = await stack.token("agent-b", "a long password 1")
    await stack.call(
        "registry",
        "POST",
        f"/api/v1/users/{user['userId']}/revoke",
        token=admin,
        json={"reason": "x"},
    )
    for each in (token, other):
        await time_until_refused(stack, instances, each, "token_revoked")
    await all_in_step_with_registry(stack)


async def test_logout_is_refused_by_every_instance(stack: Stack) -> None:
    instances = await start_two_of_each(stack)
    token = await stack.token()
    for instance in instances:  # each has verified the signature: what remains is propagation
        assert (await check(stack, instance, token))["honoured"]
    reply = await stack.call("auth-2", "POST", "/api/v1/user/logout", token=token)
    assert reply.status == 200
    timings = await time_until_refused(stack, instances, token, "token_revoked")
    record("logout_to_refused_ms", timings)


@pytest.mark.skipif(not RabbitNode.available(), reason="needs rabbitmq-server on this machine")
async def test_broker_outage_keeps_the_staleness_bound_then_heals(stack: Stack) -> None:
    node = await RabbitNode().start()
    try:
        stack.env.update({"LATCHKEY_AMQP_URL": node.url, "LATCHKEY_MAX_STALENESS": "1"})
        await stack.start("registry", "auth")
        await stack.start("auth-2", LATCHKEY_STALE_MODE="deny")
        introspecting, denying = stack.services["auth"], stack.services["auth-2"]
        admin = await stack.token()
        await stack.create_user(admin, "agent-c")
        revoked_during = await stack.token("agent-c", "a long password 1")
        kept = await stack.token("agent-c", "a long password 1")

        await node.stop_app()
        await revoke(stack, admin, revoked_during, via="registry")

        async def stale(instance: ServiceProcess, mode: str) -> bool:
            return bool((await status(stack, instance))["mode"] == mode)

        await until(lambda: stale(introspecting, "introspect"), timeout=10, interval=0.1)
        await until(lambda: stale(denying, "deny"), timeout=10, interval=0.1)
        # Ready is "can do its job": asking the registry about each token it can; refusing
        # every token it cannot. The registry, which answers those questions, stays ready.
        assert (await stack.call(introspecting.name, "GET", "/readyz")).status == 200
        assert (await stack.call(denying.name, "GET", "/readyz")).status == 503
        assert (await stack.call("registry", "GET", "/readyz")).status == 200
        # Past the bound: one instance asks the registry about each token, the other refuses.
        assert (await check(stack, introspecting, revoked_during))["reason"] == "token_revoked"
        assert (await check(stack, introspecting, kept))["honoured"]
        for token in (revoked_during, kept):
            answer = await check(stack, denying, token)
            assert (answer["status"], answer["reason"]) == (503, "token_state_stale")

        await node.start_app()
        for instance in (introspecting, denying):
            # The introspecting instance stayed ready throughout: wait for it to be live.
            await until(lambda i=instance: _live_and_ready(stack, i), timeout=30, interval=0.1)
            assert (await check(stack, instance, revoked_during))["reason"] == "token_revoked"
            assert (await check(stack, instance, kept))["honoured"]
        await all_in_step_with_registry(stack)
    finally:
        await stack.stop()
        await node.stop()


async def _live_and_ready(stack: Stack, instance: ServiceProcess) -> bool:
    if (await status(stack, instance))["mode"] != "live":
        return False
    return (await stack.call(instance.name, "GET", "/readyz")).status == 200


async def test_restarts_mid_stream_and_late_starters_end_in_the_registrys_state(
    stack: Stack,
) -> None:
    await stack.start("registry", "auth")
    claims_list = [stack_claims(i) for i in range(2000)]
    # Records come in through the internal API, as auth's logins would.
    await gather_limited([record_token(stack, claims) for claims in claims_list], limit=25)

    async def revoke_range(start: int, stop: int) -> None:
        await gather_limited(
            [
                stack.call(
                    "registry",
                    "POST",
                    f"/internal/v1/tokens/{claims['jti']}/revoke",
                    json={"reason": "bulk"},
                    headers=AS_AUTH,
                )
                for claims in claims_list[start:stop]
            ],
            limit=25,
        )

    await revoke_range(0, 500)
    await stack.services["auth"].kill()
    await revoke_range(500, 900)
    await stack.start("auth")
    await revoke_range(900, 1300)
    await stack.registry.kill()
    await stack.start("registry")
    await revoke_range(1300, 2000)
    await stack.start("auth-2")
    await all_in_step_with_registry(stack, timeout=30)
    assert (await status(stack, stack.services["auth-2"]))["seq"] >= 2000


def stack_claims(index: int) -> dict[str, Any]:
    now = int(time.time())
    return {"jti": str(uuid.uuid4()), "sub": f"bulk-{index % 50}", "iat": now, "exp": now + 3600}


async def record_token(stack: Stack, claims: dict[str, Any]) -> None:
    reply = await stack.call(
        "registry",
        "POST",
        "/internal/v1/tokens",
        headers=AS_AUTH,
        json={
            "jti": claims["jti"],
            "userId": claims["sub"],
            "username": claims["sub"],
            "kind": "session",
            "issuedAt": datetime.fromtimestamp(claims["iat"], UTC).isoformat(),
            "expiresAt": datetime.fromtimestamp(claims["exp"], UTC).isoformat(),
        },
    )
    assert reply.status == 201, reply.body


async def gather_limited(coroutines: list[Any], *, limit: int) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: Any) -> Any:
        async with semaphore:
            try:
                return await coroutine
            except OSError:
                return None  # an instance being restarted refuses the connection

    return await asyncio.gather(*(run(c) for c in coroutines))
