"""What instances read to know token state: the snapshot, events, a digest of the records,
and the registry's own facts about a token (the authority behind admission and introspection)."""

import asyncio
import math
import time

import asyncpg

from latchkey.common import errors
from latchkey.common.admission import TokenFacts, refusal
from latchkey.common.clock import utc_now
from latchkey.common.contracts import Introspection, StateDigest
from latchkey.common.db import Connection
from latchkey.common.events import EventPage, TokenStateSnapshot, parse_event
from latchkey.common.tokenstate.view import BUCKET_SECONDS, TokenStateView
from latchkey.common.verification import Claims, TokenVerifier
from latchkey.registry import repository as repo

DIGEST_HORIZON = 2 * BUCKET_SECONDS
"""Entries of tokens expiring sooner than this are left out of digests: instances drop expired
entries a bucket at a time, so near the edge two correct views may briefly differ."""


class EventsPruned(errors.Gone):
    reason = "events_pruned"
    message = "Events this old are no longer kept; load the token-state snapshot instead."


async def snapshot(pool: asyncpg.Pool) -> TokenStateSnapshot:
    at = utc_now()  # before the read: see events_after
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await repo.snapshot(conn, at=at)


async def events_after(pool: asyncpg.Pool, *, after: int, limit: int) -> EventPage:
    """The events after `after`, in order; 410 when some of them have been pruned. `at` is
    taken before the read: everything committed by then is in the answer, so an instance
    that applies it is complete up to `at` (stamped after, a commit in between would make it
    believe itself fresher than it is)."""
    at = utc_now()
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        latest = await repo.latest_seq(conn)
        payloads = await repo.events_after(conn, after=after, limit=limit)
        oldest = await repo.oldest_event_seq(conn)
    if after < latest and (oldest is None or oldest > after + 1):
        raise EventsPruned()
    return EventPage(events=[parse_event(item) for item in payloads], latest=latest, at=at)


class RecordsDigest:
    """The digest of the registry's records, as every view computes its own (one code path:
    the snapshot loaded into a view); computed again only once something changed (it reads
    every restriction), one computation at a time."""

    def __init__(self) -> None:
        self._last: StateDigest | None = None
        self._lock = asyncio.Lock()

    async def digest(self, pool: asyncpg.Pool) -> StateDigest:
        async with self._lock:
            async with pool.acquire() as conn:
                latest = await repo.latest_seq(conn)
            last = self._last
            if last is not None and last.seq == latest and last.cutoff > time.time():
                return last
            self._last = await self._compute(pool)
            return self._last

    async def _compute(self, pool: asyncpg.Pool) -> StateDigest:
        current = await snapshot(pool)
        view = TokenStateView()
        view.load(current)
        cutoff = (math.ceil(time.time() / BUCKET_SECONDS) * BUCKET_SECONDS) + DIGEST_HORIZON
        found = view.digest_at(current.seq, cutoff)
        assert found is not None
        return StateDigest(seq=current.seq, cutoff=cutoff, digest=found)


class RecordFacts:
    """The registry's own records as admission's facts: authoritative, one query a token."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def facts_now(self, claims: Claims) -> TokenFacts | None:
        return None

    async def facts(self, token: str, claims: Claims) -> TokenFacts:
        async with self._pool.acquire() as conn:
            return await facts_of(conn, claims)

    def admitted(self, claims: Claims) -> None:
        pass  # "last used" comes from the instances that serve the token


async def facts_of(conn: Connection, claims: Claims) -> TokenFacts:
    try:
        record = await repo.get_token(conn, jti=claims.jti)
    except errors.NotFound:
        return TokenFacts(recorded=False)
    if record.revoked_at is not None:
        return TokenFacts(revoked=True)  # whoever it names (a jti revoked before its record)
    if record.user_id != claims.sub:
        return TokenFacts(recorded=False)
    not_before = await repo.subject_not_before(conn, user_id=claims.sub)
    return TokenFacts(
        disabled=record.disabled,
        subject_not_before=math.floor(not_before.timestamp()) if not_before else None,
    )


async def introspect(pool: asyncpg.Pool, verifier: TokenVerifier, token: str) -> Introspection:
    """RFC 7662: whether the token is active now and, if so, what it says."""
    try:
        claims = await verifier.verify(token)
        async with pool.acquire() as conn:
            facts = await facts_of(conn, claims)
            error = refusal(claims, facts)
            if error is not None:
                raise error
            record = await repo.get_token(conn, jti=claims.jti)
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
