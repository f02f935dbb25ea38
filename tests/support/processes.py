"""Services as real processes on real sockets, with their logs kept for inspection."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and never one handed out before in this run (the kernel
    may offer a just-closed port again before the service meant for it has bound it)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class ServiceProcess:
    """`python -m <module>` with the given environment; stdout and stderr go to a log file."""

    def __init__(self, name: str, module: str, env: dict[str, str], port: int, log_dir: Path):
        self.name = name
        self.module = module
        self.env = env
        self.port = port
        self.log_path = log_dir / f"{name}.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.env.get("LATCHKEY_TLS_CERT_FILE") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self, *, ready: bool = True, timeout: float = 30.0) -> "ServiceProcess":
        environment = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, env=environment, stdout=log, stderr=log
            )
        finally:
            log.close()
        await self.wait_answering("/readyz" if ready else "/healthz", timeout=timeout)
        return self

    async def wait_answering(self, path: str, *, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                assert self._process is not None
                if self._process.returncode is not None:
                    raise AssertionError(f"{self.name} exited: {self.log_text()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + path, ssl=False) as response:
                        if response.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{self.name} not ready: {self.log_text()[-3000:]}")
                await asyncio.sleep(0.1)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Signal the process and wait for it; returns its exit code (SIGKILL after timeout)."""
        process = self._process
        if process is None or process.returncode is not None:
            return process.returncode if process else None
        process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
        return process.returncode

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    def signal(self, sig: int) -> None:
        """Send a signal and return at once (SIGSTOP/SIGCONT: a stall, not an exit)."""
        assert self.running, self.name
        assert self._process is not None
        self._process.send_signal(sig)

    @property
    def pid(self) -> int:
        assert self._process is not None, self.name
        return self._process.pid

    def children(self) -> set[int]:
        """The pids of the processes this one started (its workers, its hashing pool)."""
        found: set[int] = set()
        for listed in Path(f"/proc/{self.pid}/task").glob("*/children"):
            found.update(int(pid) for pid in listed.read_text().split())
        return found

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def alive(pid: int) -> bool:
    """Whether process `pid` is running (a zombie, exited but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
