"""Asking instances whether they honour a token, each on connections of its own (a frozen
instance holds its probes until it resumes; it must not hold up the probes of the others)."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace

import aiohttp

from soak.judge import Answer, Stalls
from tests.support.credentials import instance_headers
from tests.support.processes import ServiceProcess

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=30)
"""Longer than any stall: the answer of a frozen instance is the one that matters most."""


class Prober:
    def __init__(self, sessions: dict[str, aiohttp.ClientSession], stalls: Stalls) -> None:
        self._sessions = sessions
        self._stalls = stalls

    async def ask(self, instance: ServiceProcess, token: str) -> Answer:
        """What `instance` says about `token` now, through its own credential."""
        answer = await self._ask(instance, token)
        resumed = self._stalls.resumed_after(instance.name, answer.sent, answer.received)
        return answer if resumed is None else replace(answer, resumed=resumed)

    async def _ask(self, instance: ServiceProcess, token: str) -> Answer:
        sent = time.monotonic()
        try:
            async with self._sessions[instance.name].post(
                instance.url + "/internal/v1/token-state/check",
                json={"token": token},
                headers=instance_headers(instance.name),
            ) as response:
                text = await response.text()
        except (aiohttp.ClientError, OSError):
            return Answer(sent, time.monotonic(), False, "unreachable", None)
        except TimeoutError:
            return Answer(sent, time.monotonic(), False, "timeout", None)
        received = time.monotonic()
        try:
            body = json.loads(text)
        except ValueError:
            body = None  # not an envelope: whatever it was, not "honoured"
        data = body.get("data") if isinstance(body, dict) else None
        if response.status != 200 or not isinstance(data, dict):
            reason = body.get("reason") if isinstance(body, dict) else None
            return Answer(sent, received, False, reason, response.status)
        return Answer(sent, received, bool(data["honoured"]), data.get("reason"), 200)


@contextlib.asynccontextmanager
async def prober(names: Iterable[str], stalls: Stalls) -> AsyncIterator[Prober]:
    async with contextlib.AsyncExitStack() as stack:
        sessions = {
            name: await stack.enter_async_context(
                aiohttp.ClientSession(
                    timeout=PROBE_TIMEOUT, connector=aiohttp.TCPConnector(limit=0)
                )
            )
            for name in names
        }
        yield Prober(sessions, stalls)


async def sleep_until(when: float) -> None:
    """Sleep until monotonic time `when` (at once if it has passed)."""
    await asyncio.sleep(max(0.0, when - time.monotonic()))
