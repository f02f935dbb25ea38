"""Aligned tables and key-value listings for people, JSON for scripts, notes on stderr."""

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]
Column = tuple[str, Callable[[Row], str]]


def clean(text: object, width: int | None = None) -> str:
    """Printable text on one line: a name set through the API cannot drive the terminal
    with escape sequences or break a table with a newline."""
    value = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in str(text))
    if width is not None and len(value) > width:
        return value[: width - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return value


def when(value: str | None) -> str:
    """An API timestamp as `2030-01-02 03:04 UTC`; `-` for none."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return clean(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def listing(values: Iterable[object] | None) -> str:
    text = ", ".join(clean(value) for value in values or ())
    return text or "-"


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def note(text: str) -> None:
    """For the person at the terminal, out of the way of what stdout is piped to."""
    print(text, file=sys.stderr)


def table(rows: Sequence[Row], columns: Sequence[Column], *, empty: str) -> None:
    if not rows:
        note(empty)
        return
    cells = [[clean(render(row)) for _, render in columns] for row in rows]
    headers = [header for header, _ in columns]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(columns))]
    for line in [headers, *cells]:
        padded = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(padded).rstrip())


def details(pairs: Sequence[tuple[str, str]]) -> None:
    """`Label:  value` lines, the values in one column."""
    width = max(len(label) for label, _ in pairs) + 1
    for label, value in pairs:
        print(f"{label + ':':<{width}}  {clean(value)}")
