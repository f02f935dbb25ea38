"""The faults, each begun and undone: the soak measures what happens between and after."""

import asyncio
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from soak.config import PhasePlan
from soak.rig import Rig


@dataclass
class Fault:
    """Something taken away for `hold` seconds; `describe()` says what, once it has begun."""

    hold: float
    victim: str = field(default="", init=False)
    _finishing: "asyncio.Task[object] | None" = field(default=None, init=False, repr=False)

    async def begin(self, rig: Rig) -> None:
        raise NotImplementedError

    async def end(self, rig: Rig) -> float:
        """Undo the fault; returns (monotonic) when it was undone, and as soon as it was, so
        that recovery is timed from then; `settle()` waits for the rest of the undoing."""
        raise NotImplementedError

    async def settle(self) -> None:
        if self._finishing is not None:
            await self._finishing

    def describe(self) -> str:
        raise NotImplementedError

    def _finish(self, coroutine: Coroutine[Any, Any, object]) -> None:
        self._finishing = asyncio.create_task(coroutine)


@dataclass
class KillRelay(Fault):
    """kill -9 the registry that relays the outbox (its lock goes with its connection), then
    start it again."""

    async def begin(self, rig: Rig) -> None:
        self.victim = await rig.relaying_registry()
        await rig.instance(self.victim).kill()

    async def end(self, rig: Rig) -> float:
        self._finish(rig.instance(self.victim).start(ready=False))  # start-up is recovery
        return time.monotonic()

    def describe(self) -> str:
        return f"kill -9 the relaying registry ({self.victim}), restart after {self.hold:g}s"


@dataclass
class StopBroker(Fault):
    async def begin(self, rig: Rig) -> None:
        await rig.node.stop_app()

    async def end(self, rig: Rig) -> float:
        """The broker is back when it accepts connections again, some way into `start_app`
        (which then spends seconds in Erlang tooling that are not the services' recovery)."""
        self._finish(rig.node.start_app())
        assert self._finishing is not None
        while not self._finishing.done() and not await _accepts(rig.node.port):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # (a port has no event to wait on: it is polled)
        return time.monotonic()

    def describe(self) -> str:
        return f"RabbitMQ stopped for {self.hold:g}s"


@dataclass
class KillRouter(Fault):
    target: str = ""

    async def begin(self, rig: Rig) -> None:
        self.victim = self.target
        await rig.instance(self.victim).kill()

    async def end(self, rig: Rig) -> float:
        self._finish(rig.instance(self.victim).start(ready=False))
        return time.monotonic()

    def describe(self) -> str:
        return f"kill -9 {self.victim}, restart after {self.hold:g}s"


@dataclass
class CutDatabase(Fault):
    """Every PostgreSQL connection dropped, and new ones refused, for `hold` seconds."""

    async def begin(self, rig: Rig) -> None:
        await rig.database.block()

    async def end(self, rig: Rig) -> float:
        await rig.database.unblock()
        return time.monotonic()

    def describe(self) -> str:
        return f"PostgreSQL cut for {self.hold:g}s"


@dataclass
class StallRouter(Fault):
    """SIGSTOP: the process keeps its sockets (requests and events queue up for it) but runs
    nothing, as in a long GC pause, CPU starvation or a paused VM."""

    target: str = ""

    async def begin(self, rig: Rig) -> None:
        self.victim = self.target
        rig.instance(self.victim).signal(signal.SIGSTOP)
        rig.stalls.frozen(self.victim, time.monotonic())

    async def end(self, rig: Rig) -> float:
        resumed = time.monotonic()
        rig.stalls.resumed(self.victim, resumed)
        rig.instance(self.victim).signal(signal.SIGCONT)
        return resumed

    def describe(self) -> str:
        return f"SIGSTOP {self.victim} for {self.hold:g}s"


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def fault_for(plan: PhasePlan, *, stall: float, outage: float, restart_after: float) -> Fault:
    if plan.fault == "registry-kill":
        return KillRelay(restart_after)
    if plan.fault == "broker-stop":
        return StopBroker(outage)
    if plan.fault == "router-kill":
        return KillRouter(restart_after, target=plan.target or "")
    if plan.fault == "database-cut":
        return CutDatabase(outage)
    if plan.fault == "router-stall":
        return StallRouter(stall, target=plan.target or "")
    raise ValueError(f"no such fault: {plan.fault}")
