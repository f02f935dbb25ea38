"""A router paused past the staleness bound (SIGSTOP: a GC pause, CPU starvation, a paused VM)
while revocations go on, then resumed with a backlog in its sockets: from the moment it runs
again it honours none of the tokens revoked meanwhile, whether it introspects or denies while
stale. Issue 15 saw a resumed router say "live" at its first old message and honour revoked
tokens for seconds past the bound: freshness must be measured on the registry's clock."""

import asyncio
import signal
import time
from dataclasses import dataclass
from typing import Any

import jwt
from yarl import URL

from tests.support.processes import ServiceProcess
from tests.support.propagation import status, until
from tests.support.stack import USER_PASSWORD, Stack

BOUND = 1.0
"""LATCHKEY_MAX_STALENESS for the run (the default is 2 s; a shorter one keeps it quick)."""
ROUNDS = 2
TOKENS = 12
"""Revoked in each round while the routers are stopped."""
KEPT = 3
LOADED = 4
"""Revoked before the routers start: in force from their snapshot alone."""
"""Never revoked: a router that refused everything would prove nothing."""
STALL = 3.0
"""Seconds the routers stay stopped after the last revocation: past the bound, and past the
broker's patience with a silent connection."""


@dataclass
class Answer:
    router: str
    token: int
    status: int
    reason: str | None
    received: float


async def forward_auth(stack: Stack, router: ServiceProcess, token: str) -> tuple[int, Any]:
    async with stack.session.get(
        router.url + "/_latchkey/verify",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Original-URI": "/agent/",
            "X-Latchkey-Portal": "agent",
        },
        timeout=30,  # asked while it is stopped: answered once it runs again
    ) as response:
        body = await response.json(content_type=None) if response.status != 200 else None
        return response.status, body


async def ask_all(stack: Stack, routers: list[ServiceProcess], tokens: list[str]) -> list[Answer]:
    async def one(router: ServiceProcess, index: int) -> Answer:
        code, body = await forward_auth(stack, router, tokens[index])
        reason = body.get("reason") if isinstance(body, dict) else None
        return Answer(router.name, index, code, reason, time.monotonic())

    return list(await asyncio.gather(*(one(r, i) for r in routers for i in range(len(tokens)))))


async def test_a_router_stalled_past_the_bound_honours_no_revoked_token_once_it_resumes(
    stack: Stack,
) -> None:
    stack.env["LATCHKEY_MAX_STALENESS"] = str(BOUND)
    await stack.start("registry", "auth")
    # AMQP heartbeats of a second (5 s by default): the broker gives up on a stopped router's
    # connection within the stall, as it would on a longer one, so the router resumes to old
    # messages in its socket and a gap to fetch from the registry.
    amqp = str(URL(stack.infra.amqp_url).update_query(heartbeat=1))
    admin = await stack.token()
    await stack.create_user(admin, "agent-stall")
    # Revoked before the routers start: they know of these only from the (packed) snapshot
    # they load, whose entries they settle in the background, stall or no stall.
    loaded = [await stack.token("agent-stall", USER_PASSWORD) for _ in range(LOADED)]
    for token in loaded:
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        reply = await stack.call(
            "registry", "POST", f"/api/v1/tokens/{jti}/revoke",
            token=admin, json={"reason": "before the routers"},
        )  # fmt: skip
        assert reply.status == 200, reply.body
    await stack.start("router", LATCHKEY_STALE_MODE="introspect", LATCHKEY_AMQP_URL=amqp)
    await stack.start("router-2", LATCHKEY_STALE_MODE="deny", LATCHKEY_AMQP_URL=amqp)
    routers = [stack.services["router"], stack.services["router-2"]]
    assert {(a.status, a.reason) for a in await ask_all(stack, routers, loaded)} == {
        (401, "token_revoked")
    }

    for round_ in range(ROUNDS):
        tokens = [await stack.token("agent-stall", USER_PASSWORD) for _ in range(TOKENS + KEPT)]
        warm = await ask_all(stack, routers, tokens)  # signatures verified: a cache hit later
        assert all(a.status == 200 for a in warm), warm

        for router in routers:
            router.signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(0.3)  # heartbeats at the current seq queue up in their sockets
            revoked_at = {}
            for index in range(TOKENS):
                jti = jwt.decode(tokens[index], options={"verify_signature": False})["jti"]
                reply = await stack.call(
                    "registry", "POST", f"/api/v1/tokens/{jti}/revoke",
                    token=admin, json={"reason": "stall test"},
                )  # fmt: skip
                assert reply.status == 200, reply.body
                revoked_at[index] = time.monotonic()
            # Asked while stopped: these wait in its socket, beside the backlog of events.
            queued = asyncio.ensure_future(ask_all(stack, routers, tokens))
            await asyncio.sleep(max(revoked_at.values()) + STALL - time.monotonic())
        finally:
            for router in routers:
                router.signal(signal.SIGCONT)
        resumed = time.monotonic()
        assert min(revoked_at.values()) + BOUND < resumed

        answers = list(await queued)
        from_snapshot = await ask_all(stack, routers, loaded)
        assert all(a.status != 200 for a in from_snapshot), from_snapshot
        while time.monotonic() - resumed < 2 * BOUND:
            answers += await ask_all(stack, routers, tokens)
        honoured = [a for a in answers if a.token in revoked_at and a.status == 200]
        late = {a.router: round(a.received - revoked_at[a.token], 2) for a in honoured}
        assert honoured == [], (
            f"round {round_}: {len(honoured)} answers honoured a revoked token after resuming; "
            f"the last, seconds after its revoke returned, per router: {late}"
        )
        refusals = {(a.status, a.reason) for a in answers if a.token in revoked_at}
        # A registry too busy to answer an introspecting router's question is a refusal too.
        fail_closed = {(503, "token_state_stale"), (503, "registry_unavailable")}
        assert refusals <= {(401, "token_revoked"), *fail_closed}, refusals

        # Back in step: both live, the revoked refused as such, the others honoured.
        for router in routers:

            async def live(router: ServiceProcess = router) -> bool:
                return bool((await status(stack, router))["mode"] == "live")

            await until(live, timeout=10, interval=0.05)
        final = await ask_all(stack, routers, tokens)
        assert {(a.status, a.reason) for a in final if a.token in revoked_at} == {
            (401, "token_revoked")
        }
        assert {a.status for a in final if a.token not in revoked_at} == {200}
        assert {(a.status, a.reason) for a in await ask_all(stack, routers, loaded)} == {
            (401, "token_revoked")
        }
