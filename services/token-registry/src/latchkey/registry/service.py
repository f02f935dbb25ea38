"""The registry's rules: each state change and its outbox event commit together, or not at all."""

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from latchkey.common import errors
from latchkey.common.auth_client import AuthClient
from latchkey.common.db import Connection
from latchkey.common.events import (
    DomainPolicyChanged,
    EventPage,
    TokenDisabled,
    TokenDomainsChanged,
    TokenEnabled,
    TokenEvent,
    TokenRevoked,
    TokenStateSnapshot,
    UserRevoked,
    token_event_adapter,
)
from latchkey.common.models import Actor
from latchkey.common.service_client import ServiceError
from latchkey.common.tokens import Claims, TokenVerifier
from latchkey.registry import repository as repo
from latchkey.registry.models import (
    AuditPage,
    AuditQuery,
    DomainPolicy,
    DomainPolicyChange,
    GeneratedToken,
    GenerateTokenRequest,
    Introspection,
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

Clock = Callable[[], datetime]

IN_FLIGHT_GRACE = timedelta(minutes=5)
"""How long a user's revocation still refuses to record tokens signed before it (auth records
a token within seconds of signing it; this is a generous bound)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventsPruned(errors.Gone):
    reason = "events_pruned"
    message = "Events this old are no longer kept; load the token-state snapshot instead."


class SubjectRevoked(errors.Conflict):
    reason = "subject_revoked"
    message = "Every token of this user issued before now has been revoked; issue a new one."


class RevokedIsFinal(errors.Conflict):
    reason = "token_revoked"
    message = "A revoked token cannot be disabled, enabled or given other domains."


class InvalidCursor(errors.ValidationFailed):
    message = "The cursor is not one this API gave out."


async def _append_event(
    conn: Connection, build: Callable[[int, datetime], TokenEvent], *, now: datetime
) -> TokenEvent:
    event = build(await repo.next_seq(conn), now)
    await repo.insert_event(conn, event=event)
    return event


# --- recording and reading tokens ---------------------------------------------------------


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


# --- changing token state -----------------------------------------------------------------


async def revoke_token(
    pool: asyncpg.Pool, *, jti: UUID, actor: Actor, reason: str, clock: Clock = utc_now
) -> TokenChange:
    """Revoke once; revoking again answers the same record and causes no new event."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        revoked = await repo.revoke_token(conn, jti=jti, actor=actor, reason=reason)
        if revoked is None:
            return TokenChange(**dict(await repo.get_token(conn, jti=jti)), event_seq=None)
        event = await _append_event(
            conn,
            lambda seq, at: TokenRevoked(seq=seq, at=at, jti=jti, expires_at=revoked.expires_at),
            now=now,
        )
        await repo.insert_audit(
            conn, actor=actor, action="token.revoke", target=str(jti), details={"reason": reason}
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
        record, changes, last_event = current, {}, None
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
            last_event = await _append_event(
                conn,
                lambda seq, at: TokenDomainsChanged(
                    seq=seq, at=at, jti=jti, domains=domains, expires_at=current.expires_at
                ),
                now=now,
            )
            changes["allowedDomains"] = domains
        if patch.disabled is not None and patch.disabled != current.disabled:
            disabled = patch.disabled
            record = await repo.set_disabled(conn, jti=jti, disabled=disabled, actor=actor)
            event_type = TokenDisabled if disabled else TokenEnabled
            last_event = await _append_event(
                conn,
                lambda seq, at: event_type(seq=seq, at=at, jti=jti, expires_at=current.expires_at),
                now=now,
            )
            changes["disabled"] = disabled
        if changes:
            await repo.insert_audit(
                conn, actor=actor, action="token.update", target=str(jti), details=changes
            )
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
        event = await _append_event(
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
        await repo.insert_audit(
            conn,
            actor=actor,
            action="user.revoke",
            target=user_id,
            details={"reason": reason, "tokens": len(tokens)},
        )
    return UserRevocation(
        user_id=user_id, not_before=now, revoked_tokens=len(tokens), seq=event.seq
    )


# --- the domain policy and the audit log ----------------------------------------------------


async def get_policy(pool: asyncpg.Pool) -> DomainPolicy:
    async with pool.acquire() as conn:
        return await repo.get_policy(conn)


async def set_policy(
    pool: asyncpg.Pool, *, domains: list[str], actor: Actor, clock: Clock = utc_now
) -> DomainPolicyChange:
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        policy = await repo.set_policy(conn, domains=domains, actor=actor)
        event = await _append_event(
            conn, lambda seq, at: DomainPolicyChanged(seq=seq, at=at, domains=domains), now=now
        )
        await repo.insert_audit(
            conn, actor=actor, action="policy.update", target="", details={"domains": domains}
        )
    return DomainPolicyChange(**dict(policy), event_seq=event.seq)


async def list_audit(pool: asyncpg.Pool, *, query: AuditQuery) -> AuditPage:
    async with pool.acquire() as conn:
        items = await repo.list_audit(
            conn, before=query.before, target=query.target, limit=query.limit + 1
        )
    more = len(items) > query.limit
    items = items[: query.limit]
    return AuditPage(items=items, next_before=items[-1].id if more else None)


# --- what other services and instances read ----------------------------------------------


async def snapshot(pool: asyncpg.Pool) -> TokenStateSnapshot:
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await repo.snapshot(conn)


async def events_after(pool: asyncpg.Pool, *, after: int, limit: int) -> EventPage:
    """The events after `after`, in order; 410 when some of them have been pruned."""
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        latest = await repo.latest_seq(conn)
        payloads = await repo.events_after(conn, after=after, limit=limit)
        oldest = await repo.oldest_event_seq(conn)
    if after < latest and (oldest is None or oldest > after + 1):
        raise EventsPruned()
    events = [token_event_adapter.validate_python(payload) for payload in payloads]
    return EventPage(events=events, latest=latest)


async def check_token_state(conn: Connection, claims: Claims) -> TokenRecord:
    """The token's record, or the error that says why it may not be used."""
    try:
        record = await repo.get_token(conn, jti=claims.jti)
    except errors.NotFound:
        raise errors.TokenInvalid("This access token was never recorded.") from None
    if record.user_id != claims.sub:
        raise errors.TokenInvalid()
    if record.revoked_at is not None:
        raise errors.TokenRevoked()
    not_before = await repo.subject_not_before(conn, user_id=claims.sub)
    if not_before is not None and claims.iat < math.floor(not_before.timestamp()):
        raise errors.TokenRevoked()
    if record.disabled:
        raise errors.TokenDisabled()
    return record


async def authenticate(pool: asyncpg.Pool, verifier: TokenVerifier, token: str) -> Claims:
    """Verify a bearer token and check the registry's own record of it."""
    claims = await verifier.verify(token)
    async with pool.acquire() as conn:
        await check_token_state(conn, claims)
    return claims


async def introspect(pool: asyncpg.Pool, verifier: TokenVerifier, token: str) -> Introspection:
    """RFC 7662: whether the token is active now and, if so, what it says."""
    try:
        claims = await verifier.verify(token)
        async with pool.acquire() as conn:
            record = await check_token_state(conn, claims)
            policy = await repo.get_policy(conn)
    except errors.Unauthorized as exc:
        return Introspection(active=False, reason=exc.reason)
    return Introspection(
        active=True,
        jti=claims.jti,
        sub=claims.sub,
        username=claims.name or record.username,
        token_type="Bearer",  # noqa: S106 (RFC 7662 token type, not a secret)
        exp=int(claims.exp),
        iat=int(claims.iat),
        nbf=int(claims.nbf),
        iss=claims.iss,
        aud=claims.aud,
        portals=list(claims.portals),
        roles=list(claims.roles),
        domains=record.allowed_domains or policy.domains,
    )
