"""9. Auth's public keys (`GET /.well-known/jwks.json`, what every verifier fetches, again on
every unknown `kid`, and what anyone may ask for) against auth's `/healthz` on the same
process: the document is served from memory, so a request should cost about what the least
route of the same app costs."""

from bench.context import Context
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.wrk import Target, compare

SCENARIO = "9 JWKS"
JWKS = "/.well-known/jwks.json"
HEALTH = "/healthz"


async def run(ctx: Context) -> list[Figure]:
    auth = ctx.stack.services["auth"]
    for path in (JWKS, HEALTH):
        await expect(ctx.http, auth.url + path, 200)
    lines = ctx.cookies_file  # only how many requests wrk formats: plain requests carry none
    targets = [
        Target("auth /healthz", auth.url, HEALTH, "plain", lines, pid=auth.pid),
        Target("auth JWKS", auth.url, JWKS, "plain", lines, pid=auth.pid),
    ]
    results = await compare(targets, ctx.load, ctx.log)
    return compared(
        SCENARIO,
        results["auth JWKS"],
        results["auth /healthz"],
        goal=">= 0.5",
        measures=("rps", "p99_ms", "cpu_us"),
    )
