"""7. Memory of the token-state view per revoked token at a million entries (bench/memory.py,
tracemalloc), against a bare set of as many 128-bit integers."""

import asyncio
import json
import sys
from typing import Any

from bench.context import Context
from bench.report import Figure

SCENARIO = "7 view memory"
ENTRIES = 1_000_000


async def measure(entries: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.memory", "--entries", str(entries)]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.memory failed: {stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(stdout)
    return result


async def run(ctx: Context) -> list[Figure]:
    result = await measure(ENTRIES)
    return [
        Figure(
            scenario=SCENARIO,
            figure="bytes per revoked token, 1M entries",
            value=result["view_bytes_per_entry"],
            unit="B",
            baseline="bare set of 128-bit ints",
            baseline_value=result["set_bytes_per_entry"],
            goal="< 150",
            goal_on_value=True,
            details=result,
        )
    ]
