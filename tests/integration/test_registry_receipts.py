"""Instances' reports reaching the registry at once: the tokens they saw used are marked in one
order whatever order each report lists them in, so concurrent reports never deadlock."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from latchkey.common.appkeys import POOL
from tests.support.registry import INTERNAL, Registry


def report(instance: str, jtis: list[str], at: datetime) -> dict[str, Any]:
    return {
        "instanceId": instance,
        "service": "auth",  # the caller INTERNAL names
        "appliedSeq": 0,
        "startedAt": "2030-01-01T00:00:00Z",
        "mode": "live",
        "used": [{"jti": jti, "at": at.isoformat()} for jti in jtis],
    }


async def test_reports_of_the_same_tokens_in_opposite_orders_all_land(registry: Registry) -> None:
    """Seen in `make bench`: two instances reporting the same busy tokens, listed in the
    orders each saw them, deadlocked in PostgreSQL and one report answered 500."""
    jtis = [(await registry.record())[1]["jti"] for _ in range(200)]
    now = datetime.now(UTC)

    async def send(instance: str, order: list[str], offset: int) -> int:
        body = report(instance, order, now + timedelta(milliseconds=offset))
        async with registry.client.post(
            "/internal/v1/instances/report", json=body, headers=INTERNAL
        ) as response:
            return response.status

    statuses = await asyncio.gather(
        *(send(f"auth-{i % 2}", jtis if i % 2 else jtis[::-1], i) for i in range(40))
    )
    assert statuses == [200] * 40
    async with registry.app[POOL].acquire() as conn:
        latest = await conn.fetchval(
            "SELECT count(*) FROM registry.tokens WHERE last_used_at = $1",
            now + timedelta(milliseconds=39),
        )
    assert latest == len(jtis), "the latest use of each token is the one kept"
