"""asyncpg in, pydantic models out: every read and write of the `registry` schema."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from latchkey.common import errors
from latchkey.common.db import Connection
from latchkey.common.events import (
    InstanceReport,
    SubjectRevocation,
    TokenDomains,
    TokenEvent,
    TokenRef,
    TokenStateSnapshot,
)
from latchkey.common.models import Actor
from latchkey.common.packed import PackedRefs
from latchkey.registry import queries
from latchkey.registry.models import (
    AuditEntry,
    DomainPolicy,
    NewTokenRecord,
    TokenListQuery,
    TokenRecord,
)


class TokenNotFound(errors.NotFound):
    message = "No token has this id."


def _token(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord.model_validate(dict(row))


async def insert_token(conn: Connection, *, record: NewTokenRecord) -> TokenRecord | None:
    """The new record, or None when a token with this jti is already recorded."""
    row = await conn.fetchrow(
        queries.INSERT_TOKEN,
        record.jti,
        record.user_id,
        record.username,
        record.kind.value,
        record.name,
        record.description,
        record.channel,
        record.platform,
        record.device,
        record.portals,
        record.allowed_domains,
        record.created_by,
        record.issued_at,
        record.expires_at,
    )
    return _token(row) if row is not None else None


async def get_token(conn: Connection, *, jti: UUID, for_update: bool = False) -> TokenRecord:
    query = queries.SELECT_TOKEN_FOR_UPDATE if for_update else queries.SELECT_TOKEN
    row = await conn.fetchrow(query, jti)
    if row is None:
        raise TokenNotFound()
    return _token(row)


async def list_tokens(
    conn: Connection,
    *,
    query: TokenListQuery,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[TokenRecord]:
    conditions: list[str] = []
    args: list[Any] = []

    def bind(fragment: str, *values: Any) -> None:
        placeholders = range(len(args) + 1, len(args) + 1 + len(values))
        conditions.append(fragment.format(*placeholders))
        args.extend(values)

    if query.user_id is not None:
        bind(queries.LIST_FILTER_USER_ID, query.user_id)
    if query.username is not None:
        bind(queries.LIST_FILTER_USERNAME, query.username)
    if query.kind is not None:
        bind(queries.LIST_FILTER_KIND, query.kind.value)
    if query.q is not None:
        bind(queries.LIST_FILTER_NAME, "%" + _escape_like(query.q) + "%")
    if query.status is not None:
        conditions.append(queries.LIST_FILTER_STATUS[query.status.value])
    if after is not None:
        bind(queries.LIST_FILTER_AFTER, *after)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"{queries.LIST_TOKENS}{where} {queries.LIST_ORDER.format(len(args) + 1)}"
    rows = await conn.fetch(sql, *args, limit)
    return [_token(row) for row in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def update_text(conn: Connection, *, jti: UUID, name: str, description: str) -> TokenRecord:
    return _token(await conn.fetchrow(queries.UPDATE_TOKEN_TEXT, jti, name, description))


async def set_domains(conn: Connection, *, jti: UUID, domains: list[str]) -> TokenRecord:
    return _token(await conn.fetchrow(queries.UPDATE_TOKEN_DOMAINS, jti, domains))


async def set_disabled(conn: Connection, *, jti: UUID, disabled: bool, actor: Actor) -> TokenRecord:
    return _token(await conn.fetchrow(queries.UPDATE_TOKEN_DISABLED, jti, disabled, actor.label))


async def mark_deep_link_used(conn: Connection, *, jti: UUID) -> bool:
    """True when this is the first use of the token's deep link."""
    return await conn.fetchval(queries.MARK_DEEP_LINK_USED, jti) is not None


async def revoke_token(
    conn: Connection, *, jti: UUID, actor: Actor, reason: str
) -> TokenRecord | None:
    """The revoked record, or None when it was revoked already (or does not exist)."""
    row = await conn.fetchrow(queries.REVOKE_TOKEN, jti, actor.label, reason)
    return _token(row) if row is not None else None


async def revoke_user_tokens(
    conn: Connection, *, user_id: str, actor: Actor, reason: str
) -> list[TokenRef]:
    rows = await conn.fetch(queries.REVOKE_USER_TOKENS, user_id, actor.label, reason)
    return [TokenRef(jti=row["jti"], expires_at=row["expires_at"]) for row in rows]


