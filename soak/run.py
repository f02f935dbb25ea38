"""One soak: the rig up, the load running, the phases in turn, then the last checks."""

import asyncio
import contextlib
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from soak.config import ROUTERS, PhasePlan, SoakConfig
from soak.consistency import events_behind, events_lost, recovery
from soak.faults import fault_for
from soak.figures import ZEROS, Phase, percentile, totals
from soak.probes import prober, sleep_until
from soak.rig import Rig, rig
from soak.traffic import Clock, Revoker, TokenSupply
from soak.users import signed_in_user
from tests.support.stack import USER_PASSWORD

REVOKED_USERS = 4
"""Users whose logins are revoked (spread so that no one user's records grow huge)."""
SESSION_USER = "soak-agent"
LAG_INTERVAL = 0.1


@dataclass
class SoakResult:
    started: str
    config: dict[str, Any]
    phases: list[dict[str, Any]]
    totals: dict[str, int]
    machine: dict[str, Any]
    """How busy this machine was: the figures are only as good as its spare time."""

    @property
    def passed(self) -> bool:
        return all(self.totals[name] == 0 for name in ZEROS)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def say(started: float, message: str) -> None:
    """A progress line, with the time of day to find the moment in the services' logs."""
    now = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
    print(f"[{time.monotonic() - started:6.1f}s {now}] {message}", file=sys.stderr, flush=True)


async def run_soak(config: SoakConfig) -> SoakResult:
    began, started = datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic()
    say(started, f"starting: {len(config.schedule())} phases of {config.phase:g}s")
    lags: list[float] = []
    async with (
        rig(config) as found,
        prober(found.stack.services, found.stalls) as probes,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client,
    ):
        say(started, "every instance ready; starting the load")
        admin, users, sessions = await _people(found)
        clock = Clock(Phase("quiet"))
        supply = TokenSupply(found, client, users)
        revoker = Revoker(
            found, prober=probes, supply=supply, clock=clock, admin=admin, session=client
        )
        load = [supply.run(), revoker.run(), _watch_lag(lags)]
        load += [signed_in_user(found, router, token, clock) for router, token in sessions]
        async with _running(load) as stop, revoker.cancelled_on_exit():
            phases = [await _phase(found, plan, clock, started) for plan in config.schedule()]
            phases.append(await _last_checks(found, clock, revoker, started, stop))
    say(started, "done")
    figures = [phase.figures() for phase in phases]
    return SoakResult(began, _described(config), figures, totals(figures), _machine(started, lags))


async def _phase(rig: Rig, plan: PhasePlan, clock: Clock, started: float) -> Phase:
    """Run one phase: the fault `fault_at` in, undone `hold` later, recovery to the end."""
    config = rig.config
    phase = Phase(plan.name)
    clock.phase = phase
    began = time.monotonic()
    recovering: asyncio.Task[dict[str, float | None]] | None = None
    fault = None
    if plan.fault is not None:
        fault = fault_for(
            plan, stall=config.stall, outage=config.outage, restart_after=config.restart_after
        )
        await sleep_until(began + config.fault_at)
        await fault.begin(rig)
        begun = time.monotonic()
        phase.fault = fault.describe()
        say(started, f"{plan.name}: {phase.fault}")
        await asyncio.sleep(fault.hold)
        undone = await fault.end(rig)
        say(started, f"{plan.name}: undone")
        recovering = asyncio.create_task(recovery(rig, undone))
        if undone - begun > fault.hold + 1:  # rabbitmqctl can take many seconds when busy
            phase.fault += f" (in effect {undone - begun:.1f}s)"
    else:
        say(started, f"{plan.name}: no fault")
    await sleep_until(began + config.phase)
    if fault is not None and recovering is not None:
        await fault.settle()
        phase.recovery = await recovering
    phase.events_lost = await events_behind(rig)
    phase.seconds = time.monotonic() - began
    say(started, f"{plan.name}: over after {phase.seconds:.1f}s")
    return phase


async def _last_checks(
    rig: Rig, clock: Clock, revoker: Revoker, started: float, stop: Callable[[int], Any]
) -> Phase:
    """Revocations stop; every instance is compared with the registry; every revoked token is
    asked about once more on every instance. Signed-in users go on meanwhile."""
    end = Phase("end", fault="revocations stopped; last checks")
    clock.phase = end
    began = time.monotonic()
    await stop(1)  # the revoker's beat
    await revoker.finish()
    end.events_lost = await events_lost(rig)
    say(started, f"every instance compared with the registry: {end.events_lost} events lost")
    swept = await revoker.sweep()
    say(started, f"every revoked token asked about once more on every instance: {swept}")
    end.seconds = time.monotonic() - began
    return end


async def _people(rig: Rig) -> tuple[str, list[str], list[tuple[str, str]]]:
    """The admin's token, the users whose tokens are revoked, and a token per signed-in
    session (by router)."""
    stack = rig.stack
    admin = await stack.token()
    users = [f"soak-user-{index}" for index in range(REVOKED_USERS)]
    for username in [*users, SESSION_USER]:
        await stack.create_user(admin, username)
    sessions = [
        (router, await stack.token(SESSION_USER, USER_PASSWORD))
        for router in ROUTERS
        for _ in range(rig.config.sessions_per_router)
    ]
    return admin, users, sessions


async def _watch_lag(lags: list[float]) -> None:
    """How late the soak's own event loop wakes up: its figures are no sharper than this."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_INTERVAL)
        lags.append(time.monotonic() - before - LAG_INTERVAL)


@contextlib.asynccontextmanager
async def _running(
    coroutines: list[Coroutine[Any, Any, None]],
) -> AsyncIterator[Callable[[int], Any]]:
    """Run the load in the background; `stop(i)` ends the i-th early; all end on the way out
    (and a load task that failed fails the soak)."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]

    async def stop(index: int) -> None:
        tasks[index].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[index]

    try:
        yield stop
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result


def _machine(started: float, lags: list[float]) -> dict[str, Any]:
    """CPU the soak and (once stopped and reaped) the services used, the soak's loop lag."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cores": os.cpu_count(),
        "loadAverage": [round(load, 2) for load in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
        "soakCpuSeconds": round(own.ru_utime + own.ru_stime, 1),
        "servicesCpuSeconds": round(children.ru_utime + children.ru_stime, 1),
        "soakLoopLagMs": {
            "p99": round((percentile(lags, 99) or 0.0) * 1000, 1),
            "max": round(max(lags, default=0.0) * 1000, 1),
        },
    }


def _described(config: SoakConfig) -> dict[str, Any]:
    described = {k: v for k, v in asdict(config).items() if k not in ("log_dir", "json_path")}
    described["database_server"] = "(local)"  # a DSN stays on the machine it names
    described["schedule"] = [plan.name for plan in config.schedule()]
    return described
