from tests.integration.conftest import Registry


async def test_registry_answers_health_and_readiness(registry: Registry) -> None:
    response = await registry.client.get("/healthz")
    assert response.status == 200
    response = await registry.client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["data"]["checks"]["database"]["ready"]