async def upsert_subject_revocation(
    conn: Connection,
    *,
    user_id: str,
    not_before: datetime,
    expires_at: datetime,
    actor: Actor,
    reason: str,
) -> datetime:
    """Record the user's not-before; returns how long the entry matters."""
    result: datetime = await conn.fetchval(
        queries.UPSERT_SUBJECT_REVOCATION, user_id, not_before, expires_at, actor.label, reason
    )
    return result


async def subject_not_before(conn: Connection, *, user_id: str) -> datetime | None:
    result: datetime | None = await conn.fetchval(queries.SELECT_SUBJECT_NOT_BEFORE, user_id)
    return result


async def mark_tokens_used(conn: Connection, *, used: dict[UUID, datetime]) -> None:
    if used:
        await conn.execute(queries.MARK_TOKENS_USED, list(used), list(used.values()))


# --- the outbox ---------------------------------------------------------------------------


async def append_event(
    conn: Connection, build: Callable[[int, datetime], TokenEvent], *, now: datetime
) -> TokenEvent:
    """Write the event built for the next sequence number, in the caller's transaction; the
    counter's row lock is held until the transaction ends. The event is built before its
    number is known (as number 1) and its stored payload gets the number in the same
    statement, so the lock is held for one round trip and the commit."""
    draft = build(1, now)
    seq: int = await conn.fetchval(queries.APPEND_EVENT, draft.type, draft.wire(), draft.at)
    return build(seq, now)


async def latest_seq(conn: Connection) -> int:
    seq: int = await conn.fetchval(queries.LATEST_SEQ)
    return seq


async def events_after(conn: Connection, *, after: int, limit: int) -> list[dict[str, Any]]:
    """Event payloads in wire form, in sequence order."""
    rows = await conn.fetch(queries.SELECT_EVENTS_AFTER, after, limit)
    return [row["payload"] for row in rows]


async def oldest_event_seq(conn: Connection) -> int | None:
    seq: int | None = await conn.fetchval(queries.OLDEST_EVENT_SEQ)
    return seq


async def unpublished_events(conn: Connection, *, limit: int) -> list[tuple[int, dict[str, Any]]]:
    rows = await conn.fetch(queries.SELECT_UNPUBLISHED, limit)
    return [(row["seq"], row["payload"]) for row in rows]


async def mark_published(conn: Connection, *, seqs: list[int]) -> None:
    await conn.execute(queries.MARK_PUBLISHED, seqs)


async def prune_events(conn: Connection, *, older_than_days: int) -> int:
    status: str = await conn.execute(queries.PRUNE_EVENTS, older_than_days)
    return int(status.rsplit(" ", 1)[-1])


async def try_relay_lock(conn: Connection) -> bool:
    locked: bool = await conn.fetchval(queries.TRY_RELAY_LOCK)
    return locked


async def snapshot(conn: Connection, *, at: datetime) -> TokenStateSnapshot:
    """Read inside a REPEATABLE READ transaction so state and seq agree; `at` is when the
    registry was at least this far, taken before the transaction's first read."""
    seq = await latest_seq(conn)
    await conn.execute(queries.SNAPSHOT_WORK_MEM)
    revoked = await conn.fetch(queries.SNAPSHOT_REVOKED)
    disabled = await conn.fetch(queries.SNAPSHOT_DISABLED)
    domains = await conn.fetch(queries.SNAPSHOT_DOMAINS)
    subjects = await conn.fetch(queries.SNAPSHOT_SUBJECTS)
    policy = await get_policy(conn)
    return TokenStateSnapshot(
        seq=seq,
        at=at,
        revoked=PackedRefs.from_runs(revoked),
        disabled=PackedRefs.from_runs(disabled),
        domains=[TokenDomains.model_validate(dict(row)) for row in domains],
        subjects=[SubjectRevocation.model_validate(dict(row)) for row in subjects],
        policy_domains=policy.domains,
    )


# --- the domain policy and the audit log ------------------------------------------------


async def get_policy(conn: Connection) -> DomainPolicy:
    return DomainPolicy.model_validate(dict(await conn.fetchrow(queries.SELECT_POLICY)))


async def set_policy(conn: Connection, *, domains: list[str], actor: Actor) -> DomainPolicy:
    row = await conn.fetchrow(queries.UPDATE_POLICY, domains, actor.label)
    return DomainPolicy.model_validate(dict(row))


