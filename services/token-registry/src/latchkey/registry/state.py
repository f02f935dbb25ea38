"""What instances read to know token state: snapshot, events, and token checks."""

import math

import asyncpg

from latchkey.common import errors
from latchkey.common.db import Connection
from latchkey.common.events import (
    EventPage,
    TokenStateSnapshot,
    token_event_adapter,
)
from latchkey.common.tokens import Claims, TokenVerifier
from latchkey.registry import repository as repo
from latchkey.registry.models import (
    Introspection,
    TokenRecord,
)


class EventsPruned(errors.Gone):
    reason = "events_pruned"
    message = "Events this old are no longer kept; load the token-state snapshot instead."


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
