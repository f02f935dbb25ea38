"""`/healthz` (alive), `/readyz` (dependencies answer) and `/metrics` (Prometheus)."""

import asyncio
from collections.abc import Awaitable, Callable
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
    checks = request.app[READINESS]
    results = await asyncio.gather(*(_run_probe(check) for check in checks))
    report = {
        check.name: {"ready": ready, "detail": detail}
        for check, (ready, detail) in zip(checks, results, strict=True)
    }
    if all(ready for ready, _ in results):
        return envelope({"status": "ready", "checks": report})
    raise errors.ServiceUnavailable(
        "Not ready: " + ", ".join(name for name, item in report.items() if not item["ready"]),
        data={"status": "degraded", "checks": report},
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup_health(app: web.Application) -> None:
    app[READINESS] = []
    add_route(app, "GET", "/healthz", healthz)
    add_route(app, "GET", "/readyz", readyz)
    add_route(app, "GET", "/metrics", metrics)
