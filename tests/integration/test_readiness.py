"""Readiness means "can do its job": through a broker outage the registry stays ready (it
serves introspection, which the routers lean on then) and says how its relay is doing; a
router is ready while it can decide tokens, which in deny mode past the bound it cannot."""

from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from yarl import URL

from latchkey.common.tokenstate.runtime import TOKEN_STATE
from tests.support.apps import Services, running_services
from tests.support.infra import Infra
from tests.support.propagation import until
from tests.support.stack import USER_PASSWORD
from tests.support.tcpproxy import TcpProxy


@pytest.fixture
async def broker_proxy(infra: Infra) -> AsyncIterator[tuple[TcpProxy, str]]:
    target = URL(infra.amqp_url)
    async with TcpProxy(target.host or "127.0.0.1", target.port or 5672) as proxy:
        yield proxy, str(target.with_port(proxy.port))


async def readiness(services: Services, name: str) -> tuple[int, dict[str, Any]]:
    status, body = await services.call(name, "GET", "/readyz")
    return status, body["data"]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


@pytest.mark.parametrize(("mode", "router_ready"), [("introspect", 200), ("deny", 503)])
async def test_through_a_broker_outage_the_registry_stays_ready_and_reports_its_relay(
    infra: Infra,
    fresh_database: str,
    exchange: str,
    broker_proxy: tuple[TcpProxy, str],
    mode: str,
    router_ready: int,
) -> None:
    proxy, amqp_url = broker_proxy
    fast = {"amqp_url": amqp_url, "max_staleness": 0.5}
    async with running_services(
        infra,
        fresh_database,
        exchange,
        overrides={
            "registry": fast,
            "auth": fast,
            "router": {**fast, "stale_mode": mode},
        },
    ) as services:
        await services.live()
        admin = await services.token()
        for name in ("registry", "auth", "router"):
            status, data = await readiness(services, name)
            assert (status, data["status"]) == (200, "ready"), (name, data)
        relay = (await readiness(services, "registry"))[1]["checks"]["relay"]
        assert relay["ready"], relay
        assert relay["detail"].startswith("leader: holds the relay lock, broker connected")
        assert relay["required"] is False

        proxy.block()
        router = services.apps["router"][TOKEN_STATE]
        await until(lambda: router.mode() == mode, interval=0.05)
        await until(lambda: _relay_failing(services), interval=0.05)
        status, data = await readiness(services, "registry")
        assert (status, data["status"]) == (200, "degraded"), data
        assert data["checks"]["database"] == {"ready": True, "detail": "ok", "required": True}
        assert data["checks"]["broker"]["ready"] is False
        assert "broker unavailable" in data["checks"]["relay"]["detail"]
        # What the routers lean on now: the registry answers about each token.
        status, body = await services.call(
            "router", "GET", "/_latchkey/verify", token=admin,
            headers={"X-Original-URI": "/agent/", "X-Latchkey-Portal": "agent"},
        )  # fmt: skip
        assert status == (200 if mode == "introspect" else 503), body
        status, data = await readiness(services, "router")
        assert status == router_ready, data
        assert data["checks"]["token_state"]["detail"].endswith(f"({mode} mode)"), data
        assert (await services.call("router", "GET", "/healthz"))[0] == 200
        # Nothing that answers clients needs the broker: no 500 anywhere while it is away.
        user = await services.create_user(admin, f"during-{mode}")
        token = await services.token(user["username"], USER_PASSWORD)
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        status, body = await services.call(
            "registry", "POST", f"/api/v1/tokens/{jti}/revoke", token=admin,
            json={"reason": "during the outage"},
        )  # fmt: skip
        assert status == 200, body
        assert (await services.call("auth", "GET", "/auth/v1/users", token=admin))[0] == 200
        metrics = (await services.call("registry", "GET", "/metrics"))[1]
        assert metric(metrics, "latchkey_relay_broker_connected") == 0
        assert metric(metrics, "latchkey_relay_healthy") == 0

        proxy.unblock()
        await until(lambda: _all_ready(services), timeout=20, interval=0.05)
        metrics = (await services.call("registry", "GET", "/metrics"))[1]
        assert metric(metrics, "latchkey_relay_leader") == 1
        assert metric(metrics, "latchkey_relay_healthy") == 1
        assert metric(metrics, "latchkey_relay_last_publish_age_seconds") < 5


async def _relay_failing(services: Services) -> bool:
    return not (await readiness(services, "registry"))[1]["checks"]["relay"]["ready"]


async def _all_ready(services: Services) -> bool:
    for name in ("registry", "auth", "router"):
        status, data = await readiness(services, name)
        if (status, data["status"]) != (200, "ready"):
            return False
    return True
