"""3. Deep-link login with a fresh token on every request (verify the signature, check the
view, seal a session, 303), against the same work done by hand in a bare aiohttp handler.

Each router run reads its own slice of the token file, so no token reaches the router twice
(its verification cache never hits); the slice for a run is sized from the rate of the warm-up.
"""

import asyncio
import math
import time
from datetime import datetime

from bench.context import Context
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.wrk import Result, Target, run_wrk

SCENARIO = "3 deep link"
PATH = "/agent/x"
FIRST_BATCH = 4000
STALE_REPORT = 3.0


async def run(ctx: Context) -> list[Figure]:
    load = ctx.load
    tokens = await ctx.signed_tokens(FIRST_BATCH)
    jwks = ctx.stack.url("auth") + "/.well-known/jwks.json"
    bare = await ctx.server(
        "bare-deeplink", "deeplink", env={"BENCH_SESSION_KEY": ctx.stack.session_key}, jwks=jwks
    )
    router = ctx.stack.url("router")
    for url in (router, bare.url):
        await expect(ctx.http, f"{url}{PATH}?accessToken={tokens.pop()}&room=7", 303)
    tokens_file = ctx.write("deeplink-tokens.txt", tokens)
    offsets = {0: 0}
    first = offsets.__getitem__
    ours = Target("router", router, PATH, "deeplink", tokens_file, first, ctx.router_pid)
    baseline = Target("bare deep link", bare.url, PATH, "deeplink", tokens_file, first, bare.pid)
    await run_wrk(baseline, load=load, duration=load.warmup, number=0)
    warm = await run_wrk(ours, load=load, duration=load.warmup, number=0)
    per_run = math.ceil(warm.rps * load.duration * 1.4) + 500
    offsets[1] = warm.requests + load.connections
    needed = offsets[1] + load.rounds * per_run
    if needed > len(tokens):
        ctx.log(f"    signing {needed - len(tokens)} more tokens ({warm.rps:.0f} deep links/s)")
        tokens += await ctx.signed_tokens(needed - len(tokens))
        ctx.write("deeplink-tokens.txt", tokens)
    results = {target.name: Result(target.name) for target in (ours, baseline)}
    reused = 0
    for number in range(1, load.rounds + 1):
        for target in (baseline, ours):
            run = await run_wrk(target, load=load, duration=load.duration, number=number)
            results[target.name].runs.append(run)
            ctx.log(
                f"    {target.name:<28} round {number}: {run.rps:9.0f} req/s  "
                f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms"
            )
            if run.failed > run.requests // 1000:
                raise RuntimeError(f"{target.name}: failures {run.errors}")
        offsets[number + 1] = (
            offsets[number] + results["router"].runs[-1].requests + load.connections
        )
        reused += results["router"].runs[-1].wrapped
    await ctx.stop_servers()
    silent = await report_age(ctx)
    if silent > STALE_REPORT:
        ctx.log(f"    WARNING: after the deep links the router has not reported to the registry "
                f"for {silent:.1f} s (delivery receipts, GET /api/v1/instances)")  # fmt: skip
    figures = compared(SCENARIO, results["router"], results["bare deep link"])
    for figure in figures:
        figure.details["tokens"] = len(tokens)
        figure.details["router_runs_that_reused_tokens"] = reused
        figure.details["router_silent_for_s_after_load"] = round(silent, 1)
    return figures


async def report_age(ctx: Context) -> float:
    """Seconds since the router last reported to the registry, a few seconds after the load
    (instances report about once a second)."""
    await asyncio.sleep(STALE_REPORT)
    status, body, _ = await ctx.stack.call("registry", "GET", "/api/v1/instances", token=ctx.admin)
    for instance in body["data"] if status == 200 else []:
        if instance["instanceId"] == "router":
            reported = datetime.fromisoformat(instance["reportedAt"]).timestamp()
            return time.time() - reported
    return float("inf")
