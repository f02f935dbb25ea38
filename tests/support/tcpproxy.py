"""A TCP proxy the tests put between a service and a server, to cut connections on demand."""

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection, `block()` refuses
    new ones until `unblock()`, `stall()` stops every byte (connections stay open, as over a
    network that hangs) until `resume()`. Given more targets it balances: each new connection
    goes to the next one in turn, passing over any that refuses (an instance that is down), as
    a load balancer in front of several instances of a service would."""

    def __init__(self, target_host: str, target_port: int, *more: tuple[str, int]) -> None:
        self._targets = [(target_host, target_port), *more]
        self._turn = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.blocked = False
        self.stalled = False
        self.port = 0

    async def __aenter__(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def block(self) -> None:
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    def stall(self) -> None:
        self.stalled = True
        for writer in self._writers:
            if isinstance(writer.transport, asyncio.ReadTransport):  # (a socket: both ways)
                writer.transport.pause_reading()

    def resume(self) -> None:
        self.stalled = False
        for writer in self._writers:
            if isinstance(writer.transport, asyncio.ReadTransport):
                writer.transport.resume_reading()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Every stream is held from the moment it exists, so a cut (or the proxy closing)
        # aborts it even mid-connect: none is left for the collector after the loop ends.
        self._writers.add(writer)
        if self.blocked:
            self._drop(writer)
            return
        upstream = await self._connect()
        if upstream is None:
            self._drop(writer)
            return
        upstream_reader, upstream_writer = upstream
        self._writers.add(upstream_writer)
        if self.blocked or writer.transport.is_closing():  # cut while this one was connecting
            self._drop(writer, upstream_writer)
            return
        if self.stalled:
            self.stall()
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    def _drop(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        start, self._turn = self._turn, (self._turn + 1) % len(self._targets)
        for offset in range(len(self._targets)):
            target = self._targets[(start + offset) % len(self._targets)]
            try:
                return await asyncio.open_connection(*target)
            except OSError:
                continue
        return None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
