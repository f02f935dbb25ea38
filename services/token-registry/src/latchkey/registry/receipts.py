"""Delivery receipts: which instances have applied which change, and how fast."""

import asyncpg

from latchkey.common.events import (
    InstanceReport,
)
from latchkey.registry import repository as repo
from latchkey.registry.models import (
    DeliveryReceipt,
    Instance,
    InstanceDelivery,
)


async def record_report(pool: asyncpg.Pool, *, report: InstanceReport) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await repo.record_report(conn, report=report)
        await repo.mark_tokens_used(conn, used={use.jti: use.at for use in report.used})


async def instances(pool: asyncpg.Pool, *, timeout: float) -> list[Instance]:
    async with pool.acquire() as conn:
        latest = await repo.latest_seq(conn)
        rows = await repo.live_instances(conn, timeout=timeout)
    return [Instance(**row, lag=max(0, latest - row["applied_seq"])) for row in rows]


async def delivery(pool: asyncpg.Pool, *, seq: int, timeout: float) -> DeliveryReceipt:
    """Which live instances have applied change `seq`, and how long after its commit."""
    async with pool.acquire() as conn:
        event = await repo.get_event_header(conn, seq=seq)
        rows = await repo.live_instances(conn, timeout=timeout)
        applied_at = await repo.deliveries(conn, seq=seq)
    items = []
    for row in rows:
        done = row["applied_seq"] >= seq
        when = applied_at.get(row["instance_id"]) if done else None
        latency = (when - event["created_at"]).total_seconds() * 1000 if when else None
        items.append(
            InstanceDelivery(
                instance_id=row["instance_id"],
                service=row["service"],
                applied=done,
                applied_at=when,
                latency_ms=latency,
            )
        )
    pending = [item.instance_id for item in items if not item.applied]
    return DeliveryReceipt(
        seq=seq,
        type=event["type"],
        at=event["created_at"],
        instances=len(items),
        applied=len(items) - len(pending),
        complete=bool(items) and not pending,
        pending=pending,
        deliveries=items,
    )
