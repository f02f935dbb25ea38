"""What every scenario works with: the running stack, the bench user and its tokens, the wrk
settings, and the baselines' processes."""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.processes import SERVER_CORE, Process, free_port, set_affinity
from bench.signing import Signer, record
from bench.stack import Stack
from bench.tokens import Token, write_lines
from bench.wrk import Load


@dataclass
class Context:
    stack: Stack
    load: Load
    work: Path
    """This run's files: token and cookie lists, logs."""
    log: Callable[[str], None]
    upstream_port: int
    """Where the router's route /agent/app goes (the upstream runs in scenario 2 only)."""
    admin: str = ""
    user_id: str = ""
    username: str = "bench-agent"
    tokens: list[Token] = field(default_factory=list)
    """Minted by auth and recorded by the registry through their APIs."""
    cookies_file: Path = Path()
    bearer_file: Path = Path()
    signer: Signer | None = None
    servers: list[Process] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    """Per scenario, why it measured less than it should (printed under the table)."""

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self.stack.http is not None
        return self.stack.http

    @property
    def router_pid(self) -> int:
        return self.stack.services["router"].pid

    def note(self, scenario: str, text: str) -> None:
        self.log(f"    scenario {scenario}: {text}")
        self.notes[scenario] = text

    async def server(
        self,
        name: str,
        kind: str,
        *,
        core: int | None = SERVER_CORE,
        env: dict[str, str] | None = None,
        port: int | None = None,
        **options: str | int,
    ) -> Process:
        """A baseline from bench/servers.py, listening once this returns."""
        port = port or free_port()
        args = [kind, "--port", str(port)]
        for option, value in options.items():
            args += ["--" + option.replace("_", "-"), str(value)]
        process = Process(
            name,
            "bench.servers",
            env=env or {},
            log_dir=self.work,
            port=port,
            args=tuple(args),
            core=core,
        )
        self.servers.append(process)
        await process.start(ready_path=None)
        await wait_listening(process)
        return process

    async def stop_servers(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.servers))
        self.servers.clear()

    def spread_services(self, cores: set[int]) -> None:
        """Let every service process run on `cores` (pinned again with {SERVER_CORE})."""
        for process in self.stack.services.values():
            set_affinity(process.pid, cores)

    async def signed_tokens(self, count: int) -> list[str]:
        """`count` fresh tokens of the bench user, recorded in the registry."""
        assert self.signer is not None
        tokens = await self.signer.sign(count)
        await record(self.stack.database_url, tokens, username=self.username)
        return tokens

    def write(self, name: str, lines: list[str]) -> Path:
        return write_lines(self.work / name, lines)


async def wait_listening(process: Process, timeout: float = 30.0) -> None:
    """Until the port accepts connections (the app's start-up is done by then)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", process.port)
        except OSError:
            if process.returncode is not None:
                raise RuntimeError(f"{process.name} exited: {process.log_tail()}") from None
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"{process.name} is not listening: {process.log_tail()}"
                ) from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
