"""`/healthz` (alive), `/readyz` (can do its job) and `/metrics` (Prometheus).

Liveness is the process answering: nothing it depends on makes `/healthz` fail, so an
orchestrator never restarts an instance for an outage elsewhere. Readiness is whether the
instance can do its job now: each service names the checks that decide it (`ready_when`);
the other checks are reported in the same answer, never a reason to take it out (a registry
whose relay cannot reach the broker still answers introspection, which instances lean on
exactly then).
"""

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import generate_latest

from latchkey.common import errors
from latchkey.common.edge import add_route
from latchkey.common.metrics import METRICS
from latchkey.common.web import envelope

CheckResult = tuple[bool, str]
"""(ready, a short human-readable detail)."""


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    probe: Callable[[], Awaitable[CheckResult]]


READINESS = web.AppKey("readiness_checks", list[ReadinessCheck])
READY_WHEN = web.AppKey("ready_when", frozenset[str])
"""The checks that decide readiness; an empty set: every check does."""

PROBE_TIMEOUT = 2.0


def add_readiness_check(
    app: web.Application, name: str, probe: Callable[[], Awaitable[CheckResult]]
) -> None:
    app[READINESS].append(ReadinessCheck(name, probe))


async def _run_probe(check: ReadinessCheck) -> CheckResult:
    try:
        return await asyncio.wait_for(check.probe(), PROBE_TIMEOUT)
    except TimeoutError:
        return False, "no answer in time"
    except Exception as exc:  # a failing probe means "not ready", never a 500
        return False, type(exc).__name__


async def healthz(request: web.Request) -> web.Response:
    return envelope({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """200 when every check that decides readiness passes ("ready", or "degraded" when a
    reported one fails), else 503 ("unready"); every check is in `data.checks`."""
    checks = request.app[READINESS]
    deciding = request.app[READY_WHEN]
    results = await asyncio.gather(*(_run_probe(check) for check in checks))
    report = {
        check.name: {
            "ready": ready,
            "detail": detail,
            "required": not deciding or check.name in deciding,
        }
        for check, (ready, detail) in zip(checks, results, strict=True)
    }
    failing = [name for name, item in report.items() if not item["ready"] and item["required"]]
    if failing:
        raise errors.ServiceUnavailable(
            "Not ready: " + ", ".join(failing), data={"status": "unready", "checks": report}
        )
    degraded = any(not item["ready"] for item in report.values())
    return envelope({"status": "degraded" if degraded else "ready", "checks": report})


async def _check_ready_when(app: web.Application) -> None:
    """After the cleanup contexts added their checks: a name that decides readiness but has
    no check would never fail, so it is a mistake to refuse at start."""
    missing = app[READY_WHEN] - {check.name for check in app[READINESS]}
    if missing:
        raise RuntimeError(f"readiness is decided by checks nobody added: {sorted(missing)}")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup_health(app: web.Application, *, ready_when: Collection[str] = ()) -> None:
    app[READINESS] = []
    app[READY_WHEN] = frozenset(ready_when)
    app.on_startup.append(_check_ready_when)
    add_route(app, "GET", "/healthz", healthz)
    add_route(app, "GET", "/readyz", readyz)
    add_route(app, "GET", "/metrics", metrics)
