"""A dependency that cannot be reached, as one app sees it: a 503 with a reason for each request
it fails, one WARNING when the outage starts and one INFO when the dependency answers again.

Which failures are outages (and not bugs) is decided here, once: the edge renders them
(`latchkey.common.web.as_api_error`), and background work that meets them says so the same way.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from latchkey.common import errors

log = logging.getLogger(__name__)

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 5.0

_CLOSED_WORDS = ("closed", "closing")
"""asyncpg says InterfaceError("connection is closed" / "pool is closing") for a connection
that is gone; its other InterfaceErrors are misuse (a bug), which stays a 500."""

_UNAVAILABLE_POSTGRES = (
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08, and a dropped connection
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,  # 57P01: terminated by a restart or an operator
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
)


def _raised_in_asyncpg(exc: BaseException) -> bool:
    """Whether `exc`, or what it was raised from, came out of asyncpg's code (an OSError or a
    timeout while talking to the database, rather than to another service)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        trace: TracebackType | None = seen.__traceback__
        while trace is not None:
            if str(trace.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
                return True
            trace = trace.tb_next
        seen = seen.__cause__ or seen.__context__
    return False


def is_database_outage(exc: BaseException) -> bool:
    """The database cannot be reached or is going away, as opposed to a query that is wrong:
    refused or reset connections, a connection that closed under us, a pool that cannot get
    one in time, a server starting, stopping or full."""
    if isinstance(exc, (errors.DatabaseUnavailable, *_UNAVAILABLE_POSTGRES)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc).lower()
        return any(word in text for word in _CLOSED_WORDS)
    if isinstance(exc, OSError | TimeoutError):
        return _raised_in_asyncpg(exc)
    return False


class Outage:
    """One dependency of one app: down from the first failure until a probe (or a caller)
    says it answers again; each change is logged once."""

    def __init__(
        self,
        dependency: str,
        *,
        probe: Callable[[], Awaitable[object]] | None = None,
        interval: float = PROBE_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self.probe = probe
        """How to ask whether it answers again (set by whoever opens the dependency)."""
        self._interval = interval
        self._monotonic = monotonic
        self._since: float | None = None
        self._down = asyncio.Event()
        self.failures = 0
        """Failures met during the current (or last) outage."""
        self.outages = 0
        """Outages started since the app started."""

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        """Something needed the dependency and could not reach it."""
        self.failures += 1
        if self._since is not None:
            return
        self._since = self._monotonic()
        self.failures = 1
        self.outages += 1
        self._down.set()
        log.warning(
            "%s unavailable (%s): what needs it answers 503 until it answers again",
            self.dependency,
            type(exc).__name__,
        )

    def answered(self) -> None:
        """The dependency answered: the outage, if there was one, is over."""
        if self._since is None:
            return
        lasted = self._monotonic() - self._since
        self._since = None
        self._down.clear()
        log.info(
            "%s answers again after %.1fs (%d failure(s) meanwhile)",
            self.dependency,
            lasted,
            self.failures,
        )

    @contextlib.contextmanager
    def noticing(self) -> Iterator[None]:
        """Around background work on the database: an outage met there is told here and
        raised as `DatabaseUnavailable` (which retry loops expect), not as asyncpg's own."""
        try:
            yield
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            self.failed(exc)
            if isinstance(exc, errors.DatabaseUnavailable):
                raise
            raise errors.DatabaseUnavailable() from exc

    async def watch(self) -> None:
        """For the app's life: while down, probe every `interval` until it answers."""
        if self.probe is None:
            return
        while True:
            await self._down.wait()
            await asyncio.sleep(self._interval)
            try:
                async with asyncio.timeout(PROBE_TIMEOUT):
                    await self.probe()
            except Exception as exc:  # still down, whatever it says this time
                log.debug("%s still unavailable: %s", self.dependency, type(exc).__name__)
                continue
            self.answered()


class Outages(Collector):
    """Every dependency's outage tracker of one app, and their metrics."""

    def __init__(self) -> None:
        self._by_dependency: dict[str, Outage] = {}

    def of(self, dependency: str) -> Outage:
        found = self._by_dependency.get(dependency)
        if found is None:
            found = self._by_dependency[dependency] = Outage(dependency)
        return found

    def collect(self) -> Iterator[Metric]:
        down = GaugeMetricFamily(
            "latchkey_dependency_down",
            "1 while requests fail because this dependency cannot be reached.",
            labels=["dependency"],
        )
        started = CounterMetricFamily(
            "latchkey_dependency_outages", "Outages of this dependency seen.", labels=["dependency"]
        )
        for name, outage in list(self._by_dependency.items()):
            down.add_metric([name], float(outage.down))
            started.add_metric([name], outage.outages)
        yield down
        yield started
