"""`LATCHKEY_WORKERS`: several processes of the router on one port, each a full instance (in
the instances list, in delivery receipts, refusing a revoked token on its own), and one
supervisor that stops them all, or is stopped by one of them dying."""

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from tests.support.credentials import instance_headers
from tests.support.portal import PortalFactory
from tests.support.processes import ServiceProcess, alive
from tests.support.propagation import until
from tests.support.stack import Stack

WORKERS = {"router-w1", "router-w2"}
ATTEMPTS = 200
"""New connections tried until every worker has answered (the kernel picks one per
connection by a hash of its addresses, so two workers both answer within a few)."""


async def ask_each_worker(router: ServiceProcess, token: str) -> dict[str, list[dict[str, Any]]]:
    """What the router's workers say about `token`, by the instance that answered: a new
    connection for each request, until every worker answered at least three times."""
    answers: dict[str, list[dict[str, Any]]] = {}
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(ATTEMPTS):
            async with session.post(
                router.url + "/internal/v1/token-state/check",
                json={"token": token},
                headers=instance_headers("router"),
            ) as response:
                assert response.status == 200, await response.text()
                data = (await response.json())["data"]
            answers.setdefault(data["instanceId"], []).append(data)
            if set(answers) >= WORKERS and min(len(v) for v in answers.values()) >= 3:
                break
    assert set(answers) == WORKERS, Counter({k: len(v) for k, v in answers.items()})
    return answers


async def deep_link_statuses(router: ServiceProcess, token: str, times: int) -> Counter[int]:
    """Deep links with `token`, each on a new connection (so both workers get some)."""
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(times):
            async with session.get(
                f"{router.url}/agent/app/?accessToken={token}", allow_redirects=False
            ) as response:
                statuses[response.status] += 1
    return statuses


async def listed_instances(stack: Stack, admin: str) -> dict[str, dict[str, Any]]:
    reply = await stack.call("registry", "GET", "/api/v1/instances", token=admin)
    assert reply.status == 200, reply.body
    return {item["instanceId"]: item for item in reply.data}


async def test_each_router_worker_is_an_instance_and_refuses_a_revoked_token(
    portal_factory: PortalFactory,
) -> None:
    portal = await portal_factory(LATCHKEY_WORKERS="2")
    stack, router = portal.stack, portal.stack.router
    admin = await stack.token()

    async def both_listed() -> bool:
        return set(await listed_instances(stack, admin)) >= WORKERS

    await until(both_listed, timeout=15, interval=0.1)
    listed = await listed_instances(stack, admin)
    assert set(listed) == {"registry", "auth", *WORKERS}  # the supervisor is no instance
    assert {listed[name]["service"] for name in WORKERS} == {"portal-router"}

    token = await portal.agent_token()
    for name, answers in (await ask_each_worker(router, token)).items():
        assert all(answer["honoured"] for answer in answers), (name, answers)
    assert (await deep_link_statuses(router, token, 20)) == Counter({303: 20})

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    reply = await stack.call(
        "registry", "POST", f"/api/v1/tokens/{jti}/revoke", token=admin, json={"reason": "t"}
    )
    assert reply.status == 200, reply.body
    seq = reply.data["eventSeq"]

    async def delivered_everywhere() -> bool:
        reply = await stack.call("registry", "GET", f"/api/v1/events/{seq}/delivery", token=admin)
        return reply.status == 200 and reply.data["complete"] and reply.data["instances"] == 4

    await until(delivered_everywhere, timeout=10, interval=0.05)
    receipt = (
        await stack.call("registry", "GET", f"/api/v1/events/{seq}/delivery", token=admin)
    ).data
    applied = {item["instanceId"]: item for item in receipt["deliveries"] if item["applied"]}
    assert set(applied) >= WORKERS, receipt
    assert all(applied[name]["latencyMs"] is not None for name in WORKERS), receipt

    for name, answers in (await ask_each_worker(router, token)).items():
        assert {answer["reason"] for answer in answers} == {"token_revoked"}, (name, answers)
    statuses = await deep_link_statuses(router, token, 40)
    assert statuses[303] == statuses[200] == 0, statuses


