"""10. Router workers: forward-auth (scenario 1's load) on a router started with
`LATCHKEY_WORKERS=2` against one started with `LATCHKEY_WORKERS=1`, both unpinned, and wrk
unpinned too: with two cores, the two workers and wrk share them, so the ratio is what a
second worker gains on this machine, not what it gains on a machine with cores to spare.

How many processes really serve the port is counted (the processes of the router's tree
holding a socket listening on it): a build that ignores the setting is said to, and no figure
is reported for it.
"""

import asyncio

from bench.context import Context
from bench.processes import ALL_CORES, listening_processes, set_affinity
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.wrk import Target, compare

SCENARIO = "10 router workers"
PATH = "/_latchkey/verify"
COUNTS = {"router-w1": 1, "router-w2": 2}


async def listeners(ctx: Context, name: str, expected: int, timeout: float = 10.0) -> int:
    """How many processes listen on the instance's port (workers may bind a moment after
    the first one answers)."""
    process = ctx.stack.services[name]
    assert process.port is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        count = len(listening_processes(process.pid, process.port))
        if count >= expected or loop.time() > deadline:
            return count
        await asyncio.sleep(0.2)


async def run(ctx: Context) -> list[Figure]:
    await asyncio.gather(
        *(ctx.stack.start(name, LATCHKEY_WORKERS=str(count)) for name, count in COUNTS.items())
    )
    try:
        found = {name: await listeners(ctx, name, count) for name, count in COUNTS.items()}
        ctx.log(f"    processes listening: {found}")
        if found["router-w2"] < 2 or found["router-w2"] <= found["router-w1"]:
            ctx.note(
                "10",
                f"processes listening on the router's port with LATCHKEY_WORKERS=1 and =2: "
                f"{found['router-w1']} and {found['router-w2']}; the setting is not supported "
                "by this build (or not as N processes on one port): nothing measured",
            )
            return []
        for name in COUNTS:
            set_affinity(ctx.stack.services[name].pid, set(ALL_CORES))
        cookie = ctx.cookies_file.read_text().split("\n", 1)[0]
        headers = {"Cookie": f"latchkey_session={cookie}", "X-Original-URI": "/agent/x"}
        targets = []
        for name, count in COUNTS.items():
            url = ctx.stack.url(name)
            await expect(ctx.http, url + PATH, 200, headers=headers)
            label = f"{count} worker" + ("s" if count > 1 else "")
            targets.append(
                Target(label, url, PATH, "verify-cookie", ctx.cookies_file, pinned=False)
            )
        results = await compare(targets, ctx.load, ctx.log)
        figures = compared(
            SCENARIO,
            results["2 workers"],
            results["1 worker"],
            measures=("rps", "p99_ms"),
            label="unpinned",
        )
        for figure in figures:
            figure.details["processes_listening"] = found
        return figures
    finally:
        await asyncio.gather(*(ctx.stack.services.pop(name).stop() for name in COUNTS))
