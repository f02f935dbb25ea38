"""1. Forward-auth (`GET /_latchkey/verify` with a session cookie and X-Original-URI) against a
bare aiohttp handler that returns the same headers without checking anything."""

from bench.context import Context
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.wrk import Target, compare

SCENARIO = "1 forward-auth"
PATH = "/_latchkey/verify"
IDENTITY = ("X-Latchkey-User", "X-Latchkey-User-Name", "X-Latchkey-Roles", "X-Latchkey-Portal")


async def run(ctx: Context) -> list[Figure]:
    bare = await ctx.server("bare-verify", "verify", user_id=ctx.user_id, user_name=ctx.username)
    router = ctx.stack.url("router")
    cookie = ctx.cookies_file.read_text().split("\n", 1)[0]
    headers = {"Cookie": f"latchkey_session={cookie}", "X-Original-URI": "/agent/x"}
    ours_headers = await expect(ctx.http, router + PATH, 200, headers=headers)
    bare_headers = await expect(ctx.http, bare.url + PATH, 200, headers=headers)
    for name in IDENTITY:
        if ours_headers.get(name) != bare_headers.get(name):
            raise RuntimeError(
                f"{name}: router {ours_headers.get(name)!r}, bare {bare_headers.get(name)!r}"
            )
    targets = [
        Target(
            "bare aiohttp handler", bare.url, PATH, "verify-cookie", ctx.cookies_file, pid=bare.pid
        ),
        Target("router", router, PATH, "verify-cookie", ctx.cookies_file, pid=ctx.router_pid),
    ]
    results = await compare(targets, ctx.load, ctx.log)
    await ctx.stop_servers()
    return compared(
        SCENARIO, results["router"], results["bare aiohttp handler"], goal=">= 0.85"
    )  # issue 16 (0.75 in issue 7)
