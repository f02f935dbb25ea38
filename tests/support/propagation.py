"""Asking every running instance what it knows about tokens, and timing how fast it learns."""

import asyncio
import inspect
import json
import time
from pathlib import Path
from typing import Any

from latchkey.common.events import TokenStateSnapshot
from latchkey.common.tokenstate.view import TokenStateView
from tests.support.credentials import AS_AUTH, instance_headers
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


async def check(stack: Stack, instance: ServiceProcess, token: str) -> dict[str, Any]:
    """What `instance` says about `token` (honoured, or why not)."""
    async with stack.session.post(
        instance.url + "/internal/v1/token-state/check",
        json={"token": token},
        headers=instance_headers(instance.name),
    ) as response:
        body = await response.json()
    if response.status != 200:
        return {"honoured": False, "reason": body.get("reason"), "status": response.status}
    data: dict[str, Any] = body["data"]
    return data


async def status(stack: Stack, instance: ServiceProcess) -> dict[str, Any]:
    async with stack.session.get(
        instance.url + "/internal/v1/token-state/status", headers=instance_headers(instance.name)
    ) as response:
        data: dict[str, Any] = (await response.json())["data"]
        return data


async def registry_digest(stack: Stack) -> tuple[int, str]:
    """The registry's current state, digested exactly as instances digest their views."""
    async with stack.session.get(
        stack.registry.url + "/internal/v1/token-state", headers=AS_AUTH
    ) as response:
        snapshot = TokenStateSnapshot.model_validate((await response.json())["data"])
    view = TokenStateView()
    view.load(snapshot)
    return snapshot.seq, view.digest()


async def until(predicate: Any, timeout: float = 15.0, interval: float = 0.001) -> float:
    """Poll a predicate (plain or async); the seconds it took to hold (AssertionError on
    timeout)."""
    started = time.perf_counter()
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(interval)


async def time_until_refused(
    stack: Stack, instances: list[ServiceProcess], token: str, reason: str
) -> dict[str, float]:
    """Milliseconds until each instance refuses `token` with `reason`, polled concurrently."""

    async def one(instance: ServiceProcess) -> float:
        async def refused() -> bool:
            return (await check(stack, instance, token)).get("reason") == reason

        return await until(refused) * 1000

    results = await asyncio.gather(*(one(instance) for instance in instances))
    return {instance.name: ms for instance, ms in zip(instances, results, strict=True)}


async def all_in_step_with_registry(stack: Stack, timeout: float = 20.0) -> None:
    """Every running instance's view equals the registry's state, exactly."""

    async def in_step() -> bool:
        seq, digest = await registry_digest(stack)
        states = [await status(stack, p) for p in stack.services.values() if p.running]
        return all(s["seq"] == seq and s["digest"] == digest for s in states)

    await until(in_step, timeout=timeout, interval=0.05)


def record(name: str, figures: dict[str, Any]) -> None:
    """Keep measured figures as a test artifact (and in the log), never as an assertion."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "propagation.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[name] = figures
    path.write_text(json.dumps(existing, indent=2, sort_keys=True))
    print(f"{name}: {json.dumps(figures)}")
