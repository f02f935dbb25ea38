"""Time, injectable: services take a `Clock` so tests can say what "now" is."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC, never naive."""
    return datetime.now(UTC)
