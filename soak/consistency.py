"""Whether every instance ended where the registry is (events lost), and how long each took
to be ready again after a fault (recovery)."""

import asyncio
import contextlib
import time

import aiohttp

from latchkey.common.events import TokenStateSnapshot
from latchkey.common.tokenstate.view import TokenStateView
from soak.rig import Rig
from tests.support.credentials import AS_AUTH, instance_headers
from tests.support.processes import ServiceProcess

QUICK = aiohttp.ClientTimeout(total=3)
RECOVERY_LIMIT = 60.0


async def registry_state(rig: Rig) -> tuple[int, str]:
    """The registry's sequence number and state, digested exactly as instances digest theirs."""
    async with rig.stack.session.get(
        rig.registry_url + "/internal/v1/token-state", headers=AS_AUTH, timeout=QUICK
    ) as response:
        snapshot = TokenStateSnapshot.model_validate((await response.json())["data"])
    view = TokenStateView()
    view.load(snapshot)
    return snapshot.seq, view.digest()


async def instance_state(rig: Rig, instance: ServiceProcess) -> tuple[int, str] | None:
    """(seq, digest) of an instance's view; None when it does not answer."""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError):
        async with rig.stack.session.get(
            instance.url + "/internal/v1/token-state/status",
            headers=instance_headers(instance.name),
            timeout=QUICK,
        ) as response:
            data = (await response.json())["data"]
            return int(data["seq"]), str(data["digest"])
    return None


async def events_behind(rig: Rig, *, wait: float = 15.0) -> int:
    """Events the registry had committed (when asked) that some instance has still not
    applied `wait` seconds later, summed over instances: with traffic still flowing only
    sequence numbers can be compared. An instance that does not answer has none of them."""
    latest, _ = await _registry_state_retrying(rig, wait)
    deadline = time.monotonic() + wait
    while True:
        states = await asyncio.gather(*(instance_state(rig, i) for i in rig.instances))
        missing = sum(latest if s is None else max(0, latest - s[0]) for s in states)
        if missing == 0 or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.1)


async def events_lost(rig: Rig, *, wait: float = 30.0) -> int:
    """With traffic stopped: events each instance lacks against the registry, plus one for an
    instance at the registry's sequence number whose state still differs (an effect lost)."""
    deadline = time.monotonic() + wait
    while True:
        latest, digest = await _registry_state_retrying(rig, wait)
        states = await asyncio.gather(*(instance_state(rig, i) for i in rig.instances))
        lost = 0
        for state in states:
            if state is None:
                lost += latest
            elif state[0] < latest:
                lost += latest - state[0]
            elif state[1] != digest:
                lost += 1
        if lost == 0 or time.monotonic() > deadline:
            return lost
        await asyncio.sleep(0.2)


async def _registry_state_retrying(rig: Rig, wait: float) -> tuple[int, str]:
    deadline = time.monotonic() + wait
    while True:
        try:
            return await registry_state(rig)
        except (aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def recovery(rig: Rig, since: float) -> dict[str, float | None]:
    """Seconds from `since` until each instance answered /readyz with 200 (None: not within
    a minute)."""

    async def one(instance: ServiceProcess) -> float | None:
        while time.monotonic() - since < RECOVERY_LIMIT:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with rig.stack.session.get(
                    instance.url + "/readyz", timeout=QUICK
                ) as response:
                    if response.status == 200:
                        return time.monotonic() - since
            await asyncio.sleep(0.1)
        return None

    found = await asyncio.gather(*(one(instance) for instance in rig.instances))
    return {i.name: seconds for i, seconds in zip(rig.instances, found, strict=True)}
