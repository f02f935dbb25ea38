"""4. The designs users would pick instead, on the same requests (forward-auth with a bearer
token, cycling through the same recorded tokens): a PostgreSQL lookup per request, and an HTTP
introspection call to the registry per request (bench/designs.py)."""

from bench.context import Context
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.wrk import Target, compare

SCENARIO = "4 alternatives"
PATH = "/_latchkey/verify"


async def run(ctx: Context) -> list[Figure]:
    stack = ctx.stack
    pool = ctx.load.connections
    pg = await ctx.server(
        "design-pg",
        "pg",
        env={"BENCH_DATABASE_URL": stack.database_url},
        jwks=stack.url("auth") + "/.well-known/jwks.json",
        pool=pool,
    )
    introspect = await ctx.server(
        "design-introspect",
        "introspect",
        env={"BENCH_ROUTER_CREDENTIAL": stack.credentials["router"]},
        registry=stack.url("registry"),
        pool=pool,
    )
    router = stack.url("router")
    token = ctx.bearer_file.read_text().split("\n", 1)[0]
    headers = {"Authorization": f"Bearer {token}", "X-Original-URI": "/agent/x"}
    answers = [
        await expect(ctx.http, url + PATH, 200, headers=headers)
        for url in (router, pg.url, introspect.url)
    ]
    if len({answer["X-Latchkey-User"] for answer in answers}) != 1:
        raise RuntimeError(f"the designs disagree on the user: {answers}")
    targets = [
        Target("PostgreSQL lookup per request", pg.url, PATH, "verify-bearer", ctx.bearer_file),
        Target("introspection per request", introspect.url, PATH, "verify-bearer", ctx.bearer_file),
        Target("router", router, PATH, "verify-bearer", ctx.bearer_file),
    ]
    results = await compare(targets, ctx.load, ctx.log)
    await ctx.stop_servers()
    ours = results["router"]
    return [
        *compared(
            SCENARIO,
            ours,
            results["PostgreSQL lookup per request"],
            goal=">= 3",
            measures=("rps", "p99_ms"),
        ),
        *compared(
            SCENARIO,
            ours,
            results["introspection per request"],
            goal=">= 3",
            measures=("rps", "p99_ms"),
        ),
    ]
