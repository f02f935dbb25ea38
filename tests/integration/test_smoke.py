"""The registry in-process: alive at once, ready once its database, broker and view are."""

import asyncio

from tests.support.registry import Registry


async def test_registry_answers_health_and_becomes_ready(registry: Registry) -> None:
    assert (await registry.client.get("/healthz")).status == 200
    for _ in range(100):
        response = await registry.client.get("/readyz")
        if response.status == 200:
            break
        await asyncio.sleep(0.05)
    body = await response.json()
    assert response.status == 200, body
    assert {"database", "broker", "token_state"} <= set(body["data"]["checks"])
