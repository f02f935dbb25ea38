"""The soak's figures as a table for people and as JSON for the record."""

import json
from pathlib import Path
from typing import Any

from soak.figures import ZEROS

COLUMNS = (
    ("phase", 16),
    ("s", 3),
    ("revoked", 7),
    ("failed (codes)", 26),
    ("all routers refuse ms p50/p99/max", 33),
    ("past bound", 10),
    ("came back", 9),
    ("lost", 4),
    ("5xx/signed-in", 13),
    ("ready again after s", 28),
)


def table(result: dict[str, Any]) -> str:
    """One row a phase, then what was done in each and where the 5xx came from, then the
    verdict on the three zeros."""
    lines = ["  ".join(title.ljust(width) for title, width in COLUMNS).rstrip()]
    lines.append("  ".join("-" * width for _, width in COLUMNS))
    for phase in result["phases"]:
        cells = zip(_cells(phase), COLUMNS, strict=True)
        lines.append("  ".join(cell.ljust(width) for cell, (_, width) in cells).rstrip())
    lines.append("")
    lines += [_note(phase) for phase in result["phases"] if _note(phase)]
    totals = result["totals"]
    lines.append("")
    lines.append(
        "pairs honoured past the bound: {honouredPastBound}, tokens that came back: {cameBack}, "
        "events lost: {eventsLost} ({probes} probes, {revocationsConfirmed} revocations "
        "confirmed, {signedIn5xx} 5xx to signed-in users)".format(**totals)
    )
    machine = result["machine"]
    lines.append(
        "this machine: {cores} cores, load {load}; {soak} CPU-s for the soak, {services} for the "
        "services; the soak's own loop woke up to {lag} ms late (p99 {p99} ms)".format(
            cores=machine["cores"], load=machine["loadAverage"][0],
            soak=machine["soakCpuSeconds"], services=machine["servicesCpuSeconds"],
            lag=machine["soakLoopLagMs"]["max"], p99=machine["soakLoopLagMs"]["p99"],
        )
    )  # fmt: skip
    failed = [name for name in ZEROS if totals[name]]
    lines.append("FAILED: " + ", ".join(failed) if failed else "PASSED: all three are zero")
    return "\n".join(lines)


def _cells(phase: dict[str, Any]) -> list[str]:
    revocations = phase["revocations"]
    failed = {code: n for code, n in revocations["statuses"].items() if code != "200"}
    delay = phase["everyRouterRefusedMs"]
    never = f" ({delay['notWithinWatch']} never)" if delay["notWithinWatch"] else ""
    signed_in = phase["signedIn"]
    return [
        phase["phase"],
        f"{phase['seconds']:.0f}",
        f"{revocations['confirmed']}/{revocations['attempted']}",
        f"{revocations['failed']}" + (f" ({_codes(failed)})" if failed else ""),
        "/".join(_number(delay[key]) for key in ("p50", "p99", "max")) + never,
        str(phase["honouredPastBound"]),
        str(phase["cameBack"]),
        str(phase["eventsLost"]),
        f"{signed_in['5xx']}/{signed_in['requests']}",
        _recovery(phase["recoverySeconds"]),
    ]


def _note(phase: dict[str, Any]) -> str:
    """What the phase did, and which routers answered signed-in users with 5xx."""
    errors = ", ".join(f"{r} {n}" for r, n in phase["signedIn"]["5xxByRouter"].items())
    parts = [part for part in (phase["fault"], errors and f"5xx from {errors}") if part]
    return f"{phase['phase']}: {'; '.join(parts)}" if parts else ""


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
