"""8. nginx in front: the README's forward-auth blocks (`auth_request` to the router's
`/_latchkey/verify` over a keepalive upstream), the same blocks with an upstream that has no
`keepalive` (a new connection to the router per request), and the same nginx proxying the same
backend without `auth_request` (the ceiling).

One nginx (one worker) serves all three on ports of their own, with the configuration the
tests run (tests/support/nginx.py, which the README's blocks are checked against). The backend
is a server block of that nginx answering `return 200` with the upstream portal's page: the
cheapest backend there is, so the ceiling is nginx's own cost of a proxied request and the
share measures what forward-auth adds to it. nginx, the router and so the backend share the
server core: the three set-ups get the same CPU, and the share is the rate one core sustains
with the check against the rate it sustains without it. The router asked directly by wrk
(scenario 1's request) is the baseline of the router's CPU per check behind nginx.
"""

from bench.context import Context
from bench.processes import SERVER_CORE, free_port, pinned
from bench.report import Figure
from bench.scenarios.common import compared, expect
from bench.servers import UPSTREAM_BODY
from bench.wrk import Result, Target, compare
from tests.support.nginx import README_BLOCKS, nginx, nginx_binary, protected_location

SCENARIO = "8 nginx in front"
PATH = "/agent/x"
CEILING = "nginx without auth_request"
KEEPALIVE = "README's block (keepalive)"
FRESH = "no keepalive upstream"
DIRECT = "router asked directly"
VERIFY = "/_latchkey/verify"


def servers(router: str, ports: dict[str, int], backend: int) -> str:
    """The README's blocks on one port, the same with a fresh connection per check on the
    next, and the bare proxy to the same backend on the third."""
    backend_url = f"http://127.0.0.1:{backend}"
    readme = protected_location("agent", backend_url)
    fresh = readme.replace("http://latchkey/", "http://latchkey_fresh/")
    assert fresh != readme
    body = UPSTREAM_BODY.decode().replace("\n", "\\n")
    return f"""
{README_BLOCKS.format(router=router)}
  upstream latchkey_fresh {{
    server {router};
  }}
  server {{
    listen 127.0.0.1:{backend};
    location / {{ default_type text/html; return 200 "{body}"; }}
  }}
  server {{
    listen 127.0.0.1:{ports[KEEPALIVE]};
{readme}
  }}
  server {{
    listen 127.0.0.1:{ports[FRESH]};
{fresh}
  }}
  server {{
    listen 127.0.0.1:{ports[CEILING]};
    location /agent/ {{
      proxy_set_header Authorization "";
      proxy_set_header Cookie $cookie_without_latchkey;
      proxy_pass {backend_url};
    }}
  }}"""


def router_cost(results: dict[str, Result]) -> list[Figure]:
    """The router's CPU per check asked by nginx, against the same check asked by wrk
    directly (scenario 1's request): what nginx's requests cost the router beyond it."""
    direct = results[DIRECT]
    figures = []
    for name, label in ((KEEPALIVE, "README's block"), (FRESH, "no keepalive")):
        value = results[name].behind_cpu_us
        if value is None or direct.cpu_us is None:
            continue
        figures.append(
            Figure(
                scenario=SCENARIO,
                figure=f"{label} router CPU per check",
                value=value,
                unit="us",
                baseline=DIRECT,
                baseline_value=direct.cpu_us,
                details={"ours": results[name].as_json(), "baseline": direct.as_json()},
            )
        )
    return figures


async def run(ctx: Context) -> list[Figure]:
    binary = nginx_binary()
    if binary is None:
        ctx.note("8", "no nginx with the auth_request module on this machine: not measured")
        return []
    router = ctx.stack.url("router").removeprefix("http://")
    ports = {name: free_port() for name in (KEEPALIVE, FRESH)}
    backend = free_port()
    prefix = ctx.work / "nginx"
    prefix.mkdir(exist_ok=True)
    async with nginx(
        binary,
        prefix,
        router=router,
        servers=lambda port: servers(router, {**ports, CEILING: port}, backend),
        command_prefix=tuple(pinned(SERVER_CORE)),
        worker_connections=4096,
        access_log=False,
    ) as front:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        urls[CEILING] = front.url
        cookie = ctx.cookies_file.read_text().split("\n", 1)[0]
        headers = {"Cookie": f"latchkey_session={cookie}"}
        for url in urls.values():
            await expect(ctx.http, url + PATH, 200, headers=headers)
            async with ctx.http.get(url + PATH, headers=headers) as reply:
                if await reply.read() != UPSTREAM_BODY:
                    raise RuntimeError(f"{url} did not pass the backend's page")
        for name in (KEEPALIVE, FRESH):  # the check is really made
            await expect(ctx.http, urls[name] + PATH, 401)
        router_url = ctx.stack.url("router")
        targets = [  # CPU per request: nginx's (master and worker), and the router's
            Target(
                name,
                urls[name],
                PATH,
                "page-cookie",
                ctx.cookies_file,
                pid=front.pid,
                behind=None if name == CEILING else ctx.router_pid,
            )
            for name in (CEILING, KEEPALIVE, FRESH)
        ]
        targets.append(
            Target(
                DIRECT, router_url, VERIFY, "verify-cookie", ctx.cookies_file, pid=ctx.router_pid
            )
        )
        results = await compare(targets, ctx.load, ctx.log)
    ceiling = results[CEILING]
    return [
        *compared(
            SCENARIO,
            results[KEEPALIVE],
            ceiling,
            goal=">= 0.25",
            measures=("rps", "p99_ms", "cpu_us"),
            label="README's block",
        ),
        *compared(
            SCENARIO,
            results[FRESH],
            ceiling,
            measures=("rps", "p99_ms", "cpu_us"),
            label="no keepalive",
        ),
        *router_cost(results),
    ]
