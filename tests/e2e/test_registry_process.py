"""The registry as a real process: killed mid-stream it loses no event; it never logs a token."""

import asyncio
import json
import signal
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from tests.support.credentials import AS_AUTH, CREDENTIALS
from tests.support.events import EventTap
from tests.support.infra import Infra
from tests.support.issuer import TokenMinter
from tests.support.portal import ProcessFactory, base_env
from tests.support.processes import ServiceProcess

INTERNAL = AS_AUTH


async def start_registry(
    processes: ProcessFactory, infra: Infra, database_url: str, exchange: str, auth_url: str
) -> ServiceProcess:
    env = base_env(infra, database_url=database_url, exchange=exchange, auth_url=auth_url)
    env["LATCHKEY_HEARTBEAT_INTERVAL"] = "0.2"
    return await processes("registry", "latchkey.registry", env, "LATCHKEY_REGISTRY_PORT")


async def record(session: aiohttp.ClientSession, url: str, claims: dict[str, Any]) -> None:
    body = {
        "jti": claims["jti"],
        "userId": claims["sub"],
        "username": claims["name"],
        "kind": "session",
        "portals": claims["portals"],
        "issuedAt": datetime.fromtimestamp(claims["iat"], UTC).isoformat(),
        "expiresAt": datetime.fromtimestamp(claims["exp"], UTC).isoformat(),
    }
    async with session.post(f"{url}/internal/v1/tokens", json=body, headers=INTERNAL) as response:
        assert response.status == 201, await response.text()


async def test_registry_killed_mid_stream_loses_no_event(
    fresh_database: str,
    processes: ProcessFactory,
    infra: Infra,
    exchange: str,
    minter: tuple[TokenMinter, str],
) -> None:
    issuer, issuer_url = minter
    registry = await start_registry(processes, infra, fresh_database, exchange, issuer_url)
    async with aiohttp.ClientSession() as session, EventTap(infra.amqp_url, exchange) as tap:
        claims_list = [issuer.claims() for _ in range(120)]
        for claims in claims_list:
            await record(session, registry.url, claims)

        async def revoke(claims: dict[str, Any]) -> None:
            # Through the internal API, as auth's logout does; failures while it is down are fine.
            try:
                async with session.post(
                    f"{registry.url}/internal/v1/tokens/{claims['jti']}/revoke",
                    json={"reason": "logout"},
                    headers=INTERNAL,
                ) as response:
                    await response.read()
            except aiohttp.ClientError:
                pass

        await asyncio.gather(*(revoke(claims) for claims in claims_list[:60]))
        killer = asyncio.create_task(registry.stop(signal.SIGKILL))
        await asyncio.gather(*(revoke(claims) for claims in claims_list[60:90]))
        await killer
        await registry.start()
        await asyncio.gather(*(revoke(claims) for claims in claims_list[90:]))

        conn = await asyncpg.connect(fresh_database)
        try:
            committed = {row["seq"] for row in await conn.fetch("SELECT seq FROM registry.events")}
        finally:
            await conn.close()
        heard: set[int] = set()
        while not committed <= heard:
            heard.add((await tap.next(timeout=15))["seq"])
        assert heard == committed
        assert committed == set(range(1, max(committed) + 1))


async def test_registry_stops_cleanly_on_sigterm(
    processes: ProcessFactory, infra: Infra, exchange: str, minter: tuple[TokenMinter, str]
) -> None:
    registry = await start_registry(processes, infra, infra.database_url, exchange, minter[1])
    assert await registry.stop(signal.SIGTERM) == 0
    assert '"stopping"' in registry.log_text()


async def test_no_log_line_ever_holds_a_token_or_credential(
    processes: ProcessFactory, infra: Infra, exchange: str, minter: tuple[TokenMinter, str]
) -> None:
    issuer, issuer_url = minter
    registry = await start_registry(processes, infra, infra.database_url, exchange, issuer_url)
    admin_token, admin_claims = issuer.token(roles=["admin"])
    forged, _ = issuer.token(aud="elsewhere")
    async with aiohttp.ClientSession() as session:
        await record(session, registry.url, admin_claims)
        bearer = {"Authorization": f"Bearer {admin_token}"}
        internal = {"headers": INTERNAL}
        cookie = f"latchkey_session={admin_token}"
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"/api/v1/tokens?accessToken={admin_token}", {"headers": bearer}),
            ("GET", f"/api/v1/tokens/{admin_token}", {"headers": bearer}),
            ("GET", "/api/v1/tokens", {"headers": {"Authorization": f"Bearer {forged}"}}),
            ("POST", "/internal/v1/introspect", {"json": {"token": admin_token}}),
            ("POST", "/internal/v1/introspect", {"json": {"token": forged}, "headers": INTERNAL}),
            ("POST", "/internal/v1/introspect", {"data": f'{{"token": "{admin_token}', **internal}),
            ("GET", "/api/v1/tokens", {"headers": {"Authorization": "Bearer " + admin_token * 12}}),
            ("GET", "/api/v1/audit", {"headers": {**bearer, "Cookie": cookie}}),
        ]
        for method, path, kw in requests:
            async with session.request(method, registry.url + path, **kw) as response:
                await response.read()
    await registry.stop()
    text = registry.log_text()
    assert text.strip()
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)
    for secret in (admin_token, forged, *CREDENTIALS.values(), admin_token.split(".")[2][:40]):
        assert secret not in text
    assert "eyJ" not in text
