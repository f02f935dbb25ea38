"""2. A signed-in page proxied by the router to an upstream, against the same upstream reached
directly and against a bare aiohttp reverse proxy (bench/servers.py `proxy`, with the router's
client settings).

Every server runs on the server core, the upstream too: a proxied request costs the proxy's
work plus the upstream's, so the rates compare whole paths, and the server CPU time per request
(the proxy's process alone) shows the proxies' own work undiluted.
"""

from bench.context import Context
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.servers import UPSTREAM_BODY
from bench.wrk import Target, compare

SCENARIO = "2 proxy"
PREFIX = "/agent/app"
PATH = PREFIX + "/inbox"


async def run(ctx: Context) -> list[Figure]:
    upstream = await ctx.server("upstream", "upstream", port=ctx.upstream_port)
    bare = await ctx.server("bare-proxy", "proxy", upstream=upstream.url, prefix=PREFIX)
    router = ctx.stack.url("router")
    cookie = ctx.cookies_file.read_text().split("\n", 1)[0]
    headers = {"Cookie": f"latchkey_session={cookie}"}
    for url in (router + PATH, bare.url + PATH, upstream.url + PATH):
        await expect(ctx.http, url, 200, headers=headers)
    async with ctx.http.get(router + PATH, headers=headers) as reply:
        if await reply.read() != UPSTREAM_BODY:
            raise RuntimeError("the router did not pass the upstream's page")
    cookies = ctx.cookies_file
    targets = [
        Target("upstream directly", upstream.url, PATH, "page-cookie", cookies, pid=upstream.pid),
        Target("bare aiohttp proxy", bare.url, PATH, "page-cookie", cookies, pid=bare.pid),
        Target("router", router, PATH, "page-cookie", cookies, pid=ctx.router_pid),
    ]
    results = await compare(targets, ctx.load, ctx.log)
    await ctx.stop_servers()
    ours, bare_proxy, direct_result = (
        results["router"],
        results["bare aiohttp proxy"],
        results["upstream directly"],
    )
    return [
        *compared(SCENARIO, ours, bare_proxy, goal=">= 0.9"),
        *compared(SCENARIO, ours, direct_result, measures=("rps",), label="router"),
        *compared(SCENARIO, bare_proxy, direct_result, measures=("rps",), label="bare proxy"),
    ]
