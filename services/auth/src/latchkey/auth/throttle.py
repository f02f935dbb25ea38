"""Brute-force protection: failed logins counted per account and per client address in
PostgreSQL (so every instance sees them), with a lockout that doubles past a threshold."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from latchkey.auth import repository as repo
from latchkey.auth.models import canonical_username
from latchkey.common import errors
from latchkey.common.db import Connection


class TooManyAttempts(errors.TooManyAttempts):
    def __init__(self, until: datetime) -> None:
        retry_after = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
        super().__init__(
            f"Too many failed sign-ins; try again in {retry_after} seconds.",
            data={"retryAfter": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


@dataclass(frozen=True)
class Throttle:
    """Failures are counted per account (the one found, whatever spelling was typed; a name
    that finds none is counted by its spelling) and per client address."""

    user_threshold: int
    address_threshold: int
    base_seconds: float
    max_seconds: float
    window_seconds: float

    @staticmethod
    def subject(user_id: UUID | None, typed: str) -> str:
        """What a sign-in attempt is counted against: the account, else the name typed."""
        if user_id is not None:
            return f"user:{user_id}"
        return f"name:{canonical_username(typed) or typed.casefold()[:200]}"

    async def check(self, conn: Connection, *, subject: str, address: str | None) -> None:
        """Refuse (429) while the account or the address is locked, whatever the password."""
        keys = [subject] + ([f"addr:{address}"] if address is not None else [])
        until = await repo.locked_until(conn, keys=keys)
        if until is not None:
            raise TooManyAttempts(until)

    async def failed(self, conn: Connection, *, subject: str, address: str | None) -> None:
        counted = [(subject, self.user_threshold)]
        if address is not None:
            counted.append((f"addr:{address}", self.address_threshold))
        for key, threshold in counted:
            await repo.record_failure(
                conn,
                key=key,
                threshold=threshold,
                base_seconds=self.base_seconds,
                max_seconds=self.max_seconds,
                window_seconds=self.window_seconds,
            )

    async def succeeded(self, conn: Connection, *, subject: str) -> None:
        await repo.clear_failures(conn, key=subject)
