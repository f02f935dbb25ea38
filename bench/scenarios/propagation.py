"""5. Revocation propagation with two instances of each service: revoke calls at a steady rate;
for each, the time from the call returning until every instance has applied it, read from the
delivery receipts (`GET /api/v1/events/{seq}/delivery`: each instance's appliedAt, its own
clock, the same machine clock as ours). Beside it, the bare RabbitMQ fanout to as many consumer
processes, at the same rate, measured in the same run (bench/fanout.py).

With little load to generate (at most a thousand calls a second), the services may use both
cores here (they are pinned again afterwards), and so may this driver, which makes the calls,
and the consumers of the bare fanout.
"""

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jwt

from bench.context import Context
from bench.costs import CpuMeter, serial_commits
from bench.fanout import Publisher
from bench.processes import ALL_CORES, LOAD_CORE, SERVER_CORE, Process, can_pin
from bench.report import Figure
from bench.stack import AMQP_URL
from bench.tokens import limited

SCENARIO = "5 revocation"
RATES = ((10, 10.0), (100, 5.0), (1000, 3.0))
"""(revocations a second, seconds): at least a hundred samples each."""
GOALS = {(100, "p99"): ("<= 1.25", False), (1000, "p99"): ("<= 25", True)}
"""(rate, measure): (goal, on the value rather than the ratio to the bare fanout)."""
MORE = ("registry-2", "auth-2", "router-2")


def jti_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p99": percentile(values, 99),
        "max": max(values),
        "min": min(values),
        "count": len(values),
    }


def rate_of(count: int, seconds: float) -> float:
    """Calls a second over `seconds` for `count` calls (the first at 0, the last at the end)."""
    return (count - 1) / seconds if seconds > 0 else 0.0


