"""A TCP proxy in a process of its own, so that every service's PostgreSQL and registry
traffic does not queue behind the soak's own work (thousands of probes) in one event loop.

Run as `python -m soak.proxy HOST:PORT [HOST:PORT ...]`: it listens on a free loopback port,
prints `ready <port>`, then obeys one command a line on stdin (`block`, `unblock`), answering
`ok` to each; several targets are balanced as `TcpProxy` does. It ends when stdin closes.
"""

import asyncio
import sys

from tests.support.tcpproxy import TcpProxy


class ProxyProcess:
    """The soak's handle on one proxy process."""

    def __init__(self, *targets: tuple[str, int]) -> None:
        self._targets = targets
        self.port = 0

    async def __aenter__(self) -> "ProxyProcess":
        arguments = [f"{host}:{port}" for host, port in self._targets]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "soak.proxy", *arguments,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._stdin, self._stdout = self._process.stdin, self._process.stdout
        self.port = int((await self._answer()).removeprefix("ready "))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 5)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()

    async def block(self) -> None:
        """Drop every connection and refuse new ones until `unblock`."""
        await self._command("block")

    async def unblock(self) -> None:
        await self._command("unblock")

    async def _command(self, command: str) -> None:
        self._stdin.write(command.encode() + b"\n")
        await self._stdin.drain()
        answer = await self._answer()
        if answer != "ok":
            raise RuntimeError(f"proxy answered {answer!r} to {command!r}")

    async def _answer(self) -> str:
        line = await asyncio.wait_for(self._stdout.readline(), 30)
        if not line:
            raise RuntimeError("the proxy process ended")
        return line.decode().strip()


async def serve(targets: list[tuple[str, int]]) -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    async with TcpProxy(*targets[0], *targets[1:]) as proxy:
        print(f"ready {proxy.port}", flush=True)
        while line := (await commands.readline()).decode().strip():
            if line == "block":
                proxy.block()
            elif line == "unblock":
                proxy.unblock()
            else:
                print(f"unknown command {line}", flush=True)
                continue
            print("ok", flush=True)


def main(arguments: list[str]) -> None:
    targets = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in arguments)]
    asyncio.run(serve(targets))


if __name__ == "__main__":
    main(sys.argv[1:])
