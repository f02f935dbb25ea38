"""12. Cold start at scale: how long a new router takes from its process starting to `/readyz`
answering 200 (its token-state view loaded from the registry's snapshot, in step with the
events exchange) with a million active restrictions in the registry, against the same start
with (almost) none; and the snapshot's size as the registry sends it.

The restrictions are written straight into `registry.tokens` with one COPY (as bench/signing.py
records tokens): 900,000 revoked and 100,000 disabled tokens of the bench user, expiring over
the next 30 days. No event announces them, so the running instances do not know of them; only
a view loaded from a snapshot does. They are deleted again at the end, before the running
instances' next comparison with the registry's records could notice them.
"""

import asyncio
import json
import random
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench.context import Context
from bench.processes import free_port
from bench.report import Figure

SCENARIO = "12 cold start"
REVOKED = 900_000
DISABLED = 100_000
ROUNDS = 3
NAME = "bench cold start"
COLUMNS = [
    "jti", "user_id", "username", "kind", "name", "issued_at", "expires_at",
    "disabled", "revoked_at",
]  # fmt: skip
SPREAD = 30 * 24 * 3600
POLL = 0.01
LOADED = re.compile(
    r"token-state snapshot at (\d+) loaded: (\d+) restrictions, "
    r"fetched in ([\d.]+) s, applied in ([\d.]+) s"
)
"""The router's own account of its snapshot (`latchkey.common.tokenstate.sequencer`)."""


async def restrict(ctx: Context) -> float:
    """Write the restrictions; the seconds it took."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    bits = random.getrandbits
    rows: list[tuple[Any, ...]] = []
    for index in range(REVOKED + DISABLED):
        expires = now + timedelta(seconds=3600 + bits(22) % SPREAD)
        revoked = index < REVOKED
        rows.append(
            (
                uuid.UUID(int=bits(128)),
                ctx.user_id,
                ctx.username,
                "access",
                NAME,
                now,
                expires,
                not revoked,
                now if revoked else None,
            )
        )
    conn = await asyncpg.connect(ctx.stack.database_url)
    try:
        await conn.copy_records_to_table(
            "tokens", schema_name="registry", records=rows, columns=COLUMNS
        )
        # What autovacuum does soon after so many inserts: without it the visibility map is
        # empty and the snapshot's index-only scans read the table too.
        await conn.execute("VACUUM ANALYZE registry.tokens")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def unrestrict(ctx: Context) -> None:
    conn = await asyncpg.connect(ctx.stack.database_url)
    try:
        await conn.execute("DELETE FROM registry.tokens WHERE name = $1", NAME)
    finally:
        await conn.close()


async def snapshot_size(ctx: Context) -> tuple[int, float]:
    """Bytes of the snapshot's answer as sent (the router's credential, the router client's
    request headers), and the seconds it took."""
    headers = ctx.stack.internal("router")
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        started = time.perf_counter()
        async with http.get(
            ctx.stack.url("registry") + "/internal/v1/token-state", headers=headers
        ) as reply:
            body = await reply.read()
            seconds = time.perf_counter() - started
            if reply.status != 200:
                raise RuntimeError(f"the snapshot answered {reply.status}: {body[:300]!r}")
    return len(body), seconds


async def start_to_ready(ctx: Context, name: str, timeout: float = 120.0) -> dict[str, Any]:
    """Start router instance `name` and poll its /readyz; milliseconds from the process start
    to the first 200, and what it logged of its snapshot."""
    portals = {"agent": {"embeddable": True}, "admin": {"port": free_port()}}
    process = ctx.stack.process(
        name, LATCHKEY_LOG_LEVEL="INFO", LATCHKEY_PORTALS=json.dumps(portals)
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await process.start(ready_path=None)
    try:
        async with aiohttp.ClientSession() as http:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"{name} exited: {process.log_tail()}")
                try:
                    async with http.get(process.url + "/readyz") as reply:
                        if reply.status == 200:
                            break
                except (aiohttp.ClientError, OSError):
                    pass
                if loop.time() - started > timeout:
                    raise RuntimeError(f"{name} not ready in {timeout:.0f} s: {process.log_tail()}")
                await asyncio.sleep(POLL)
        ready_ms = (loop.time() - started) * 1000
    finally:
        await process.stop()
        del ctx.stack.services[name]
    found = LOADED.search(process.log_path.read_text(errors="replace"))
    result: dict[str, Any] = {"ready_ms": round(ready_ms, 1)}
    if found is not None:
        seq, entries, fetched, applied = found.groups()
        result.update(
            seq=int(seq),
            entries=int(entries),
            fetched_ms=round(float(fetched) * 1000, 1),
            applied_ms=round(float(applied) * 1000, 1),
        )
    return result


async def starts(ctx: Context, label: str) -> list[dict[str, Any]]:
    runs = []
    for index in range(ROUNDS):
        runs.append(await start_to_ready(ctx, f"router-{label}{index}"))
        ctx.log(f"  {label}: {runs[-1]}")
    return runs


async def run(ctx: Context) -> list[Figure]:
    empty = await starts(ctx, "empty")
    empty_bytes, _ = await snapshot_size(ctx)
    try:
        seconds = await restrict(ctx)
        ctx.log(f"  {REVOKED + DISABLED:,} restrictions written in {seconds:.1f} s")
        size, fetch_seconds = await snapshot_size(ctx)
        full = await starts(ctx, "full")
    finally:
        await unrestrict(ctx)
    entries = REVOKED + DISABLED
    details = {
        "restrictions": entries,
        "with_restrictions": full,
        "empty": empty,
        "snapshot_bytes": size,
        "empty_snapshot_bytes": empty_bytes,
        "snapshot_fetch_ms_by_the_bench": round(fetch_seconds * 1000, 1),
        "restrictions_written_s": round(seconds, 1),
    }
    return [
        Figure(
            scenario=SCENARIO,
            figure="router start to ready, 1M restrictions",
            value=statistics.median(run["ready_ms"] for run in full),
            unit="ms",
            baseline="the same start, registry (almost) empty",
            baseline_value=statistics.median(run["ready_ms"] for run in empty),
            goal="<= 3000",
            goal_on_value=True,
            details=details,
        ),
        Figure(
            scenario=SCENARIO,
            figure="snapshot size, 1M restrictions",
            value=size / 1e6,
            unit="MB",
            baseline="their jtis alone, 16 B each",
            baseline_value=entries * 16 / 1e6,
            details=details,
        ),
    ]
