"""Anyone who can publish to the events exchange (a leaked broker password, a compromised
service) tries to cancel revocations: instances act only on what the registry signed, and what
they cannot read they ask the registry about."""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import aio_pika
import jwt

from latchkey.common.appkeys import TOKEN_STATE
from tests.support.apps import Services
from tests.support.credentials import AS_AUTH
from tests.support.infra import Infra
from tests.support.stack import USER_PASSWORD


async def publish(infra: Infra, exchange: str, body: dict[str, Any], **headers: str) -> None:
    """What an attacker on the broker does: publish to the fanout exchange."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        target = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.FANOUT, durable=True, passive=True
        )
        await target.publish(
            aio_pika.Message(json.dumps(body).encode(), headers=headers or None), routing_key=""
        )


async def verdict(services: Services, token: str) -> str | None:
    """Why auth's instance refuses `token` (None: it honours it)."""
    status, body = await services.call(
        "auth", "POST", "/internal/v1/token-state/check", headers=AS_AUTH, json={"token": token}
    )
    assert status == 200, body
    reason: str | None = body["data"]["reason"]
    return reason


async def settles(services: Services, token: str, expected: str | None) -> None:
    for _ in range(200):
        if await verdict(services, token) == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"auth says {await verdict(services, token)!r}, not {expected!r}")


async def seq_now(services: Services) -> int:
    seq: int = services.apps["registry"][TOKEN_STATE].view.seq
    return seq


async def test_forged_events_change_nothing_and_cancel_no_revocation(
    services: Services, infra: Infra, exchange: str
) -> None:
    admin = await services.token()
    await services.create_user(admin, "victim")
    first, second = [await services.token("victim", USER_PASSWORD) for _ in range(2)]
    now = datetime.now(UTC).isoformat()

    # 1. The next sequence number with a type nobody knows, then the real revocation
    #    under that number: on the broker's word alone it would be skipped, and the real
    #    one dropped as a duplicate.
    await publish(
        infra, exchange, {"v": 1, "seq": await seq_now(services) + 1, "type": "x.y", "at": now}
    )
    jti = jwt.decode(first, options={"verify_signature": False})["jti"]
    status, body = await services.call(
        "registry", "POST", f"/api/v1/tokens/{jti}/revoke", token=admin, json={"reason": "x"}
    )
    assert status == 200, body
    await settles(services, first, "token_revoked")

    # 2. A disabled token re-enabled by a forged event (with a made-up signature too).
    jti = jwt.decode(second, options={"verify_signature": False})["jti"]
    status, body = await services.call(
        "registry", "PATCH", f"/api/v1/tokens/{jti}", token=admin, json={"disabled": True}
    )
    assert status == 200, body
    await settles(services, second, "token_disabled")
    forged = {
        "v": 1,
        "seq": await seq_now(services) + 1,
        "type": "token.enabled",
        "at": now,
        "jti": jti,
        "expiresAt": body["data"]["expiresAt"],
    }
    await publish(infra, exchange, forged)
    await publish(
        infra,
        exchange,
        forged,
        **{"x-latchkey-key": "made-up", "x-latchkey-signature": "AAAA"},
    )
    # 3. And a heartbeat claiming the registry is far ahead, to make instances stale.
    await publish(infra, exchange, {"v": 1, "type": "heartbeat", "seq": 10**9, "at": now})
    await asyncio.sleep(0.5)
    assert await verdict(services, second) == "token_disabled"
    state = services.apps["auth"][TOKEN_STATE]
    assert state.sync.rejected >= 4
    assert state.sequencer.latest_known < 10**9
    assert state.live()
    # The instance's receipts report only what the registry published.
    assert state.view.seq == await seq_now(services)


async def test_a_view_that_went_astray_is_noticed_and_reloaded(services: Services) -> None:
    """Whatever made a view differ from the registry's records (a bug in applying an event,
    a message that slipped through), comparing digests finds it and a snapshot repairs it."""
    admin = await services.token()
    await services.create_user(admin, "victim")
    token = await services.token("victim", USER_PASSWORD)
    state = services.apps["auth"][TOKEN_STATE]
    assert await state.compare_with_registry() is True
    view = state.view
    revoke = view._revoke
    view._revoke = lambda *args: None  # type: ignore[method-assign]  # the "bug"
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    status, body = await services.call(
        "registry", "POST", f"/api/v1/tokens/{jti}/revoke", token=admin, json={"reason": "x"}
    )
    assert status == 200
    for _ in range(250):
        if view.seq >= body["data"]["eventSeq"]:
            break
        await asyncio.sleep(0.02)
    assert view.seq >= body["data"]["eventSeq"]
    view._revoke = revoke  # type: ignore[method-assign]
    assert await verdict(services, token) is None, "the astray view honours it"
    assert await state.compare_with_registry() is False
    assert state.resyncs == 1
    assert await verdict(services, token) == "token_revoked"
    assert await state.compare_with_registry() is True
