"""Password hashing in auth's pool of low-priority processes: checks stay right, logins at once
all succeed, the pool's processes yield the CPU to request serving, and none outlives the pool."""

import asyncio
import os
import signal
from pathlib import Path

import pytest

from latchkey.auth.appkeys import PASSWORDS
from latchkey.auth.hashing import LOWEST_PRIORITY, priority
from latchkey.auth.passwords import HashingUnavailable, Passwords
from latchkey.auth.settings import AuthSettings
from tests.support.apps import Services
from tests.support.processes import alive
from tests.support.stack import FAST_HASHING, USER_PASSWORD

PARAMETERS = {
    "time_cost": int(FAST_HASHING["LATCHKEY_PASSWORD_TIME_COST"]),
    "memory_cost": int(FAST_HASHING["LATCHKEY_PASSWORD_MEMORY_COST"]),
    "parallelism": int(FAST_HASHING["LATCHKEY_PASSWORD_PARALLELISM"]),
}


def pool_processes() -> set[int]:
    """This process's children started by multiprocessing's spawn (pool processes)."""
    found = set()
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.add(int(pid))
    return found


async def test_checks_are_right_and_the_pool_ends_with_it() -> None:
    before = pool_processes()
    passwords = Passwords(**PARAMETERS, workers=2, queue=8, nice=LOWEST_PRIORITY)
    await passwords.start()
    try:
        started = pool_processes() - before
        assert len(started) == 2
        hashed = await passwords.hash("the right password")
        assert hashed.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
        assert await passwords.verify(hashed, "the right password")
        assert not await passwords.verify(hashed, "a wrong password")
        assert not await passwords.verify(None, "the right password")
        assert not await passwords.verify("not a hash at all", "the right password")
        assert not passwords.needs_rehash(hashed)
    finally:
        await passwords.close()
    assert not [pid for pid in started if alive(pid)]
    with pytest.raises(HashingUnavailable):
        await passwords.hash("after closing")


async def test_the_pools_processes_run_below_request_serving(services: Services) -> None:
    pool = services.apps["auth"][PASSWORDS]
    default = AuthSettings.model_fields["password_hash_nice"].default
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert own < default  # this process, which serves the requests, is not lowered
    assert await pool.call(priority) == default
    processes = pool_processes()
    assert processes
    assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in processes} == {default}


def thread_priorities(pids: set[int]) -> dict[str, int]:
    """The nice value of every thread of these processes (Linux keeps one per thread)."""
    found = {}
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                found[stat.parent.name] = int(stat.read_text().rsplit(")", 1)[1].split()[16])
            except OSError:
                continue
    return found


async def test_the_priority_is_the_one_configured() -> None:
    passwords = Passwords(**PARAMETERS, workers=1, queue=8, nice=15)
    await passwords.start()
    try:
        assert await passwords.call(priority) == 15
    finally:
        await passwords.close()


async def test_argon2s_own_threads_run_at_the_lowest_priority_too() -> None:
    before = pool_processes()
    passwords = Passwords(
        time_cost=2, memory_cost=32768, parallelism=4, workers=1, queue=8, nice=LOWEST_PRIORITY
    )
    await passwords.start()
    try:
        pool = pool_processes() - before
        hashing = asyncio.ensure_future(passwords.hash("a password hashed on four lanes"))
        seen: dict[str, int] = {}
        while not hashing.done():
            seen.update(thread_priorities(pool))
            await asyncio.sleep(0.002)
        await hashing
    finally:
        await passwords.close()
    assert len(seen) > 1  # the lanes' threads were seen, not only the process's own
    assert set(seen.values()) == {LOWEST_PRIORITY}


async def test_many_logins_at_once_all_succeed(services: Services) -> None:
    admin = await services.token()
    for number in range(3):
        await services.create_user(admin, f"storm-{number}")
    replies = await asyncio.gather(
        *(
            services.login(f"storm-{number % 3}", USER_PASSWORD, deviceUid=f"d{number}")
            for number in range(16)
        )
    )
    assert [status for status, _ in replies] == [200] * 16, [body for _, body in replies]
    assert len({body["data"]["accessToken"] for _, body in replies}) == 16
    status, body = await services.login("storm-0", "not the password")
    assert (status, body["reason"]) == (401, "invalid_credentials")


async def test_a_pool_process_that_dies_costs_one_check_not_the_service() -> None:
    before = pool_processes()
    passwords = Passwords(**PARAMETERS, workers=1, queue=8, nice=LOWEST_PRIORITY)
    await passwords.start()
    try:
        hashed = await passwords.hash("the right password")
        (victim,) = pool_processes() - before
        os.kill(victim, signal.SIGKILL)
        refused = None
        for _ in range(50):  # until the pool has noticed
            try:
                await passwords.verify(hashed, "the right password")
            except HashingUnavailable as exc:
                refused = exc
                break
            await asyncio.sleep(0.05)
        assert refused is not None
        assert await passwords.verify(hashed, "the right password")
    finally:
        await passwords.close()
