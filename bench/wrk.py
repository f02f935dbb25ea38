"""Running wrk (pinned to the load core) with bench/lua/requests.lua, and comparing targets:
warm-ups, then rounds in which every target runs once, in turn, so drift hits all alike."""

import asyncio
import json
import shutil
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.processes import LOAD_CORE, everywhere, pinned, tree_cpu_seconds

SCRIPT = Path(__file__).parent / "lua" / "requests.lua"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Load:
    """How each target is loaded: wrk's connections and threads, run length, repetitions."""

    connections: int = 32
    threads: int = 1
    duration: float = 5.0
    warmup: float = 2.0
    rounds: int = 3


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    path: str
    mode: str
    lines: Path
    offset: Callable[[int], int] | None = None
    """The first line for run number n (warm-up is 0): fresh tokens for every run."""
    pid: int | None = None
    """The server's process, whose CPU time per request (its children's included) is noted
    beside the rate."""
    pinned: bool = True
    """wrk on the load core; False lets it run on every core, beside the servers."""
    behind: int | None = None
    """A process the server asks on every request (the router behind nginx), whose CPU time
    per request is noted too."""


@dataclass
class Run:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    wrapped: int
    cpu_us: float | None = None
    """The server's CPU time per request (user + system, all its threads), in µs: unlike
    the rate, it hardly changes when other work on the machine takes the server's core."""
    behind_cpu_us: float | None = None
    """The same for the target's `behind` process."""

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class Result:
    """A target's runs, and their medians."""

    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)

    @property
    def rps(self) -> float:
        return self.median("rps")

    @property
    def p50_ms(self) -> float:
        return self.median("p50_ms")

    @property
    def p99_ms(self) -> float:
        return self.median("p99_ms")

    @property
    def cpu_us(self) -> float | None:
        values = [run.cpu_us for run in self.runs if run.cpu_us is not None]
        return statistics.median(values) if values else None

    @property
    def behind_cpu_us(self) -> float | None:
        values = [run.behind_cpu_us for run in self.runs if run.behind_cpu_us is not None]
        return statistics.median(values) if values else None

    def as_json(self) -> dict[str, object]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "cpu_us_per_request": None if self.cpu_us is None else round(self.cpu_us, 1),
            "behind_cpu_us_per_request": (
                None if self.behind_cpu_us is None else round(self.behind_cpu_us, 1)
            ),
            "runs": [asdict(run) for run in self.runs],
        }


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


async def run_wrk(target: Target, *, load: Load, duration: float, number: int) -> Run:
    offset = target.offset(number) if target.offset else 0
    command = [
        *(pinned(LOAD_CORE) if target.pinned else everywhere()),
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        target.base_url,
        "--",
        target.mode,
        target.path,
        str(target.lines),
        str(offset),
    ]
    cpu_before = tree_cpu_seconds(target.pid) if target.pid else None
    behind_before = tree_cpu_seconds(target.behind) if target.behind else None
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), duration + 60)
    cpu = (
        tree_cpu_seconds(target.pid) - cpu_before if target.pid and cpu_before is not None else None
    )
    behind = (
        tree_cpu_seconds(target.behind) - behind_before
        if target.behind and behind_before is not None
        else None
    )
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith(MARKER):
            figures = json.loads(line[len(MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no figures for {target.name}: {stderr.decode()[-2000:]}")
    seconds = figures["duration_us"] / 1e6
    errors = {k: figures[k] for k in ("connect", "read", "write", "status", "timeout")}
    return Run(
        requests=figures["requests"],
        seconds=round(seconds, 3),
        rps=round(figures["requests"] / seconds, 1),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        errors={k: v for k, v in errors.items() if v},
        wrapped=figures["wrapped"],
        cpu_us=round(cpu / figures["requests"] * 1e6, 1) if cpu and figures["requests"] else None,
        behind_cpu_us=(
            round(behind / figures["requests"] * 1e6, 1) if behind and figures["requests"] else None
        ),
    )


def check(run: Run, target: Target) -> None:
    """A run with failed requests measures the failure, not the service: stop there."""
    if run.failed > max(10, run.requests // 1000):
        raise RuntimeError(f"{target.name}: {run.failed} of {run.requests} failed: {run.errors}")


async def compare(
    targets: list[Target], load: Load, log: Callable[[str], None]
) -> dict[str, Result]:
    """Warm every target up, then `load.rounds` rounds of every target in turn."""
    results = {target.name: Result(target.name) for target in targets}
    for target in targets:
        warm = await run_wrk(target, load=load, duration=load.warmup, number=0)
        check(warm, target)
    for number in range(1, load.rounds + 1):
        for target in targets:
            run = await run_wrk(target, load=load, duration=load.duration, number=number)
            check(run, target)
            results[target.name].runs.append(run)
            log(
                f"    {target.name:<28} round {number}: {run.rps:9.0f} req/s  "
                f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms"
            )
    return results