async def insert_audit(
    conn: Connection, *, actor: Actor, action: str, target: str, details: dict[str, Any]
) -> None:
    await conn.execute(queries.INSERT_AUDIT, actor.id, actor.name, action, target, details)


async def list_audit(
    conn: Connection, *, before: int | None, target: str | None, limit: int
) -> list[AuditEntry]:
    rows = await conn.fetch(queries.LIST_AUDIT, before, target, limit)
    return [AuditEntry.model_validate(dict(row)) for row in rows]


# --- delivery receipts ----------------------------------------------------------------------


async def record_report(conn: Connection, *, report: InstanceReport) -> None:
    """Called in a transaction; a receipt lost in a crash is resent, so its commit need not
    wait for the disk."""
    await conn.execute(queries.RELAXED_COMMIT)
    await conn.execute(
        queries.UPSERT_INSTANCE,
        report.instance_id,
        report.service,
        report.applied_seq,
        report.mode,
        report.started_at,
    )
    if report.applied:
        await conn.execute(
            queries.INSERT_DELIVERIES,
            report.instance_id,
            [item.seq for item in report.applied],
            [item.applied_at for item in report.applied],
            [item.caught_up for item in report.applied],
        )


async def live_instances(conn: Connection, *, timeout: float) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(queries.LIVE_INSTANCES, timeout)]


async def get_event_header(conn: Connection, *, seq: int) -> dict[str, Any]:
    row = await conn.fetchrow(queries.SELECT_EVENT, seq)
    if row is None:
        raise errors.NotFound("No change has this sequence number (or it is no longer kept).")
    return dict(row)


async def deliveries(
    conn: Connection, *, seq: int, instance_ids: list[str]
) -> dict[str, tuple[datetime, bool]]:
    """Per instance, its first receipt at or after `seq`: when, and whether it caught up
    then (a snapshot, or a receipt of a later change) rather than applying `seq` itself."""
    rows = await conn.fetch(queries.SELECT_DELIVERIES, seq, instance_ids)
    return {
        row["instance_id"]: (row["applied_at"], row["caught_up"] or row["seq"] != seq)
        for row in rows
    }


async def prune_receipts(
    conn: Connection, *, instances_after: float, deliveries_after: float
) -> None:
    """Forget instances silent for `instances_after` s, receipts older than `deliveries_after`."""
    await conn.execute(queries.PRUNE_INSTANCES, instances_after)
    await conn.execute(queries.PRUNE_DELIVERIES, deliveries_after)


# --- the keys events are signed with ----------------------------------------------------


async def lock_event_keys(conn: Connection) -> None:
    await conn.execute(queries.EVENT_KEY_LOCK)


async def event_keys(conn: Connection) -> list[tuple[str, str, str]]:
    """(kid, stored private key, public key), newest first."""
    rows = await conn.fetch(queries.SELECT_EVENT_KEYS)
    return [(row["kid"], row["private_key"], row["public_key"]) for row in rows]


async def insert_event_key(
    conn: Connection, *, kid: str, private_key: str, public_key: str
) -> None:
    await conn.execute(queries.INSERT_EVENT_KEY, kid, private_key, public_key)


async def reseal_event_key(conn: Connection, *, kid: str, private_key: str) -> None:
    await conn.execute(queries.RESEAL_EVENT_KEY, kid, private_key)


# --- console confirmations ----------------------------------------------------------------


async def is_confirmed(conn: Connection, *, jti: UUID) -> bool:
    return await conn.fetchval(queries.SELECT_CONFIRMED, jti) is not None


async def confirm(conn: Connection, *, jti: UUID, seconds: int) -> None:
    await conn.execute(queries.UPSERT_CONFIRMATION, jti, float(seconds))


async def prune_confirmations(conn: Connection) -> None:
    await conn.execute(queries.PRUNE_CONFIRMATIONS)


async def revoke_unknown(
    conn: Connection, *, jti: UUID, actor: Actor, reason: str, lasts: float
) -> TokenRecord | None:
    """Record the revocation of a jti no record names; None when one does after all."""
    row = await conn.fetchrow(queries.INSERT_REVOKED_UNKNOWN, jti, lasts, actor.label, reason)
    return _token(row) if row is not None else None