async def gone(pids: set[int], timeout: float = 15.0) -> bool:
    async def none_alive() -> bool:
        return not any(alive(pid) for pid in pids)

    await until(none_alive, timeout=timeout, interval=0.05)
    return True


async def workers_of(process: ServiceProcess) -> set[int]:
    """The supervisor's two worker processes, once both listen."""

    async def two() -> bool:
        log = process.log_text()
        listening = [f'"listening on {process.url}", "worker": {k}}}' in log for k in (1, 2)]
        return all(listening) and len(process.children()) == 2

    await until(two, timeout=10, interval=0.05)
    return process.children()


def descendants(pids: set[int]) -> set[int]:
    """These processes and every process they started, and theirs (auth's hashing pool)."""
    found, todo = set(), set(pids)
    while todo:
        pid = todo.pop()
        found.add(pid)
        for listed in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo.update(int(child) for child in listed.read_text().split())
            except OSError:
                continue
    return found


async def test_sigterm_to_each_supervisor_stops_every_worker_of_every_service(
    stack: Stack,
) -> None:
    await stack.start("registry", LATCHKEY_WORKERS="2")
    await stack.start("auth", LATCHKEY_WORKERS="2")
    await stack.start("router", LATCHKEY_WORKERS="2")
    supervisors = [stack.registry, stack.auth, stack.router]
    workers = {process.name: await workers_of(process) for process in supervisors}
    admin = await stack.token()  # logins on either auth worker, each with its hashing pool
    assert len({await stack.token() for _ in range(4)}) == 4

    async def all_listed() -> bool:
        return len(await listed_instances(stack, admin)) == 6

    await until(all_listed, timeout=15, interval=0.1)
    expected = {f"{name}-w{k}" for name in ("registry", "auth", "router") for k in (1, 2)}
    assert set(await listed_instances(stack, admin)) == expected

    everything = descendants({process.pid for process in supervisors})
    assert len(everything) > 9  # three supervisors, six workers, auth's hashing processes
    for process in reversed(supervisors):
        assert await process.stop(signal.SIGTERM) == 0, process.log_text()[-3000:]
        log = process.log_text()
        assert log.count('"msg": "stopping"') == 2, log[-3000:]
        assert "every worker has stopped" in log
        assert "while stopping" not in log  # each worker stopped on its own, cleanly
    assert await gone(everything)
    assert all(len(pids) == 2 for pids in workers.values())


async def test_a_worker_that_dies_takes_the_service_down_and_so_does_its_supervisor(
    stack: Stack,
) -> None:
    await stack.start("registry", "auth")
    await stack.start("router", "router-2", LATCHKEY_WORKERS="2")

    workers = await workers_of(stack.router)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    assert await gone(workers)
    process = stack.router._process
    assert process is not None
    assert await asyncio.wait_for(process.wait(), 15) == 1
    assert "exited with status -9; stopping the service" in stack.router.log_text()

    # The supervisor killed outright: the kernel stops its workers (they would hold the port).
    workers = await workers_of(stack.services["router-2"])
    await stack.services["router-2"].kill()
    assert await gone(workers)


async def test_a_second_copy_on_a_port_in_use_refuses_to_start(stack: Stack) -> None:
    """Workers share their port by SO_REUSEPORT; a second service started on it by mistake
    would be let in to share it too, and must not be."""
    await stack.start("registry", "auth")
    await stack.start("router", LATCHKEY_WORKERS="2")
    await workers_of(stack.router)
    stack.ports["router-2"] = stack.ports["router"]
    second = stack.process("router-2", LATCHKEY_WORKERS="2")
    await second.start(ready=False)  # the first copy answers on that port, of course
    process = second._process
    assert process is not None
    assert await asyncio.wait_for(process.wait(), 20) == 1
    assert f"port {stack.ports['router']} on 127.0.0.1 is in use" in second.log_text()
    assert not second.running
    assert (await stack.call("router", "GET", "/healthz")).status == 200
