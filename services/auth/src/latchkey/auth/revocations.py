"""Revoking every token of a user when a change to the user calls for it (disabled, a new
password, fewer rights), without holding a lock or a connection across the call.

The change and a pending revocation commit together (`auth.pending_revocations`); the
revocation is then delivered to the registry at once and, if the registry cannot take it now,
retried every second until it does. Meanwhile the change already holds: a disabled user's
sign-ins are refused, and a sign-in that raced the change checks the user again after its
token is recorded (`login.py`), so the revocation, delivered after the commit, finds it.
"""

import asyncio
import logging
from uuid import UUID

import asyncpg

from latchkey.auth import repository as repo
from latchkey.common.contracts import ServiceRevoke
from latchkey.common.db import Connection
from latchkey.common.models import Actor
from latchkey.common.outages import Outage, is_database_outage
from latchkey.common.registry_client import RegistryClient, RegistryError, RegistryUnavailable

log = logging.getLogger(__name__)

RETRY_INTERVAL = 1.0
HOLD_SECONDS = 30.0
"""A claimed revocation is left to its claimer this long before another instance retries it."""


class Revocations:
    def __init__(self, pool: asyncpg.Pool, registry: RegistryClient, outage: Outage) -> None:
        self._pool = pool
        self._registry = registry
        self._outage = outage
        """The database's outage tracker: a retry that meets an outage says so once."""

    @staticmethod
    async def queue(conn: Connection, *, user_id: UUID, reason: str, actor: Actor) -> int:
        """Owe the registry a revocation, in the caller's transaction (with its change)."""
        return await repo.queue_revocation(
            conn, user_id=user_id, reason=reason, actor_id=actor.id, actor_name=actor.name
        )

    async def deliver(self, revocation_id: int | None = None) -> bool:
        """Deliver one due revocation (that one, or the oldest); True when one was delivered."""
        async with self._pool.acquire() as conn:
            pending = await repo.claim_revocation(
                conn, revocation_id=revocation_id, hold_seconds=HOLD_SECONDS
            )
        if pending is None:
            return False
        try:
            await self._registry.revoke_user(
                str(pending.user_id),
                ServiceRevoke(
                    reason=pending.reason, actor_id=pending.actor_id, actor_name=pending.actor_name
                ),
            )
        except (RegistryUnavailable, RegistryError) as exc:
            level = logging.WARNING if pending.attempts <= 1 else logging.INFO
            log.log(
                level,
                "revoking the tokens of user %s is pending (%s); retrying",
                pending.user_id,
                type(exc).__name__,
            )
            async with self._pool.acquire() as conn:
                # Due again at the next round, not after the claim's hold.
                await repo.release_revocation(conn, revocation_id=pending.id)
            return False
        async with self._pool.acquire() as conn:
            await repo.delete_revocation(conn, revocation_id=pending.id)
        if pending.attempts > 1:
            log.info(
                "revoked the tokens of user %s after %d attempts", pending.user_id, pending.attempts
            )
        return True

    async def run(self) -> None:
        """Deliver what is owed, for the life of the process (and what earlier ones left)."""
        while True:
            try:
                while await self.deliver():
                    pass
            except Exception as exc:
                if is_database_outage(exc):
                    self._outage.failed(exc)  # one line per outage, not one a second
                else:  # a bug: loud, but what is owed is still delivered once it is fixed
                    log.exception("delivering pending revocations failed; retrying")
            await asyncio.sleep(RETRY_INTERVAL)
