"""The global domain policy and the audit log."""

import asyncpg

from latchkey.common.clock import Clock, utc_now
from latchkey.common.events import (
    DomainPolicyChanged,
)
from latchkey.common.models import Actor
from latchkey.registry import repository as repo
from latchkey.registry.changes import change
from latchkey.registry.models import (
    AuditPage,
    AuditQuery,
    DomainPolicy,
    DomainPolicyChange,
)


async def get_policy(pool: asyncpg.Pool) -> DomainPolicy:
    async with pool.acquire() as conn:
        return await repo.get_policy(conn)


async def set_policy(
    pool: asyncpg.Pool, *, domains: list[str], actor: Actor, clock: Clock = utc_now
) -> DomainPolicyChange:
    async with change(pool, actor=actor, clock=clock) as unit:
        policy = await repo.set_policy(unit.conn, domains=domains, actor=actor)
        unit.audit("policy.update", target="", details={"domains": domains})
        unit.emit(lambda seq, at: DomainPolicyChanged(seq=seq, at=at, domains=domains))
    assert unit.seq is not None
    return DomainPolicyChange(**dict(policy), event_seq=unit.seq)


async def list_audit(pool: asyncpg.Pool, *, query: AuditQuery) -> AuditPage:
    async with pool.acquire() as conn:
        items = await repo.list_audit(
            conn, before=query.before, target=query.target, limit=query.limit + 1
        )
    more = len(items) > query.limit
    items = items[: query.limit]
    return AuditPage(items=items, next_before=items[-1].id if more else None)
