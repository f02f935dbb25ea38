"""Password hashing with argon2id in a bounded pool of threads, so a burst of logins queues
for a few cores instead of starving the event loop (argon2 releases the GIL while hashing)."""

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from latchkey.common import errors

MAX_PASSWORD_LENGTH = 1024
"""Longer inputs are refused before hashing: argon2 would happily hash a megabyte."""


class HashingBusy(errors.ServiceUnavailable):
    reason = "busy"
    message = "Too many sign-ins at once; try again in a moment."


class Passwords:
    """Hash and verify passwords; at most `workers` at a time, `queue` more waiting."""

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        workers: int,
        queue: int,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._capacity = workers + queue
        self._in_flight = 0
        # Verified when the user does not exist, so both answers take the same time.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, function: object, *args: str) -> object:
        if self._in_flight >= self._capacity:
            raise HashingBusy(headers={"Retry-After": "1"})
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)  # type: ignore[arg-type]
        finally:
            self._in_flight -= 1

    async def hash(self, password: str) -> str:
        result = await self._run(self._hasher.hash, password)
        assert isinstance(result, str)
        return result

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash costs the same and answers False."""
        try:
            await self._run(self._hasher.verify, password_hash or self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
