"""6. Login: the time of a login (argon2id verify, token signed and recorded) against a bare
argon2id verify with the same parameters, both on the server core; and whether a burst of
logins starves anything: forward-auth's p99 on the router, and how long auth's own event loop
takes to answer `/healthz`, while 20 logins run at once all the time, against the same without.
"""

import asyncio
import contextlib
import json
import statistics
import sys
import time
from typing import Any

from bench.context import Context
from bench.processes import SERVER_CORE, pinned
from bench.report import Figure
from bench.stack import USER_PASSWORD
from bench.wrk import Result, Target, run_wrk

SCENARIO = "6 login"
LOGINS = 10
STORM = 20
PROBE_INTERVAL = 0.02


async def bare_verify(runs: int) -> dict[str, Any]:
    command = [*pinned(SERVER_CORE), sys.executable, "-m", "bench.argon", "--runs", str(runs)]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await process.communicate()
    result: dict[str, Any] = json.loads(stdout)
    return result


async def timed_login(ctx: Context) -> float:
    started = time.perf_counter()
    await ctx.stack.login(ctx.username, USER_PASSWORD)
    return (time.perf_counter() - started) * 1000


async def probe(ctx: Context, stop: asyncio.Event) -> list[float]:
    """auth's /healthz answer times, one request at a time, every PROBE_INTERVAL."""
    url = ctx.stack.url("auth") + "/healthz"
    times = []
    while not stop.is_set():
        started = time.perf_counter()
        async with ctx.http.get(url) as reply:
            await reply.read()
        times.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PROBE_INTERVAL)
    return times


async def storm(ctx: Context, stop: asyncio.Event, done: list[float]) -> None:
    """One of STORM clients that log in again as soon as the last login answered."""
    while not stop.is_set():
        done.append(await timed_login(ctx))


async def window(ctx: Context, target: Target, number: int, *, logins: bool) -> dict[str, Any]:
    stop = asyncio.Event()
    done: list[float] = []
    probing = asyncio.create_task(probe(ctx, stop))
    storms = [asyncio.create_task(storm(ctx, stop, done)) for _ in range(STORM if logins else 0)]
    if logins:
        await asyncio.sleep(1.0)  # every hashing thread busy before the load starts
    run = await run_wrk(target, load=ctx.load, duration=ctx.load.duration, number=number)
    stop.set()
    probe_times = await probing
    with contextlib.suppress(Exception):
        await asyncio.gather(*storms)
    return {"run": run, "probe": probe_times, "logins": done}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]


async def run(ctx: Context) -> list[Figure]:
    bare = await bare_verify(LOGINS)
    await timed_login(ctx)  # warm-up
    logins = [await timed_login(ctx) for _ in range(LOGINS)]
    login_ms = statistics.median(logins)
    ctx.log(f"    login median {login_ms:.1f} ms; bare argon2id verify {bare['median_ms']:.1f} ms")
    target = Target(
        "router", ctx.stack.url("router"), "/_latchkey/verify", "verify-cookie", ctx.cookies_file
    )
    await run_wrk(target, load=ctx.load, duration=ctx.load.warmup, number=0)
    quiet, busy = Result("no logins"), Result("20 logins at once")
    quiet_probe, busy_probe, storm_logins = [], [], []
    for number in range(1, ctx.load.rounds + 1):
        for logins_on, result in ((False, quiet), (True, busy)):
            measured = await window(ctx, target, number, logins=logins_on)
            result.runs.append(measured["run"])
            (busy_probe if logins_on else quiet_probe).append(p99(measured["probe"]))
            storm_logins += measured["logins"]
            ctx.log(
                f"    forward-auth, {result.name:<18} round {number}: "
                f"{measured['run'].rps:7.0f} req/s p99 {measured['run'].p99_ms:6.2f} ms; "
                f"auth /healthz p99 {p99(measured['probe']):6.2f} ms"
            )
    lag = statistics.median(busy_probe)
    details = {
        "logins_ms": logins,
        "bare_verify": bare,
        "storm_logins": len(storm_logins),
        "storm_login_median_ms": statistics.median(storm_logins) if storm_logins else None,
        "healthz_p99_no_logins_ms": statistics.median(quiet_probe),
        "healthz_p99_storm_ms": busy_probe,
        "forward_auth_no_logins": quiet.as_json(),
        "forward_auth_storm": busy.as_json(),
    }
    return [
        Figure(
            SCENARIO,
            "login time (median)",
            login_ms,
            "ms",
            "bare argon2id verify",
            bare["median_ms"],
            goal="< 1.1",
            details=details,
        ),
        Figure(
            SCENARIO,
            "forward-auth p99, 20 logins at once",
            busy.p99_ms,
            "ms",
            "no logins",
            quiet.p99_ms,
            goal="<= 3",  # issue 16: a login storm costs request serving at most 3x its p99
            details=details,
        ),
        Figure(
            SCENARIO,
            "auth /healthz p99, 20 logins at once",
            lag,
            "ms",
            "bare argon2id verify",
            bare["median_ms"],
            goal="< 1",
            details=details,
        ),
    ]
