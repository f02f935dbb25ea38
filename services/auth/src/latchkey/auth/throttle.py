"""Brute-force protection: failed logins counted per username and per client address in
PostgreSQL (so every instance sees them), with a lockout that doubles past a threshold."""

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from latchkey.auth import repository as repo
from latchkey.common import errors
from latchkey.common.db import Connection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    user_threshold: int
    address_threshold: int
    base_seconds: float
    max_seconds: float
    window_seconds: float

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.lower()}", f"addr:{address}"

    async def check(self, conn: Connection, *, username: str, address: str) -> None:
        """Refuse (429) while the username or the address is locked, whatever the password."""
        until = await repo.locked_until(conn, keys=list(self.keys(username, address)))
        if until is not None:
            raise TooManyAttempts(until)

    async def failed(self, conn: Connection, *, username: str, address: str) -> None:
        user_key, address_key = self.keys(username, address)
        for key, threshold in (
            (user_key, self.user_threshold),
            (address_key, self.address_threshold),
        ):
            await repo.record_failure(
                conn,
                key=key,
                threshold=threshold,
                base_seconds=self.base_seconds,
                max_seconds=self.max_seconds,
                window_seconds=self.window_seconds,
            )

    async def succeeded(self, conn: Connection, *, username: str) -> None:
        await repo.clear_failures(conn, key=self.keys(username, "")[0])


def client_address(remote: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The caller's address: the peer, or, behind a trusted proxy, the last address in
    X-Forwarded-For that is not itself a trusted proxy."""
    peer = remote or "unknown"
    if not forwarded_for or not _within(peer, trusted):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return peer
        if not _within(address, trusted):
            return address
    return peer


def _within(address: str, networks: list[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def parse_networks(values: list[str]) -> list[Network]:
    return [ipaddress.ip_network(value, strict=False) for value in values]
