"""Helpers the scenarios share: a figure per compared measure, and answers checked before load."""

from typing import Any

import aiohttp

from bench.report import Figure
from bench.wrk import Result


def compared(
    scenario: str,
    ours: Result,
    baseline: Result,
    *,
    goal: str = "",
    measures: tuple[str, ...] = ("rps", "p50_ms", "p99_ms", "cpu_us"),
    label: str = "",
) -> list[Figure]:
    """requests/s, p50, p99 and the server's CPU time per request of `ours` against
    `baseline` (the goal goes on requests/s)."""
    names = {
        "rps": ("requests/s", "req/s"),
        "p50_ms": ("p50", "ms"),
        "p99_ms": ("p99", "ms"),
        "cpu_us": ("server CPU per request", "us"),
    }
    figures = []
    for measure in measures:
        name, unit = names[measure]
        if getattr(ours, measure) is None or getattr(baseline, measure) is None:
            continue
        figures.append(
            Figure(
                scenario=scenario,
                figure=f"{label} {name}".strip(),
                value=getattr(ours, measure),
                unit=unit,
                baseline=baseline.name,
                baseline_value=getattr(baseline, measure),
                goal=goal if measure == "rps" else "",
                details={"ours": ours.as_json(), "baseline": baseline.as_json()},
            )
        )
    return figures


async def expect(
    http: aiohttp.ClientSession, url: str, status: int, *, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """One request before the load: the target answers as it should (else the load measures
    an error page)."""
    async with http.get(url, headers=headers or {}, allow_redirects=False) as reply:
        body = await reply.read()
        if reply.status != status:
            raise RuntimeError(f"{url} answered {reply.status}, not {status}: {body[:300]!r}")
        return {name: value for name, value in reply.headers.items()}