async def steady(
    rate: int, seconds: float, call: Any, issued: Callable[[], object] = lambda: None
) -> list[Any]:
    """Start `call(i)` at i/rate seconds (open loop: a slow answer delays no later call);
    `issued()` once the last has started."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + i / rate - loop.time()))
        tasks.append(asyncio.create_task(call(i)))
    await asyncio.sleep(0)  # the last call's task runs up to its first wait
    issued()
    return await asyncio.gather(*tasks)


async def wait_instances(ctx: Context, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = await ctx.stack.call(
            "registry", "GET", "/api/v1/instances", token=ctx.admin
        )
        live = body["data"] if status == 200 else []
        if len(live) >= count and all(item["lag"] == 0 for item in live):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} instances expected, the registry sees {live}")
        await asyncio.sleep(0.2)


async def receipt(ctx: Context, seq: int, instances: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = await ctx.stack.call(
            "registry", "GET", f"/api/v1/events/{seq}/delivery", token=ctx.admin
        )
        data: dict[str, Any] = body["data"] if status == 200 else {}
        if data.get("complete") and data.get("instances", 0) >= instances:
            return data
        if time.monotonic() > deadline:
            raise RuntimeError(f"change {seq} did not reach {instances} instances: {body}")
        await asyncio.sleep(0.1)


async def revocations(ctx: Context, jtis: list[str], rate: int, seconds: float) -> dict[str, Any]:
    registries = ("registry", "registry-2")

    async def revoke(i: int) -> tuple[int, float, float]:
        sent = time.time()
        status, body, _ = await ctx.stack.call(
            registries[i % 2],
            "POST",
            f"/api/v1/tokens/{jtis[i]}/revoke",
            token=ctx.admin,
            json={"reason": "bench"},
        )
        returned = time.time()
        if status != 200 or body["data"]["eventSeq"] is None:
            raise RuntimeError(f"revoke answered {status}: {body}")
        return int(body["data"]["eventSeq"]), sent, returned

    pids = [ctx.stack.services[name].pid for name in registries]
    issuing, answering = CpuMeter(pids), CpuMeter(pids)
    issuing.start()
    answering.start()
    count = int(rate * seconds)
    calls = await steady(rate, seconds, revoke, issued=lambda: issuing.stop(count))
    cpu = {"while_issuing": issuing.figures, "until_answered": answering.stop(count)}
    await asyncio.sleep(1.0)  # receipts are reported within about a second
    receipts = await limited([lambda seq=seq: receipt(ctx, seq, 6) for seq, _, _ in calls], limit=8)
    latencies, first, from_event, durations = [], [], [], []
    for (_, sent, returned), data in zip(calls, receipts, strict=True):
        applied = [
            datetime.fromisoformat(item["appliedAt"]).timestamp() for item in data["deliveries"]
        ]
        latencies.append((max(applied) - returned) * 1000)
        first.append((min(applied) - returned) * 1000)
        from_event.append(max(item["latencyMs"] for item in data["deliveries"]))
        durations.append((returned - sent) * 1000)
    first_sent = min(sent for _, sent, _ in calls)
    return {
        "issued_per_s": rate_of(len(calls), max(sent for _, sent, _ in calls) - first_sent),
        "answered_per_s": rate_of(len(calls), max(done for _, _, done in calls) - first_sent),
        "cpu_while_calling": cpu,
        "after_call_returned_ms": summary(latencies),
        "first_instance_after_call_returned_ms": summary(first),
        "after_event_time_ms": summary(from_event),
        "revoke_call_ms": summary(durations),
        "already_applied_when_call_returned": sum(1 for value in latencies if value <= 0),
        "samples_ms": [round(value, 3) for value in latencies],
    }


async def bare_fanout(
    ctx: Context, rate: int, seconds: float, consumers: int = 6
) -> dict[str, Any]:
    exchange = f"{ctx.stack.exchange}.bare-fanout.{rate}"
    processes = []
    for index in range(consumers):
        out = ctx.work / f"fanout-{rate}-{index}.json"
        process = Process(
            f"fanout-{rate}-{index}",
            "bench.fanout",
            env={},
            log_dir=ctx.work,
            core=None,
            args=("consume", "--url", AMQP_URL, "--exchange", exchange, "--out", str(out)),
        )
        processes.append((process, out))
    publisher = Publisher(AMQP_URL, exchange)
    await publisher.open()  # declares the exchange before the consumers bind
    await asyncio.gather(*(process.start(ready_path=None) for process, _ in processes))
    for process, _ in processes:
        while "ready" not in process.log_tail():
            if process.returncode is not None:
                raise RuntimeError(f"{process.name} exited: {process.log_tail()}")
            await asyncio.sleep(0.05)
    await steady(rate, seconds, lambda i: publisher.publish(str(i)))
    await asyncio.sleep(0.5)
    await publisher.publish("stop", b"stop")
    await asyncio.gather(*(process.wait(30) for process, _ in processes))
    await publisher.delete_exchange()
    await publisher.close()
    received = [json.loads(out.read_text()) for _, out in processes]
    latencies = [
        (max(each[message_id] for each in received) - sent) * 1000
        for message_id, sent in publisher.sent.items()
        if message_id != "stop"
    ]
    return {"publish_to_last_consumer_ms": summary(latencies)}


async def run(ctx: Context) -> list[Figure]:
    needed = sum(int(rate * seconds) for rate, seconds in RATES)
    jtis = [jti_of(token) for token in await ctx.signed_tokens(needed)]
    await ctx.stack.start(*MORE)
    ctx.spread_services(set(ALL_CORES))
    if can_pin():  # the driver makes the load here: it may use every core too
        os.sched_setaffinity(0, ALL_CORES)
    figures = []
    try:
        await wait_instances(ctx, 6)
        for rate, seconds in RATES:
            count = int(rate * seconds)
            if len(jtis) < count:
                raise RuntimeError(f"{count} recorded tokens needed, {len(jtis)} left")
            ours = await revocations(ctx, jtis[:count], rate, seconds)
            jtis = jtis[count:]
            bare = await bare_fanout(ctx, rate, seconds)
            mine, base = ours["after_call_returned_ms"], bare["publish_to_last_consumer_ms"]
            ctx.log(
                f"    {rate}/s: revocation p50 {mine['p50']:.2f} p99 {mine['p99']:.2f} "
                f"max {mine['max']:.2f} ms; bare fanout p50 {base['p50']:.2f} "
                f"p99 {base['p99']:.2f} max {base['max']:.2f} ms; revoke calls issued "
                f"{ours['issued_per_s']:.0f}/s, answered {ours['answered_per_s']:.0f}/s"
            )
            details = {"ours": ours, "bare": bare, "rate": rate, "seconds": seconds}
            for measure in ("p50", "p99", "max"):
                goal, on_value = GOALS.get((rate, measure), ("", False))
                figures.append(
                    Figure(
                        scenario=SCENARIO,
                        figure=f"{measure} at {rate}/s, 6 instances",
                        value=mine[measure],
                        unit="ms",
                        baseline="bare RabbitMQ fanout",
                        baseline_value=base[measure],
                        goal=goal,
                        goal_on_value=on_value,
                        details=details,
                    )
                )
            if rate == max(r for r, _ in RATES):
                figures += await limits(ctx, ours, rate, details)
    finally:
        await asyncio.gather(*(ctx.stack.services.pop(name).stop() for name in MORE))
        ctx.spread_services({SERVER_CORE})
        if can_pin():
            os.sched_setaffinity(0, {LOAD_CORE})
    return figures


async def limits(
    ctx: Context, ours: dict[str, Any], rate: int, details: dict[str, Any]
) -> list[Figure]:
    """The rate the revoke calls were answered at, against the rate asked and against
    PostgreSQL's serial commits (a change holds the event counter's row until it commits)."""
    commits = await serial_commits(ctx.stack.database_url)
    ours["postgres"] = commits
    issuing, cpu = (
        ours["cpu_while_calling"]["while_issuing"],
        ours["cpu_while_calling"]["until_answered"],
    )
    ctx.log(
        f"    at {rate}/s: driver {issuing['driver_cores']:.2f} cores while issuing "
        f"(waiting for a core {issuing['driver_waiting']:.2f}), "
        f"{cpu['driver_us_per_call']:.0f} µs a call in all; registries "
        f"{cpu['servers_cores']:.2f} cores until answered (waiting for a core "
        f"{cpu['servers_waiting']:.2f}, {cpu['servers_us_per_call']:.0f} µs a call); "
        "PostgreSQL commit p50 "
        f"{commits['commit_p50_ms']:.2f} ms, {commits['serial_commits_per_s']:.0f} serial "
        "commits/s"
    )
    answered = ours["answered_per_s"]
    figure = f"revoke calls answered a second, {rate}/s asked"
    return [
        Figure(
            scenario=SCENARIO,
            figure=figure,
            value=answered,
            unit="/s",
            baseline="rate asked",
            baseline_value=rate,
            goal=">= 0.95",
            details=details,
        ),
        Figure(
            scenario=SCENARIO,
            figure=figure,
            value=answered,
            unit="/s",
            baseline="serial PostgreSQL commits",
            baseline_value=commits["serial_commits_per_s"],
            details=details,
        ),
    ]
