"""`make bench`: start Latchkey and the baselines on this machine, run every scenario of issue 7,
print the table and write the figures to bench/results/ (see bench/results/README.md).

    python -m bench.run [--only 1,2] [--rounds 3] [--duration 5] [--warmup 2] [--connections 32]
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.context import Context
from bench.processes import LOAD_CORE, SERVER_CORE, can_pin, free_port
from bench.report import RESULTS, Figure, table, write
from bench.scenarios import (
    cold_start,
    deep_link,
    designs,
    forward_auth,
    jwks,
    login,
    memory,
    nginx_front,
    propagation,
    proxy,
    workers,
)
from bench.signing import Signer, new_key_file
from bench.stack import Stack
from bench.tokens import mint, session_cookies
from bench.wrk import Load, wrk_available

Scenario = Callable[[Context], Awaitable[list[Figure]]]
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "1": ("forward-auth against a bare handler", forward_auth.run),
    "2": ("proxying against a bare proxy", proxy.run),
    "4": ("against a PostgreSQL lookup and introspection", designs.run),
    "5": ("revocation propagation", propagation.run),
    "6": ("login against a bare argon2id verify", login.run),
    "8": ("nginx auth_request to the router against nginx alone", nginx_front.run),
    "9": ("auth's JWKS against its /healthz", jwks.run),
    "10": ("the router with 2 workers against 1", workers.run),
    "3": ("deep-link login, a fresh token each", deep_link.run),
    "12": ("cold start with a million restrictions", cold_start.run),
}
"""In the order they run: deep links last on the running router, as tens of thousands of fresh
tokens leave state behind in it (its verification cache, its report of used tokens); the cold
start brings routers of its own."""
EVERYDAY_TOKENS = 200
"""Tokens (and their sessions) that the load cycles through in scenarios 1, 2, 4 and 6."""


def say(line: str) -> None:
    print(line, flush=True)


async def prepare(ctx: Context, key_file: Path) -> None:
    """The bench user, its tokens and sessions, through the services' own APIs."""
    stack = ctx.stack
    ctx.spread_services({0, 1})  # nothing is measured yet: let the services use every core
    ctx.admin = await stack.login()
    ctx.user_id = await stack.create_user(ctx.admin, ctx.username, portals=["agent"])
    ctx.tokens = await mint(stack, ctx.user_id, ctx.username, EVERYDAY_TOKENS)
    cookies = await session_cookies(stack, ctx.tokens)
    ctx.cookies_file = ctx.write("cookies.txt", cookies)
    ctx.bearer_file = ctx.write("bearer-tokens.txt", [token.token for token in ctx.tokens])
    _, jwks, _ = await stack.call("auth", "GET", "/.well-known/jwks.json")
    kid = jwks["keys"][0]["kid"]
    ctx.signer = Signer(key_file, kid=kid, user_id=ctx.user_id, username=ctx.username)
    ctx.spread_services({SERVER_CORE})


async def with_stack(
    ctx: Context, key_file: Path, chosen: list[str], failed: dict[str, str]
) -> list[Figure]:
    stack = ctx.stack
    figures: list[Figure] = []
    await stack.create_database()
    try:
        async with aiohttp.ClientSession() as http:
            stack.http = http
            try:
                say("starting the services")
                await stack.start("registry")
                await stack.start("auth", "router")
                await prepare(ctx, key_file)
                for number in [number for number in SCENARIOS if number in chosen]:
                    title, scenario = SCENARIOS[number]
                    say(f"scenario {number}: {title}")
                    try:
                        figures += await scenario(ctx)
                    except Exception as exc:  # the other scenarios still measure
                        traceback.print_exc()
                        failed[number] = f"{type(exc).__name__}: {exc}"[:2000]
                        await ctx.stop_servers()
            finally:
                if ctx.signer is not None:
                    ctx.signer.close()
                await ctx.stop_servers()
                await stack.stop()
    finally:
        await stack.drop_database()
        with contextlib.suppress(Exception):
            await stack.delete_exchange()
    return figures


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if not wrk_available():
        say("wrk is missing: `make bench` installs it (apt-get install wrk)")
        return 2
    chosen = [item.strip() for item in args.only.split(",") if item.strip()]
    load = Load(args.connections, 1, args.duration, args.warmup, args.rounds)
    work = RESULTS / f"run-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    work.mkdir(parents=True, exist_ok=True)
    if can_pin():
        os.sched_setaffinity(0, {LOAD_CORE})
    else:
        say("fewer than two cores (or no taskset): nothing is pinned")
    key_file = new_key_file(work / "signing-key.pem")
    upstream_port = free_port()
    stack = Stack(
        log_dir=work,
        extra_env={
            "LATCHKEY_ROUTES": f"/agent/app=http://127.0.0.1:{upstream_port}",
            "LATCHKEY_SIGNING_KEY_FILE": str(key_file),
        },
    )
    ctx = Context(stack=stack, load=load, work=work, log=say, upstream_port=upstream_port)
    figures: list[Figure] = []
    failed: dict[str, str] = {}
    try:
        stack_scenarios = [number for number in chosen if number in SCENARIOS]
        if stack_scenarios:
            figures += await with_stack(ctx, key_file, stack_scenarios, failed)
        if "7" in chosen:
            say("scenario 7: memory of the token-state view")
            figures += await memory.run(ctx)
    finally:
        for name in ("signing-key.pem", "cookies.txt", "bearer-tokens.txt", "deeplink-tokens.txt"):
            (work / name).unlink(missing_ok=True)
    seconds = time.monotonic() - started
    settings = {
        "load": vars(args),
        "pinned": can_pin(),
        "server_core": SERVER_CORE,
        "load_core": LOAD_CORE,
        "logs": str(work.relative_to(RESULTS.parent.parent)),
        "notes": ctx.notes,
    }
    path = write(figures, settings=settings, seconds=seconds, failed=failed)
    say("")
    say(table(figures))
    missed = [f for f in figures if f.met is False]
    say("")
    for number, text in ctx.notes.items():
        say(f"scenario {number}: {text}")
    for number, error in failed.items():
        say(f"scenario {number} FAILED: {error}")
    say(
        f"{len(figures)} figures in {seconds:.0f} s; goals met: "
        f"{sum(1 for f in figures if f.met)}, missed: {len(missed)}; written to {path}"
    )
    return 1 if failed else 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--only", default="1,2,3,4,5,6,7,8,9,10,12", help="scenarios to run, e.g. 1,4"
    )
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per target")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    return parser.parse_args()


if __name__ == "__main__":
    if shutil.which("taskset") is None and sys.platform == "linux":
        print("taskset (util-linux) not found: running unpinned", flush=True)
    sys.exit(asyncio.run(main(parse())))
