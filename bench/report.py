"""Figures: a value beside the baseline measured in the same run, their ratio and the goal;
printed as a table and written as JSON to bench/results/."""

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Figure:
    scenario: str
    figure: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    goal: str = ""
    """What the ratio (or, with `goal_on_value`, the value) must satisfy: ">= 0.75", "< 15"."""
    goal_on_value: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        if not self.goal:
            return None
        subject = self.value if self.goal_on_value else self.ratio
        if subject is None:
            return None
        operator, _, number = self.goal.partition(" ")
        limit = float(number)
        return {
            ">=": subject >= limit,
            ">": subject > limit,
            "<=": subject <= limit,
            "<": subject < limit,
        }[operator]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        data["met"] = self.met
        return data


def number(value: float, unit: str) -> str:
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "ms":
        return f"{value:.2f} ms" if abs(value) < 100 else f"{value:,.0f} ms"
    if unit == "us":
        return f"{value:,.0f} µs"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "B":
        return f"{value:,.1f} B"
    return f"{value:,.3g} {unit}".strip()


def goal_text(figure: Figure) -> str:
    if not figure.goal:
        return "-"
    subject = (
        f"value {figure.goal} {figure.unit}" if figure.goal_on_value else f"ratio {figure.goal}"
    )
    return subject


def table(figures: list[Figure]) -> str:
    header = ("scenario", "figure", "value", "baseline", "ratio", "goal", "met?")
    rows = [header]
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        met = {None: "-", True: "yes", False: "NO"}[f.met]
        baseline = f"{f.baseline}: {number(f.baseline_value, f.unit)}"
        rows.append(
            (f.scenario, f.figure, number(f.value, f.unit), baseline, ratio, goal_text(f), met)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def write(
    figures: list[Figure], *, settings: dict[str, Any], seconds: float, failed: dict[str, str]
) -> Path:
    """bench/results/bench-<time>.json and latest.json, the same figures as the table."""
    RESULTS.mkdir(exist_ok=True)
    now = datetime.now(UTC)
    document = {
        "at": now.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": machine(),
        "settings": settings,
        "figures": [figure.as_json() for figure in figures],
        "failed_scenarios": failed,
    }
    text = json.dumps(document, indent=2)
    path = RESULTS / f"bench-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path
