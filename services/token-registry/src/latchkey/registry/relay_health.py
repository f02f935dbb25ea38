"""How the outbox relay is doing, in `/readyz` and `/metrics`: reported beside readiness, never
a reason for it to fail (a registry that cannot relay still serves introspection, which
instances lean on while events do not reach them)."""

from collections.abc import Callable

from aiohttp import web
from prometheus_client import Gauge

from latchkey.common.health import add_readiness_check
from latchkey.common.metrics import METRICS
from latchkey.registry.relay import OutboxRelay


def relay_health(relay: OutboxRelay, *, publish_bound: float) -> tuple[bool, str]:
    """Well: leading and publishing (within `publish_bound` seconds), or standing by while
    another instance holds the lock."""
    broker = "broker connected" if relay.broker_connected else "broker unavailable"
    if relay.role == "standby":
        return True, f"standby: another instance holds the relay lock; {broker}"
    if relay.role != "leader":
        return False, f"not relaying ({relay.why}); {broker}; retrying"
    age = relay.seconds_since_publish()
    if age <= publish_bound:
        return True, f"leader: holds the relay lock, {broker}, last published {age:.1f}s ago"
    return False, f"leader: holds the relay lock, {broker}, nothing published for {age:.1f}s"


def report_relay_health(app: web.Application, relay: OutboxRelay, *, publish_bound: float) -> None:
    """The `relay` check of `/readyz` (not one readiness is decided by) and its gauges."""

    async def probe() -> tuple[bool, str]:
        return relay_health(relay, publish_bound=publish_bound)

    add_readiness_check(app, "relay", probe)
    gauges: list[tuple[str, str, Callable[[], float]]] = [
        (
            "latchkey_relay_leader",
            "1 while this instance holds the relay lock.",
            lambda: float(relay.role == "leader"),
        ),
        (
            "latchkey_relay_healthy",
            "1 while the relay is well from here: leading and publishing, or standing by.",
            lambda: float(relay_health(relay, publish_bound=publish_bound)[0]),
        ),
        (
            "latchkey_relay_broker_connected",
            "1 while this instance's broker connection is up.",
            lambda: float(relay.broker_connected),
        ),
        (
            "latchkey_relay_last_publish_age_seconds",
            "Seconds since the broker confirmed this instance's last event or heartbeat.",
            lambda: min(relay.seconds_since_publish(), 1e9),
        ),
        (
            "latchkey_relay_published_events",
            "Events this instance has published.",
            lambda: float(relay.published),
        ),
    ]
    for name, documentation, function in gauges:
        Gauge(name, documentation, registry=app[METRICS].registry).set_function(function)
