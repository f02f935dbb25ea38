"""The per-app Prometheus registry, and the request counts and latencies every route records."""

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other is `OTHER`, so clients cannot grow the label set."""


@dataclass(slots=True)
class _Latency:
    counts: list[int]
    """Observations per bucket (not cumulative); the last one is +Inf."""
    total: float = 0.0


class RequestStats(Collector):
    """`latchkey_http_requests_total{route,method,status}` and
    `latchkey_http_request_duration_seconds{route}`, kept in plain dicts and turned into
    metric families when scraped.

    prometheus_client's labelled metrics take a lock and walk every bucket on each
    observation: the event loop, the only writer here, needs neither, and forward-auth
    answers in tens of microseconds, so the difference shows (see bench/results/README.md).
    """

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._buckets = buckets
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[str, _Latency] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in METHODS else "OTHER", status)
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = _Latency([0] * (len(self._buckets) + 1))
        latency.counts[bisect_left(self._buckets, seconds)] += 1
        latency.total += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "latchkey_http_requests",
            "HTTP requests answered.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in list(self._requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "latchkey_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels=["route"],
        )
        bounds = [str(bound) for bound in self._buckets] + ["+Inf"]
        for route, stats in list(self._latency.items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, stats.counts, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            latency.add_metric([route], cumulative, sum_value=stats.total)
        yield latency


@dataclass
class Metrics:
    """The per-app registry (never the global one: tests run many apps at once)."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    requests: RequestStats = field(default_factory=RequestStats)

    def __post_init__(self) -> None:
        self.registry.register(self.requests)


METRICS = web.AppKey("metrics", Metrics)
