"""Servers as processes pinned to a core, with their logs kept under bench/results/logs."""

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import aiohttp

SERVER_CORE = 0
"""Every server under test runs here..."""
LOAD_CORE = 1
"""...and the load generator (wrk) and this driver here, when the machine has two cores."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def can_pin() -> bool:
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pinned(core: int | None) -> list[str]:
    """The command prefix that runs a program on one core (nothing where that is impossible)."""
    if core is None or not can_pin():
        return []
    return ["taskset", "-c", str(core)]


ALL_CORES = os.sched_getaffinity(0)
"""The cores this run may use, read before the driver pins itself."""


def everywhere() -> list[str]:
    """The command prefix that lets a program use every core (this driver is pinned to the
    load core, and what it starts inherits that)."""
    if not can_pin():
        return []
    return ["taskset", "-c", ",".join(str(core) for core in sorted(ALL_CORES))]


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a service's workers, nginx's worker)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
    return found


def set_affinity(pid: int, cores: set[int]) -> None:
    """Move a running process (all its threads, and its children's) to `cores`."""
    if not can_pin():
        return
    for process in descendants(pid):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{process}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task), cores)


def listening_processes(pid: int, port: int) -> list[int]:
    """The processes of `pid`'s tree that hold a socket listening on 127.0.0.1:`port` (or any
    address): how many workers of a service really serve its port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    holders = []
    for process in descendants(pid):
        with contextlib.suppress(OSError):
            links = {
                os.readlink(f"/proc/{process}/fd/{fd}") for fd in os.listdir(f"/proc/{process}/fd")
            }
            if links & inodes:
                holders.append(process)
    return holders


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of `pid` and every process below it (nginx's worker, a service's
    workers)."""
    total = 0.0
    for each in descendants(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(each)
    return total


class Process:
    """`python -m <module> <args>` with an environment, listening on `port` (if any)."""

    def __init__(
        self,
        name: str,
        module: str,
        *,
        env: dict[str, str],
        log_dir: Path,
        port: int | None = None,
        args: tuple[str, ...] = (),
        core: int | None = SERVER_CORE,
    ) -> None:
        self.name = name
        self.module = module
        self.env = env
        self.port = port
        self.args = args
        self.core = core
        self.log_path = log_dir / f"{name}.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self, *, ready_path: str | None = "/healthz", timeout: float = 60.0) -> None:
        command = [*pinned(self.core), sys.executable, "-m", self.module, *self.args]
        environment = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                *command, env=environment, stdout=log, stderr=log, cwd=Path.cwd()
            )
        if ready_path is not None and self.port is not None:
            await self.wait_answering(ready_path, timeout=timeout)

    async def wait_answering(self, path: str, *, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self._process is not None and self._process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + path) as response:
                        if response.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{self.name} did not answer {path}: {self.log_tail()}")
                await asyncio.sleep(0.1)

    async def wait(self, timeout: float) -> int:
        assert self._process is not None
        return await asyncio.wait_for(self._process.wait(), timeout)

    async def stop(self, timeout: float = 15.0) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()

    def log_tail(self, size: int = 3000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-size:]
