"""What can go wrong, as one line for stderr and an exit code scripts can rely on."""

from typing import Any

OK = 0
UNEXPECTED = 1
USAGE = 2
UNAUTHORIZED = 3
FORBIDDEN = 4
NOT_FOUND = 5
INVALID = 6
UNAVAILABLE = 7
INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0  ok
  1  unexpected error (a bug, or an answer the command did not expect)
  2  usage error (wrong arguments or options)
  3  not signed in, or the credential was refused (401)
  4  forbidden: signed in without the rights for this (403)
  5  not found (404)
  6  conflict or invalid input (400, 409, 422)
  7  unavailable: a service is down, unreachable, timed out, or asks to retry later (503, 429)
"""

_BY_STATUS = {
    400: INVALID,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: INVALID,
    410: INVALID,
    413: INVALID,
    422: INVALID,
    429: UNAVAILABLE,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: UNAVAILABLE,
}


def exit_code_for_status(status: int) -> int:
    """The exit code of an HTTP error status; anything not listed is unexpected."""
    return _BY_STATUS.get(status, UNEXPECTED)


class CliError(Exception):
    """Ends the command: `latchkey: <reason>: <message>` on stderr, then `exit_code`."""

    def __init__(self, exit_code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.reason = reason
        self.message = message

    def line(self) -> str:
        return f"latchkey: {self.reason}: {self.message}"


class ServiceError(CliError):
    """A service answered with an error envelope."""

    def __init__(self, status: int, reason: str, message: str, data: Any = None) -> None:
        super().__init__(exit_code_for_status(status), reason, _with_fields(message, data))
        self.status = status
        self.data = data


def _with_fields(message: str, data: Any) -> str:
    """The message, followed by the offending fields a validation error lists in `data`."""
    if not isinstance(data, list):
        return message
    fields = [
        # pydantic starts the message of a failed custom check with "Value error, ".
        f"{item.get('field', '?')}: {str(item.get('message', '')).removeprefix('Value error, ')}"
        for item in data
        if isinstance(item, dict)
    ]
    if not fields:
        return message
    return f"{message.rstrip('.')} ({'; '.join(fields)})"


def usage(reason: str, message: str) -> CliError:
    return CliError(USAGE, reason, message)


def not_signed_in() -> CliError:
    return CliError(
        UNAUTHORIZED,
        "not_signed_in",
        "sign in with `latchkey login` first, or pass a token with --token or LATCHKEY_TOKEN",
    )
