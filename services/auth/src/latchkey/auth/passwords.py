"""Password hashing with argon2id in a bounded pool of processes that run at a lower
scheduling priority than request serving, so a burst of logins takes a small share of a busy
CPU, and queues for a few cores instead of starving the event loop.

The pool's processes are started with `spawn` (a fork of a process with an event loop and
threads is not safe), one per core by default, all at once when the pool opens; each lowers
its own priority (`LATCHKEY_PASSWORD_HASH_NICE`) before it hashes anything. A hash or a verify on an
idle machine costs what a bare one costs, plus about a millisecond to reach the process and
back.
"""

import asyncio
import logging
import multiprocessing
import secrets
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from latchkey.auth.hashing import (
    hash_password,
    make_hasher,
    ready,
    start_process,
    verify_password,
)
from latchkey.common import errors

log = logging.getLogger(__name__)

MAX_PASSWORD_LENGTH = 1024
"""Longer inputs are refused before hashing: argon2 would happily hash a megabyte."""

T = TypeVar("T")


class HashingBusy(errors.ServiceUnavailable):
    reason = "busy"
    message = "Too many sign-ins at once; try again in a moment."


class HashingUnavailable(errors.ServiceUnavailable):
    reason = "hashing_unavailable"
    message = "Passwords cannot be checked right now; try again in a moment."


class Passwords:
    """Hash and verify passwords; at most `workers` at a time, `queue` more waiting.

    Open it with `start()` (the pool's processes) and close it with `close()`: the auth app
    does both in a cleanup context.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        workers: int,
        queue: int,
        nice: int,
    ) -> None:
        self._parameters = (time_cost, memory_cost, parallelism)
        self._nice = nice
        self._hasher = make_hasher(*self._parameters)
        self._workers = workers
        self._capacity = workers + queue
        self._in_flight = 0
        self._executor: ProcessPoolExecutor | None = None
        self._decoy = ""
        """Verified when the user does not exist, so both answers take the same time."""

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_process,
            initargs=(self._nice, *self._parameters),
        )

    async def start(self) -> None:
        """Start every process of the pool now, rather than at the first logins."""
        self._executor = self._new_executor()
        await asyncio.gather(*(self.call(ready) for _ in range(self._workers)))
        self._decoy = await self.call(hash_password, secrets.token_urlsafe(16))

    async def close(self) -> None:
        """Stop the pool: what is queued is cancelled, what is hashing finishes first."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def call(self, function: Callable[..., T], *args: str) -> T:
        """Run `function(*args)` in a pool process (a function of `latchkey.auth.hashing`)."""
        if self._executor is None:
            raise HashingUnavailable()
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
        except BrokenProcessPool:
            # A pool process died (killed, out of memory): the pool refuses all work from now
            # on, so this call fails and a fresh pool takes the next ones.
            log.error("a password hashing process died; starting a new pool")
            if self._executor is executor:
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            raise HashingUnavailable() from None

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        if self._in_flight >= self._capacity:
            raise HashingBusy(headers={"Retry-After": "1"})
        self._in_flight += 1
        try:
            return await self.call(function, *args)
        finally:
            self._in_flight -= 1

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash costs the same and answers False."""
        matches = await self._run(verify_password, password_hash or self._decoy, password)
        return matches and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
