"""PostgreSQL taken away from a running service: every call that needs it is a 503 with a
reason, the outage is one log line when it starts and one when it ends, never a traceback a
request, and the service carries on by itself once the database is back."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from latchkey.common.tokenstate.runtime import TOKEN_STATE
from latchkey.registry.appkeys import RELAY
from tests.support.apps import running_services
from tests.support.cli import Cli
from tests.support.infra import Infra
from tests.support.propagation import until
from tests.support.registry import INTERNAL, Registry, RegistryFactory
from tests.support.stack import ADMIN_USERNAME
from tests.support.tcpproxy import TcpProxy

LOGIN = {
    "username": ADMIN_USERNAME,
    "password": "a wrong password",
    "channel": "WEB",
    "platform": "WEB",
}


@pytest.fixture
async def database_proxy(fresh_database: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A cuttable connection to a database of the test's own: (the proxy, the URL through it)."""
    target = URL(fresh_database)
    async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        yield proxy, str(target.with_port(proxy.port))


def lines(caplog: pytest.LogCaptureFixture, text: str, level: int | None = None) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if text in record.getMessage() and (level is None or record.levelno == level)
    ]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.exc_info]


async def answer(registry: Registry, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with registry.client.request(method, path, **kw) as response:
        return response.status, await response.json()


async def test_the_registry_answers_503_database_unavailable_and_logs_the_outage_once(
    start_registry: RegistryFactory,
    database_proxy: tuple[TcpProxy, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, url = database_proxy
    registry = await start_registry(url)
    admin = await registry.admin()
    token, _ = await registry.record()
    await until(lambda: registry.app[RELAY].role == "leader", interval=0.05)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/tokens", {"headers": admin}),
        ("GET", "/api/v1/domain-policy", {"headers": admin}),
        ("POST", "/internal/v1/introspect", {"headers": INTERNAL, "json": {"token": token}}),
        ("GET", "/internal/v1/token-state", {"headers": INTERNAL}),
        ("GET", "/internal/v1/events?after=0", {"headers": INTERNAL}),
    ]
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    proxy.block()
    for _ in range(5):
        for method, path, kw in calls:
            status, body = await answer(registry, method, path, **kw)
            assert (status, body["reason"], body["code"]) == (503, "database_unavailable", 503), (
                path,
                body,
            )
    status, ready = await answer(registry, "GET", "/readyz")
    assert status == 503
    assert ready["data"]["checks"]["database"]["ready"] is False
    await until(lambda: registry.app[RELAY].role != "leader", interval=0.05)

    proxy.unblock()
    await until(lambda: _answers(registry, "/api/v1/tokens", admin), interval=0.05)
    await until(lambda: bool(lines(caplog, "database answers again")), interval=0.05)
    await until(lambda: registry.app[RELAY].role == "leader", interval=0.05)

    assert len(lines(caplog, "database unavailable", logging.WARNING)) == 1, caplog.text
    assert len(lines(caplog, "database answers again", logging.INFO)) == 1, caplog.text
    assert tracebacks(caplog) == [], caplog.text
    assert len(lines(caplog, "no longer relays", logging.WARNING)) == 1, caplog.text
    assert (await answer(registry, "GET", "/readyz"))[0] == 200


async def test_the_registry_carries_on_reporting_its_own_receipts_after_an_outage(
    start_registry: RegistryFactory, database_proxy: tuple[TcpProxy, str]
) -> None:
    """Its own token state reads the database directly: an outage there must be one its
    background work retries, not an error that ends it. The network hangs first, so the
    outage catches a receipt mid-query (asyncpg then says the connection is gone)."""
    proxy, url = database_proxy
    registry = await start_registry(url)
    admin = await registry.admin()
    state = registry.app[TOKEN_STATE]
    await until(lambda: state.receipts.reports > 0, interval=0.05)

    proxy.stall()
    await asyncio.sleep(1.5)  # a receipt (one a second) is under way, and stuck
    proxy.block()
    proxy.resume()
    await asyncio.sleep(0.5)
    proxy.unblock()
    reported = state.receipts.reports
    await until(lambda: state.receipts.reports > reported, interval=0.05)
    _, claims = await registry.record()
    status, body = await answer(
        registry, "POST", f"/api/v1/tokens/{claims['jti']}/revoke", headers=admin,
        json={"reason": "after the outage"},
    )  # fmt: skip
    assert status == 200, body
    await until(lambda: state.view.seq >= body["data"]["eventSeq"], interval=0.05)


async def test_the_cli_exits_with_its_unavailable_code_when_the_database_is_away(
    start_registry: RegistryFactory,
    database_proxy: tuple[TcpProxy, str],
    tmp_path: Any,
) -> None:
    proxy, url = database_proxy
    registry = await start_registry(url)
    admin = (await registry.admin())["Authorization"].removeprefix("Bearer ")
    cli = Cli(
        tmp_path,
        {
            "LATCHKEY_REGISTRY_URL": str(registry.client.make_url("")).rstrip("/"),
            "LATCHKEY_TOKEN": admin,
        },
    )
    assert (await cli("tokens", "list")).code == 0
    proxy.block()
    (await cli("tokens", "list")).assert_error(7, "database_unavailable")
    proxy.unblock()


async def test_a_login_with_the_database_away_is_a_503_envelope(
    infra: Infra,
    database_proxy: tuple[TcpProxy, str],
    fresh_database: str,
    exchange: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, url = database_proxy
    async with running_services(
        infra, fresh_database, exchange, overrides={"auth": {"database_url": url}}
    ) as services:
        await services.token()
        caplog.clear()
        caplog.set_level(logging.INFO)
        proxy.block()
        for _ in range(3):
            status, body = await services.call("auth", "POST", "/auth/v1/login", json=LOGIN)
            assert (status, body["reason"]) == (503, "database_unavailable"), body
        await asyncio.sleep(2.5)  # the pending-revocations loop retries every second meanwhile
        assert tracebacks(caplog) == [], caplog.text
        assert len(lines(caplog, "database unavailable", logging.WARNING)) == 1, caplog.text
        assert lines(caplog, "pending revocations") == [], "one line per outage, not per retry"
        proxy.unblock()
        await services.token()


async def _answers(registry: Registry, path: str, headers: dict[str, str]) -> bool:
    return (await answer(registry, "GET", path, headers=headers))[0] == 200
