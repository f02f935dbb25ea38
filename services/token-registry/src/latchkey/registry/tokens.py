"""Token records: recording, generating, listing, and changing their state (with events)."""

import base64
import binascii
import json
import math
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from latchkey.common import errors
from latchkey.common.admission import issued_before
from latchkey.common.auth_client import AuthClient
from latchkey.common.clock import Clock, utc_now
from latchkey.common.contracts import LONGEST_TOKEN_LIFETIME, SignRequest
from latchkey.common.db import Connection
from latchkey.common.events import (
    TokenDisabled,
    TokenDomainsChanged,
    TokenEnabled,
    TokenRevoked,
    UserRevoked,
)
from latchkey.common.models import Actor
from latchkey.common.service_client import ServiceError
from latchkey.registry import policy
from latchkey.registry import repository as repo
from latchkey.registry.changes import change
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
NOT_FRAMED = (
    "No other site may frame the portals this token opens: it names no allowed domains and "
    "the global policy names none. Add the embedding site to its allowed domains (or to the "
    "policy) to use it in an iframe."
)


class SubjectRevoked(errors.Conflict):
    reason = "subject_revoked"
    message = "Every token of this user issued before now has been revoked; issue a new one."


class RevokedIsFinal(errors.Conflict):
    reason = "revoked_is_final"
    message = "A revoked token cannot be disabled, enabled or given other domains."


class InvalidCursor(errors.ValidationFailed):
    message = "The cursor is not one this API gave out."


class JtiTaken(errors.Conflict):
    reason = "jti_taken"
    message = "Another token with this jti is already recorded (or was revoked before it was)."


class LinkAlreadyUsed(errors.Conflict):
    reason = "link_already_used"
    message = "This token's deep link has already been used."


async def _record(conn: Connection, record: NewTokenRecord) -> TokenRecord:
    not_before = await repo.subject_not_before(conn, user_id=record.user_id)
    if not_before is not None and issued_before(
        record.issued_at.timestamp(), math.floor(not_before.timestamp())
    ):
        raise SubjectRevoked()
    created = await repo.insert_token(conn, record=record)
    if created is not None:
        return created
    existing = await repo.get_token(conn, jti=record.jti)
    if (existing.user_id, existing.kind) != (record.user_id, record.kind):
        raise JtiTaken()
    return existing


async def record_token(pool: asyncpg.Pool, *, record: NewTokenRecord) -> TokenRecord:
    """Record a token being issued; recording the same token twice is harmless."""
    async with pool.acquire() as conn, conn.transaction():
        return await _record(conn, record)


async def generate_token(
    pool: asyncpg.Pool,
    auth: AuthClient,
    *,
    request: GenerateTokenRequest,
    actor: Actor,
    embeddable: frozenset[str],
) -> GeneratedToken:
    """Have auth sign an access token, then record it with its audit entry in one
    transaction; only then is it handed out (a token that could not be recorded is never
    shown, so it is never used). It says so when it opens an `embeddable` portal that no
    other site may frame with it."""
    try:
        signed = await auth.sign_access_token(
            SignRequest(
                user_id=request.user_id,
                portals=request.portals,
                allowed_domains=request.allowed_domains,
                expires_at=request.expires_at,
            )
        )
    except ServiceError as exc:
        raise exc.relay() from exc
    async with change(pool, actor=actor) as unit:
        record = await _record(
            unit.conn,
            NewTokenRecord(
                jti=signed.jti,
                user_id=str(signed.user_id),
                username=signed.username,
                kind=TokenKind.ACCESS,
                name=request.name,
                description=request.description,
                channel="console",
                portals=signed.portals,
                allowed_domains=signed.allowed_domains,
                created_by=actor.label,
                issued_at=signed.issued_at,
                expires_at=signed.expires_at,
            ),
        )
        unit.audit(
            "token.create",
            target=str(record.jti),
            details={"userId": record.user_id, "name": record.name},
        )
    unframed = (
        embeddable.intersection(record.portals)
        and not record.allowed_domains
        and not (await policy.get_policy(pool)).domains
    )
    return GeneratedToken(
        access_token=signed.access_token, token=record, framing=NOT_FRAMED if unframed else None
    )


