"""Upstreams that fail, as people and programs see it: one that refuses connections is a
502 `upstream_unavailable`, one that accepts and never answers a 504 `upstream_timeout`, one
that goes silent mid-answer has its answer cut; a page for people, the envelope for
programs, one warning line and never a stack trace."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.portal import PortalFactory
from tests.support.processes import free_port

READ_TIMEOUT = "1"


@pytest.fixture
async def silent_upstream() -> AsyncIterator[str]:
    """Accepts connections and reads requests, and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_refusing_and_a_silent_upstream_are_502_and_504_for_people_and_programs(
    portal_factory: PortalFactory, silent_upstream: str
) -> None:
    refusing = f"http://127.0.0.1:{free_port()}"
    portal = await portal_factory(
        LATCHKEY_ROUTES=f"/agent/app={refusing},/agent/slow={silent_upstream}",
        LATCHKEY_UPSTREAM_READ_TIMEOUT=READ_TIMEOUT,
    )
    cookies = await portal.session_cookie(await portal.agent_token())
    for path, status, reason, says in [
        ("/agent/app/inbox", 502, "upstream_unavailable", "cannot be reached"),
        ("/agent/slow/inbox", 504, "upstream_timeout", "did not answer"),
    ]:
        program = await portal.get(path, cookies=cookies)
        assert program.status == status
        assert (await program.json())["reason"] == reason
        person = await portal.get(path, cookies=cookies, headers={"Accept": "text/html"})
        assert person.status == status
        assert person.headers["Content-Type"].startswith("text/html")
        assert says in await person.text()
    log = portal.stack.router.log_text()
    assert "Traceback" not in log
    assert log.count(f"upstream {refusing} unreachable") == 2
    assert log.count(f"upstream {silent_upstream} timed out") == 2


async def test_an_upstream_that_goes_silent_mid_answer_has_its_answer_cut(
    portal_factory: PortalFactory,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf of it")
        await writer.drain()
        await reader.read()  # until the router gives up on it

    server = await asyncio.start_server(stalls, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        portal = await portal_factory(
            LATCHKEY_ROUTES=f"/agent/app=http://127.0.0.1:{port}",
            LATCHKEY_UPSTREAM_READ_TIMEOUT=READ_TIMEOUT,
        )
        cookies = await portal.session_cookie(await portal.agent_token())
        with pytest.raises(aiohttp.ClientPayloadError):
            await portal.get("/agent/app/download", cookies=cookies)
        assert "Traceback" not in portal.stack.router.log_text()
    finally:
        for writer in held:  # closed here, not by the collector once the loop is gone
            writer.close()
        server.close()
        await server.wait_closed()
