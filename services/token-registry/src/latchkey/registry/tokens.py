"""Token records: recording, generating, listing, and changing their state (with events)."""

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from latchkey.common import errors
from latchkey.common.auth_client import AuthClient
from latchkey.common.clock import Clock, utc_now
from latchkey.common.events import (
    TokenDisabled,
    TokenDomainsChanged,
    TokenEnabled,
    TokenEvent,
    TokenRevoked,
    UserRevoked,
)
from latchkey.common.models import Actor
from latchkey.common.service_client import ServiceError
from latchkey.registry import repository as repo
from latchkey.registry.models import (
    GeneratedToken,
    GenerateTokenRequest,
    NewTokenRecord,
    TokenChange,
    TokenKind,
    TokenListQuery,
    TokenPage,
    TokenPatch,
    TokenRecord,
    TokenStatus,
    UserRevocation,
)

IN_FLIGHT_GRACE = timedelta(minutes=5)
"""How long a user's revocation still refuses to record tokens signed before it (auth records
a token within seconds of signing it; this is a generous bound)."""


class SubjectRevoked(errors.Conflict):
    reason = "subject_revoked"
    message = "Every token of this user issued before now has been revoked; issue a new one."


class RevokedIsFinal(errors.Conflict):
    reason = "revoked_is_final"
    message = "A revoked token cannot be disabled, enabled or given other domains."


class InvalidCursor(errors.ValidationFailed):
    message = "The cursor is not one this API gave out."


async def record_token(pool: asyncpg.Pool, *, record: NewTokenRecord) -> TokenRecord:
    """Record a token being issued; recording the same token twice is harmless."""
    async with pool.acquire() as conn, conn.transaction():
        not_before = await repo.subject_not_before(conn, user_id=record.user_id)
        if not_before is not None and record.issued_at.timestamp() < math.floor(
            not_before.timestamp()
        ):
            raise SubjectRevoked()
        created = await repo.insert_token(conn, record=record)
        if created is not None:
            return created
        existing = await repo.get_token(conn, jti=record.jti)
        if (existing.user_id, existing.kind) != (record.user_id, record.kind):
            raise errors.Conflict("Another token with this jti is already recorded.")
        return existing


async def generate_token(
    pool: asyncpg.Pool, auth: AuthClient, *, request: GenerateTokenRequest, actor: Actor
) -> GeneratedToken:
    """Have auth sign an access token, record it, and only then hand it out."""
    try:
        signed = await auth.sign_access_token(
            user_id=request.user_id,
            portals=request.portals,
            allowed_domains=request.allowed_domains,
            expires_at=request.expires_at,
        )
    except ServiceError as exc:
        raise exc.relay() from exc
    record = await record_token(
        pool,
        record=NewTokenRecord(
            jti=signed["jti"],
            user_id=signed["userId"],
            username=signed["username"],
            kind=TokenKind.ACCESS,
            name=request.name,
            description=request.description,
            channel="console",
            portals=signed["portals"],
            allowed_domains=signed["allowedDomains"],
            created_by=actor.label,
            issued_at=signed["issuedAt"],
            expires_at=signed["expiresAt"],
        ),
    )
    async with pool.acquire() as conn:
        await repo.insert_audit(
            conn,
            actor=actor,
            action="token.create",
            target=str(record.jti),
            details={"userId": record.user_id, "name": record.name},
        )
    return GeneratedToken(access_token=signed["accessToken"], token=record)


class LinkAlreadyUsed(errors.Conflict):
    reason = "link_already_used"
    message = "This token's deep link has already been used."


async def use_deep_link(pool: asyncpg.Pool, *, jti: UUID) -> None:
    """Record the first use of a single-use deep link; a second use is refused and audited."""
    async with pool.acquire() as conn, conn.transaction():
        if await repo.mark_deep_link_used(conn, jti=jti):
            return
        record = await repo.get_token(conn, jti=jti)
        await repo.insert_audit(
            conn,
            actor=Actor(id=record.user_id, name=record.username),
            action="token.deep_link_reused",
            target=str(jti),
            details={},
        )
    raise LinkAlreadyUsed()


async def get_token(pool: asyncpg.Pool, *, jti: UUID) -> TokenRecord:
    async with pool.acquire() as conn:
        return await repo.get_token(conn, jti=jti)