async def use_deep_link(pool: asyncpg.Pool, *, jti: UUID, service: str) -> None:
    """Record the first use of a single-use deep link; a second use is refused and audited
    (as the service that saw it: whoever presented the link, it need not be its owner)."""
    async with change(pool, actor=Actor(id=service, name=service)) as unit:
        if await repo.mark_deep_link_used(unit.conn, jti=jti):
            return
        await repo.get_token(unit.conn, jti=jti)  # 404 for a token never recorded
        unit.audit("token.deep_link_reused", target=str(jti), details={})
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
        found = datetime.fromisoformat(issued_at), UUID(jti)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor(data=[{"field": "cursor", "message": "not a valid cursor"}]) from None
    if found[0].tzinfo is None:
        raise InvalidCursor(data=[{"field": "cursor", "message": "not a valid cursor"}])
    return found


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
    """Revoke once; revoking again answers the same record and causes no new event. A jti no
    record names is revoked all the same (it may be a token signed but never recorded)."""
    async with change(pool, actor=actor, clock=clock) as unit:
        revoked = await repo.revoke_token(unit.conn, jti=jti, actor=actor, reason=reason)
        if revoked is None:
            revoked = await repo.revoke_unknown(
                unit.conn,
                jti=jti,
                actor=actor,
                reason=reason,
                lasts=LONGEST_TOKEN_LIFETIME,
            )
        if revoked is None:
            return TokenChange(**dict(await repo.get_token(unit.conn, jti=jti)), event_seq=None)
        unit.audit("token.revoke", target=str(jti), details={"reason": reason})
        expires_at = revoked.expires_at
        unit.emit(lambda seq, at: TokenRevoked(seq=seq, at=at, jti=jti, expires_at=expires_at))
    return TokenChange(**dict(revoked), event_seq=unit.seq)


async def update_token(
    pool: asyncpg.Pool, *, jti: UUID, patch: TokenPatch, actor: Actor, clock: Clock = utc_now
) -> TokenChange:
    """Apply the fields present in `patch`; state changes emit their events."""
    fields = patch.model_fields_set
    async with change(pool, actor=actor, clock=clock) as unit:
        current = await repo.get_token(unit.conn, jti=jti, for_update=True)
        if current.status == TokenStatus.REVOKED and fields & {"allowed_domains", "disabled"}:
            raise RevokedIsFinal()
        expires_at = current.expires_at
        record, changes = current, {}
        if fields & {"name", "description"}:
            name = patch.name if patch.name is not None else current.name
            description = (
                patch.description if patch.description is not None else current.description
            )
            record = await repo.update_text(unit.conn, jti=jti, name=name, description=description)
            changes.update({key: getattr(record, key) for key in fields & {"name", "description"}})
        if patch.allowed_domains is not None and patch.allowed_domains != current.allowed_domains:
            domains = patch.allowed_domains
            record = await repo.set_domains(unit.conn, jti=jti, domains=domains)
            unit.emit(
                lambda seq, at: TokenDomainsChanged(
                    seq=seq, at=at, jti=jti, domains=domains, expires_at=expires_at
                )
            )
            changes["allowedDomains"] = domains
        if patch.disabled is not None and patch.disabled != current.disabled:
            disabled = patch.disabled
            record = await repo.set_disabled(unit.conn, jti=jti, disabled=disabled, actor=actor)
            event_type = TokenDisabled if disabled else TokenEnabled
            unit.emit(lambda seq, at: event_type(seq=seq, at=at, jti=jti, expires_at=expires_at))
            changes["disabled"] = disabled
        if changes:
            unit.audit("token.update", target=str(jti), details=changes)
    return TokenChange(**dict(record), event_seq=unit.seq)


async def revoke_user(
    pool: asyncpg.Pool, *, user_id: str, actor: Actor, reason: str, clock: Clock = utc_now
) -> UserRevocation:
    """Revoke every token of a user issued up to now, as one event."""
    async with change(pool, actor=actor, clock=clock) as unit:
        now = unit.now
        tokens = await repo.revoke_user_tokens(
            unit.conn, user_id=user_id, actor=actor, reason=reason
        )
        entry_expires = await repo.upsert_subject_revocation(
            unit.conn,
            user_id=user_id,
            not_before=now,
            expires_at=max([now + IN_FLIGHT_GRACE, *(token.expires_at for token in tokens)]),
            actor=actor,
            reason=reason,
        )
        unit.audit("user.revoke", target=user_id, details={"reason": reason, "tokens": len(tokens)})
        unit.emit(
            lambda seq, at: UserRevoked(
                seq=seq,
                at=at,
                user_id=user_id,
                not_before=now,
                expires_at=entry_expires,
                tokens=tokens,
            )
        )
    assert unit.seq is not None
    return UserRevocation(user_id=user_id, not_before=now, revoked_tokens=len(tokens), seq=unit.seq)
