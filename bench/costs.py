"""What limits a rate the bench asks for: the CPU the driver and the servers used over a window,
and how many commits a second PostgreSQL makes when each waits for the one before (what any
change that holds a row lock across its commit is bounded by)."""

import contextlib
import os
import resource
import statistics
import time
from dataclasses import dataclass, field

import asyncpg

from bench.processes import descendants, tree_cpu_seconds


def _driver_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _tree_seconds(pids: list[int]) -> float:
    return sum(tree_cpu_seconds(pid) for pid in pids)


def waited_seconds(pid: int) -> float:
    """How long the threads of `pid` have been runnable but waiting for a core
    (/proc/PID/task/*/schedstat, second field): CPU starvation, which CPU time cannot show."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
    return total / 1e9


def _tree_waited(pids: list[int]) -> float:
    return sum(waited_seconds(each) for pid in pids for each in descendants(pid))


@dataclass
class CpuMeter:
    """CPU time of this driver and of `pids` (and their children) from `start` to `stop`."""

    pids: list[int]
    started: float = 0.0
    driver: float = 0.0
    servers: float = 0.0
    driver_waited: float = 0.0
    servers_waited: float = 0.0
    figures: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self.started = time.monotonic()
        self.driver = _driver_seconds()
        self.servers = _tree_seconds(self.pids)
        self.driver_waited = waited_seconds(os.getpid())
        self.servers_waited = _tree_waited(self.pids)

    def stop(self, calls: int) -> dict[str, float]:
        """Cores busy on average (1.0: one core all the time), CPU µs per call, and how many
        threads were on average ready to run but waiting for a core (`..._waiting`)."""
        wall = time.monotonic() - self.started
        driver = _driver_seconds() - self.driver
        servers = _tree_seconds(self.pids) - self.servers
        self.figures = {
            "seconds": round(wall, 3),
            "driver_cores": round(driver / wall, 3),
            "driver_waiting": round((waited_seconds(os.getpid()) - self.driver_waited) / wall, 3),
            "driver_us_per_call": round(driver / max(calls, 1) * 1e6, 1),
            "servers_cores": round(servers / wall, 3),
            "servers_waiting": round((_tree_waited(self.pids) - self.servers_waited) / wall, 3),
            "servers_us_per_call": round(servers / max(calls, 1) * 1e6, 1),
        }
        return self.figures


PROBE_TABLE = "bench_commit_probe"


async def serial_commits(database_url: str, count: int = 100) -> dict[str, float]:
    """`count` transactions one after the other, each updating one row and committing with
    the server's durability settings: their median time and the rate that allows."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (n bigint NOT NULL)")
        await conn.execute(f"INSERT INTO {PROBE_TABLE} VALUES (0)")  # noqa: S608
        times = []
        for _ in range(count):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(f"UPDATE {PROBE_TABLE} SET n = n + 1")  # noqa: S608
            times.append((time.perf_counter() - started) * 1000)
        await conn.execute(f"DROP TABLE {PROBE_TABLE}")
    finally:
        await conn.close()
    median = statistics.median(times)
    return {
        "commit_p50_ms": round(median, 3),
        "commit_p90_ms": round(sorted(times)[int(0.9 * len(times)) - 1], 3),
        "serial_commits_per_s": round(1000 / median, 1),
    }
