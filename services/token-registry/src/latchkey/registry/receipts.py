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
        done = [row["instance_id"] for row in rows if row["applied_seq"] >= seq]
        found = await repo.deliveries(conn, seq=seq, instance_ids=done)
    items = []
    for row in rows:
        # An instance that took the change with a snapshot (it started after it, or applied
        # more than it could report) has no receipt for it: it has one for when it caught up.
        when, caught_up = found.get(row["instance_id"], (None, False))
        latency = (when - event["created_at"]).total_seconds() * 1000 if when else None
        items.append(
            InstanceDelivery(
                instance_id=row["instance_id"],
                service=row["service"],
                applied=row["applied_seq"] >= seq,
                applied_at=when,
                latency_ms=latency,
                caught_up=caught_up,
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