def encode_cursor(record: TokenRecord) -> str:
    raw = json.dumps([record.issued_at.isoformat(), str(record.jti)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        issued_at, jti = json.loads(raw)
        return datetime.fromisoformat(issued_at), UUID(jti)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor(data=[{"field": "cursor", "message": "not a valid cursor"}]) from None


async def list_tokens(pool: asyncpg.Pool, *, query: TokenListQuery, max_page: int) -> TokenPage:
    limit = min(query.limit, max_page)
    after = decode_cursor(query.cursor) if query.cursor else None
    async with pool.acquire() as conn:
        items = await repo.list_tokens(conn, query=query, after=after, limit=limit + 1)
    next_cursor = encode_cursor(items[limit - 1]) if len(items) > limit else None
    return TokenPage(items=items[:limit], next_cursor=next_cursor)


async def revoke_token(
    pool: asyncpg.Pool, *, jti: UUID, actor: Actor, reason: str, clock: Clock = utc_now
) -> TokenChange:
    """Revoke once; revoking again answers the same record and causes no new event."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        revoked = await repo.revoke_token(conn, jti=jti, actor=actor, reason=reason)
        if revoked is None:
            return TokenChange(**dict(await repo.get_token(conn, jti=jti)), event_seq=None)
        await repo.insert_audit(
            conn, actor=actor, action="token.revoke", target=str(jti), details={"reason": reason}
        )
        event = await repo.append_event(
            conn,
            lambda seq, at: TokenRevoked(seq=seq, at=at, jti=jti, expires_at=revoked.expires_at),
            now=now,
        )
    return TokenChange(**dict(revoked), event_seq=event.seq)


async def update_token(
    pool: asyncpg.Pool, *, jti: UUID, patch: TokenPatch, actor: Actor, clock: Clock = utc_now
) -> TokenChange:
    """Apply the fields present in `patch`; state changes emit their events."""
    now = clock()
    fields = patch.model_fields_set
    async with pool.acquire() as conn, conn.transaction():
        current = await repo.get_token(conn, jti=jti, for_update=True)
        if current.status == TokenStatus.REVOKED and fields & {"allowed_domains", "disabled"}:
            raise RevokedIsFinal()
        record, changes = current, {}
        events: list[Callable[[int, datetime], TokenEvent]] = []
        if fields & {"name", "description"}:
            name = patch.name if patch.name is not None else current.name
            description = (
                patch.description if patch.description is not None else current.description
            )
            record = await repo.update_text(conn, jti=jti, name=name, description=description)
            changes.update({key: getattr(record, key) for key in fields & {"name", "description"}})
        if patch.allowed_domains is not None and patch.allowed_domains != current.allowed_domains:
            domains = patch.allowed_domains
            record = await repo.set_domains(conn, jti=jti, domains=domains)
            events.append(
                lambda seq, at: TokenDomainsChanged(
                    seq=seq, at=at, jti=jti, domains=domains, expires_at=current.expires_at
                )
            )
            changes["allowedDomains"] = domains
        if patch.disabled is not None and patch.disabled != current.disabled:
            disabled = patch.disabled
            record = await repo.set_disabled(conn, jti=jti, disabled=disabled, actor=actor)
            event_type = TokenDisabled if disabled else TokenEnabled
            events.append(
                lambda seq, at: event_type(seq=seq, at=at, jti=jti, expires_at=current.expires_at)
            )
            changes["disabled"] = disabled
        if changes:
            await repo.insert_audit(
                conn, actor=actor, action="token.update", target=str(jti), details=changes
            )
        # Events last: the sequence counter's lock is held from here to the commit only.
        last_event = None
        for build in events:
            last_event = await repo.append_event(conn, build, now=now)
    return TokenChange(**dict(record), event_seq=last_event.seq if last_event is not None else None)


async def revoke_user(
    pool: asyncpg.Pool, *, user_id: str, actor: Actor, reason: str, clock: Clock = utc_now
) -> UserRevocation:
    """Revoke every token of a user issued up to now, as one event."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        tokens = await repo.revoke_user_tokens(conn, user_id=user_id, actor=actor, reason=reason)
        entry_expires = await repo.upsert_subject_revocation(
            conn,
            user_id=user_id,
            not_before=now,
            expires_at=max([now + IN_FLIGHT_GRACE, *(token.expires_at for token in tokens)]),
            actor=actor,
            reason=reason,
        )
        await repo.insert_audit(
            conn,
            actor=actor,
            action="user.revoke",
            target=user_id,
            details={"reason": reason, "tokens": len(tokens)},
        )
        event = await repo.append_event(
            conn,
            lambda seq, at: UserRevoked(
                seq=seq,
                at=at,
                user_id=user_id,
                not_before=now,
                expires_at=entry_expires,
                tokens=tokens,
            ),
            now=now,
        )
    return UserRevocation(
        user_id=user_id, not_before=now, revoked_tokens=len(tokens), seq=event.seq
    )
