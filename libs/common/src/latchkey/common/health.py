"""`/healthz` (alive), `/readyz` (dependencies answer) and `/metrics` (Prometheus)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from latchkey.common import errors
from latchkey.common.web import envelope

CheckResult = tuple[bool, str]
"""(ready, a short human-readable detail)."""


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    probe: Callable[[], Awaitable[CheckResult]]


@dataclass
class Metrics:
    """The per-app metrics registry (never the global one: tests run many apps at once)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    _children: dict[tuple[str, str, int], tuple[Any, Any]] = field(default_factory=dict)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a request. The labelled children are looked up once per (route, method,
        status): `labels()` takes a lock and builds a key on every call, a hot-path cost."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    @classmethod
    def create(cls, service: str) -> "Metrics":
        registry = CollectorRegistry(auto_describe=True)
        requests = Counter(
            "latchkey_http_requests",
            "HTTP requests answered.",
            ["route", "method", "status"],
            registry=registry,
        )
        latency = Histogram(
            "latchkey_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        )
        return cls(registry=registry, requests=requests, latency=latency)


READINESS = web.AppKey("readiness_checks", list[ReadinessCheck])
METRICS = web.AppKey("metrics", Metrics)

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


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response: web.StreamResponse = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].observe(route, request.method, status, time.perf_counter() - started)


def setup_health(app: web.Application, service: str) -> None:
    app[READINESS] = []
    app[METRICS] = Metrics.create(service)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
