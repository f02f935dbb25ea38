"""The outbox relay under faults: broker connections cut, two registry instances, a takeover."""

import asyncio
from typing import Any

from yarl import URL

from latchkey.registry.appkeys import RELAY
from tests.support.events import EventTap
from tests.support.infra import Infra
from tests.support.registry import Registry, RegistryFactory
from tests.support.tcpproxy import TcpProxy


async def revoke_new_tokens(registry: Registry, admin: dict[str, str], count: int) -> set[str]:
    jtis = set()
    for _ in range(count):
        _, claims = await registry.record()
        response = await registry.client.post(
            f"/api/v1/tokens/{claims['jti']}/revoke", json={"reason": "x"}, headers=admin
        )
        assert response.status == 200
        jtis.add(claims["jti"])
    return jtis


async def revoked_jtis_heard(tap: EventTap, expected: set[str], timeout: float = 20) -> set[str]:
    """Collect events until every expected jti was heard (duplicates allowed), or time out."""
    heard: set[str] = set()

    async def until_all() -> None:
        while not expected <= heard:
            event = await tap.next(timeout)
            heard.add(event["jti"])

    await asyncio.wait_for(until_all(), timeout)
    return heard


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_events_written_while_the_broker_is_cut_off_are_published_after(
    fresh_database: str, start_registry: RegistryFactory, infra: Infra, exchange: str
) -> None:
    broker = URL(infra.amqp_url)
    async with (
        TcpProxy(broker.host or "127.0.0.1", broker.port or 5672) as proxy,
        EventTap(infra.amqp_url, exchange) as tap,
    ):
        registry = await start_registry(fresh_database, amqp_url=str(broker.with_port(proxy.port)))
        admin = await registry.admin()
        before = await revoke_new_tokens(registry, admin, 5)
        assert await revoked_jtis_heard(tap, before) == before

        proxy.block()
        during = await revoke_new_tokens(registry, admin, 10)
        assert await tap.quiet(0.5) == []
        # Still ready (it serves introspection meanwhile); its relay says it is not relaying.
        ready = await registry.client.get("/readyz")
        assert ready.status == 200
        relay = (await ready.json())["data"]["checks"]["relay"]
        assert relay["ready"] is False, relay
        assert "broker unavailable" in relay["detail"]

        proxy.unblock()
        heard = await revoked_jtis_heard(tap, during)
        assert heard == during
        ready = await registry.client.get("/readyz")
        assert ready.status == 200


async def test_two_instances_migrate_together_and_exactly_one_relays(
    fresh_database: str, start_registry: RegistryFactory, infra: Infra, exchange: str
) -> None:
    first, second = await asyncio.gather(
        start_registry(fresh_database), start_registry(fresh_database)
    )
    relays = [first.app[RELAY], second.app[RELAY]]
    await wait_for(lambda: sorted(relay.role for relay in relays) == ["leader", "standby"])

    async with EventTap(infra.amqp_url, exchange) as tap:
        admin = await first.admin()
        jtis = await revoke_new_tokens(first, admin, 5) | await revoke_new_tokens(second, admin, 5)
        events = await tap.collect(10)
        assert {event["jti"] for event in events} == jtis
        assert len({event["seq"] for event in events}) == 10
        assert await tap.quiet(0.5) == []


async def test_a_standby_takes_over_when_the_relaying_instance_stops(
    fresh_database: str, start_registry: RegistryFactory, infra: Infra, exchange: str
) -> None:
    first = await start_registry(fresh_database)
    first_relay = first.app[RELAY]
    await wait_for(lambda: first_relay.role == "leader")
    second = await start_registry(fresh_database)
    second_relay = second.app[RELAY]
    await wait_for(lambda: second_relay.role == "standby")

    async with EventTap(infra.amqp_url, exchange) as tap:
        admin = await second.admin()
        await first.client.close()
        jtis = await revoke_new_tokens(second, admin, 5)
        assert await revoked_jtis_heard(tap, jtis) == jtis
    assert second_relay.role == "leader"


async def test_a_change_wakes_the_relay_at_once_through_notify(
    fresh_database: str, start_registry: RegistryFactory, infra: Infra, exchange: str
) -> None:
    """The event's row and its NOTIFY are one statement: the relay still hears every change
    at once, long before its next scan."""
    registry = await start_registry(
        fresh_database, relay_poll_interval=30.0, heartbeat_interval=30.0
    )
    relay = registry.app[RELAY]
    await wait_for(lambda: relay.role == "leader")
    async with EventTap(infra.amqp_url, exchange) as tap:
        await asyncio.sleep(0.3)  # past the scan the relay makes as it starts leading
        admin = await registry.admin()
        started = asyncio.get_running_loop().time()
        jtis = await revoke_new_tokens(registry, admin, 3)
        heard = await revoked_jtis_heard(tap, jtis, timeout=5)
        assert heard == jtis
        assert asyncio.get_running_loop().time() - started < 3


async def test_each_published_event_carries_the_sequence_number_its_change_answered(
    registry: Registry, infra: Infra, exchange: str
) -> None:
    """The payload's `seq` is written in the statement that takes the number."""
    admin = await registry.admin()
    async with EventTap(infra.amqp_url, exchange) as tap:
        answered = {}
        for _ in range(4):
            _, claims = await registry.record()
            response = await registry.client.post(
                f"/api/v1/tokens/{claims['jti']}/revoke", json={"reason": "x"}, headers=admin
            )
            answered[claims["jti"]] = (await response.json())["data"]["eventSeq"]
        events = await tap.collect(4)
    assert {event["jti"]: event["seq"] for event in events} == answered
    assert sorted(answered.values()) == list(
        range(min(answered.values()), max(answered.values()) + 1)
    )
