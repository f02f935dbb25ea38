"""What the commands share in their parsers: argument types (argparse turns their errors into
exit code 2) and the command group each module registers its actions in."""

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError("must be more than 0 and less than a day")
    return value


def expiry(text: str) -> str:
    """An ISO 8601 time with its zone (`2030-01-01T00:00:00Z`), or a time from now (`90d`,
    `12h`, `30m`, `2w`), as the ISO 8601 UTC time the API takes."""
    duration = _DURATION.match(text.strip())
    if duration:
        amount, unit = duration.groups()
        moment = datetime.now(UTC) + timedelta(**{_UNITS[unit]: int(amount)})
        return moment.replace(microsecond=0).isoformat()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO 8601 time (2030-01-01T00:00:00Z) nor a duration (90d)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone: add one, e.g. 2030-01-01T00:00:00Z or +02:00"
        )
    return moment.astimezone(UTC).isoformat()


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


class CommandGroup:
    """A command (`latchkey tokens`) whose actions each take the global options too."""

    def __init__(
        self, commands: Any, common: argparse.ArgumentParser, name: str, *, help: str, doc: str
    ) -> None:
        group = commands.add_parser(name, parents=[common], help=help, description=doc)
        self._actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        self._common = common

    def add(
        self, name: str, help_text: str, run: Any, *, description: str | None = None
    ) -> argparse.ArgumentParser:
        """An action running `run(context, args)`; its description defaults to its help."""
        parser: argparse.ArgumentParser = self._actions.add_parser(
            name,
            parents=[self._common],
            help=help_text,
            description=description or help_text[0].upper() + help_text[1:],
        )
        parser.set_defaults(run=run)
        return parser
