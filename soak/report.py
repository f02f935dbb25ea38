"""The soak's figures as a table for people and as JSON for the record."""

import json
from pathlib import Path
from typing import Any

from soak.figures import ZEROS

COLUMNS = (
    ("phase", 18),
    ("s", 4),
    ("revoked", 7),
    ("failed (codes)", 24),
    ("all routers refuse, ms p50/p99/max", 34),
    ("past bound", 10),
    ("came back", 9),
    ("lost", 4),
    ("5xx/signed-in", 26),
    ("ready again after, s", 30),
)


def table(result: dict[str, Any]) -> str:
    lines = ["  ".join(title.ljust(width) for title, width in COLUMNS).rstrip()]
    lines.append("  ".join("-" * width for _, width in COLUMNS))
    for phase in result["phases"]:
        cells = _cells(phase)
        lines.append(
            "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))
        )
    lines.append("")
    for phase in result["phases"]:
        if phase["fault"]:
            lines.append(f"{phase['phase']}: {phase['fault']}")
    totals = result["totals"]
    lines.append("")
    lines.append(
        "pairs honoured past the bound: {honouredPastBound}, tokens that came back: {cameBack}, "
        "events lost: {eventsLost} ({probes} probes, {revocationsConfirmed} revocations "
        "confirmed, {signedIn5xx} 5xx to signed-in users)".format(**totals)
    )
    verdict = (
        "PASSED: all three are zero"
        if result["passed"]
        else "FAILED: " + ", ".join(name for name in ZEROS if totals[name])
    )
    lines.append(verdict)
    return "\n".join(lines)


def _cells(phase: dict[str, Any]) -> list[str]:
    revocations = phase["revocations"]
    failed = {code: n for code, n in revocations["statuses"].items() if code != "200"}
    delay = phase["everyRouterRefusedMs"]
    never = f" ({delay['notWithinWatch']} never)" if delay["notWithinWatch"] else ""
    signed_in = phase["signedIn"]
    by_router = " ".join(f"{r}:{n}" for r, n in signed_in["5xxByRouter"].items())
    return [
        phase["phase"],
        f"{phase['seconds']:.0f}",
        f"{revocations['confirmed']}/{revocations['attempted']}",
        f"{revocations['failed']}" + (f" ({_codes(failed)})" if failed else ""),
        "/".join(_number(delay[key]) for key in ("p50", "p99", "max")) + never,
        str(phase["honouredPastBound"]),
        str(phase["cameBack"]),
        str(phase["eventsLost"]),
        f"{signed_in['5xx']}/{signed_in['requests']}" + (f" ({by_router})" if by_router else ""),
        _recovery(phase["recoverySeconds"]),
    ]


def _codes(counts: dict[str, int]) -> str:
    return " ".join(f"{code}:{n}" for code, n in counts.items())


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _recovery(seconds: dict[str, float | None]) -> str:
    """The slowest instance of each service (auth, registry, router)."""
    slowest: dict[str, float | None] = {}
    for name, value in seconds.items():
        service = name.split("-")[0]
        known = slowest.get(service, 0.0)
        slowest[service] = None if value is None or known is None else max(known, value)
    return " ".join(f"{s}:{'never' if v is None else f'{v:.1f}'}" for s, v in slowest.items())


def write(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
