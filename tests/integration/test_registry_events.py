"""The outbox's ordering promise: sequence numbers follow commit order, and a snapshot plus the
events after it reproduce the registry's state exactly."""

import asyncio
from typing import Any

import asyncpg

from tests.support.events import EventTap
from tests.support.infra import Infra
from tests.support.registry import INTERNAL, Registry, RegistryFactory
from tests.support.state import ReferenceState


async def internal_get(registry: Registry, path: str) -> Any:
    response = await registry.client.get(path, headers=INTERNAL)
    assert response.status == 200, await response.text()
    return (await response.json())["data"]


async def all_events_after(registry: Registry, after: int, page: int = 50) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        data = await internal_get(registry, f"/internal/v1/events?after={after}&limit={page}")
        events += data["events"]
        if not data["events"]:
            return events
        after = data["events"][-1]["seq"]


async def test_two_hundred_concurrent_revocations_arrive_in_strictly_increasing_order(
    fresh_database: str, start_registry: RegistryFactory, infra: Infra, exchange: str
) -> None:
    registry = await start_registry(fresh_database)
    admin = await registry.admin()
    records = [(await registry.record())[1] for _ in range(200)]
    async with EventTap(infra.amqp_url, exchange) as tap:
        responses = await asyncio.gather(
            *(
                registry.client.post(
                    f"/api/v1/tokens/{claims['jti']}/revoke", json={"reason": "x"}, headers=admin
                )
                for claims in records
            )
        )
        assert {response.status for response in responses} == {200}
        answered = sorted([(await r.json())["data"]["eventSeq"] for r in responses])
        events = await tap.collect(200)
    seqs = [event["seq"] for event in events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 200
    assert seqs == answered == list(range(seqs[0], seqs[0] + 200))
    assert {event["jti"] for event in events} == {claims["jti"] for claims in records}


async def test_snapshot_plus_later_events_reproduce_the_final_state(
    fresh_database: str, start_registry: RegistryFactory
) -> None:
    registry = await start_registry(fresh_database)
    admin = await registry.admin()
    tokens = [(await registry.record())[1]["jti"] for _ in range(30)]

    async def change(index: int, jti: str) -> None:
        path = f"/api/v1/tokens/{jti}"
        operations: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", path + "/revoke", {"reason": "x"}),
            ("PATCH", path, {"disabled": True}),
            ("PATCH", path, {"allowedDomains": [f"site{index}.example.com"]}),
        ]
        method, url, body = operations[index % 3]
        response = await registry.client.request(method, url, json=body, headers=admin)
        assert response.status == 200

    await asyncio.gather(*(change(i, jti) for i, jti in enumerate(tokens[:15])))
    middle = await internal_get(registry, "/internal/v1/token-state")
    await asyncio.gather(*(change(i, jti) for i, jti in enumerate(tokens[15:])))
    await registry.client.put(
        "/api/v1/domain-policy", json={"domains": ["*.example.net"]}, headers=admin
    )
    final = await internal_get(registry, "/internal/v1/token-state")

    replayed = ReferenceState.from_snapshot(middle)
    for event in await all_events_after(registry, middle["seq"], page=7):
        replayed.apply(event)
    assert replayed == ReferenceState.from_snapshot(final)
    assert replayed.seq == final["seq"] > middle["seq"]

    from_scratch = ReferenceState()
    for event in await all_events_after(registry, 0):
        from_scratch.apply(event)
    assert from_scratch == replayed


async def test_events_older_than_the_retention_are_gone_with_a_clear_410(
    fresh_database: str, start_registry: RegistryFactory
) -> None:
    registry = await start_registry(fresh_database)
    admin = await registry.admin()
    for _ in range(3):
        _, claims = await registry.record()
        await registry.client.post(
            f"/api/v1/tokens/{claims['jti']}/revoke", json={"reason": "x"}, headers=admin
        )
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute("DELETE FROM registry.events WHERE seq = 1")
    finally:
        await conn.close()
    response = await registry.client.get("/internal/v1/events?after=0", headers=INTERNAL)
    body = await response.json()
    assert (response.status, body["reason"]) == (410, "events_pruned")
    data = await internal_get(registry, "/internal/v1/events?after=1")
    assert [event["seq"] for event in data["events"]] == [2, 3]
    assert data["latest"] == 3
