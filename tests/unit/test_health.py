"""`/readyz`: decided by the checks a service names, every other check reported beside."""

from typing import Any

import pytest
from aiohttp import web

from latchkey.common.app import base_app
from latchkey.common.health import add_readiness_check
from latchkey.registry.settings import RegistrySettings


def app_with(ready_when: tuple[str, ...], **checks: bool) -> web.Application:
    app = base_app(RegistrySettings(_env_file=None), title="test", ready_when=ready_when)

    for name, ready in checks.items():

        async def probe(ready: bool = ready) -> tuple[bool, str]:
            return ready, "fine" if ready else "broken"

        add_readiness_check(app, name, probe)
    return app


async def readyz(aiohttp_client: Any, app: web.Application) -> tuple[int, dict[str, Any]]:
    client = await aiohttp_client(app)
    response = await client.get("/readyz")
    return response.status, (await response.json())["data"]


async def test_a_failing_check_readiness_is_not_decided_by_is_reported_not_fatal(
    aiohttp_client: Any,
) -> None:
    status, data = await readyz(aiohttp_client, app_with(("database",), database=True, relay=False))
    assert status == 200
    assert data == {
        "status": "degraded",
        "checks": {
            "database": {"ready": True, "detail": "fine", "required": True},
            "relay": {"ready": False, "detail": "broken", "required": False},
        },
    }


async def test_a_failing_check_readiness_is_decided_by_is_a_503(aiohttp_client: Any) -> None:
    status, data = await readyz(aiohttp_client, app_with(("database",), database=False, relay=True))
    assert status == 503
    assert data["status"] == "unready"


async def test_without_ready_when_every_check_decides(aiohttp_client: Any) -> None:
    status, _ = await readyz(aiohttp_client, app_with((), database=True, relay=False))
    assert status == 503


async def test_a_deciding_check_nobody_added_is_refused_at_start() -> None:
    runner = web.AppRunner(app_with(("databse",), database=True))
    try:
        with pytest.raises(RuntimeError, match="databse"):
            await runner.setup()
    finally:
        await runner.cleanup()
