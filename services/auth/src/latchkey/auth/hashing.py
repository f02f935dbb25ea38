"""What runs in auth's password hashing processes (`latchkey.auth.passwords` runs the pool):
argon2 and the standard library only, so that each process starts in a fraction of a second."""

import os
import signal

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from latchkey.common.workers import die_with_parent

LOWEST_PRIORITY = 19
"""The lowest priority there is: a process at it runs only when nothing else wants the CPU."""

_hasher: argon2.PasswordHasher | None = None


def start_process(nice: int, time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Each pool process: its priority lowered to `nice` (argon2's own threads, started later
    from this one, inherit it), no Ctrl-C of its own (the service stops it), gone with the
    service even when that is killed."""
    global _hasher
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    _hasher = make_hasher(time_cost, memory_cost, parallelism)


def make_hasher(time_cost: int, memory_cost: int, parallelism: int) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=argon2.Type.ID
    )


def hash_password(password: str) -> str:
    assert _hasher is not None
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    assert _hasher is not None
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def ready() -> int:
    return os.getpid()


def priority() -> int:
    """The calling process's nice value (asked of a pool process, it shows the pool's)."""
    return os.getpriority(os.PRIO_PROCESS, 0)
