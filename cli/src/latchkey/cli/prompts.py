"""Asking for a username or a password: on the terminal, or a password piped on stdin."""

import getpass
import sys

from latchkey.cli.errors import INVALID, CliError, usage


def _require_terminal(what: str) -> None:
    if not sys.stdin.isatty():
        raise usage("no_terminal", f"no terminal to ask for {what}; {_HINTS[what]}")


_HINTS = {
    "a username": "give it with --username",
    "a password": "pipe it in with --password-stdin",
}


def ask(question: str, default: str = "") -> str:
    """A line typed at the terminal (the question goes to stderr, stdout stays clean)."""
    _require_terminal("a username")
    suffix = f" [{default}]" if default else ""
    sys.stderr.write(f"{question}{suffix}: ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if not answer and not default:
        raise usage("no_input", f"{question.lower()} is required")
    return answer or default


def password_from_stdin() -> str:
    """The whole of stdin without its final line break (as `docker login --password-stdin`)."""
    password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not password:
        raise usage("no_password", "--password-stdin was given but stdin held no password")
    return password


def password(from_stdin: bool, prompt: str, *, confirm: bool = False) -> str:
    """Piped with --password-stdin, else typed twice (when `confirm`) without echo."""
    if from_stdin:
        return password_from_stdin()
    _require_terminal("a password")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again, to confirm: ") != first:
        raise CliError(INVALID, "passwords_differ", "the two passwords typed differ")
    if not first:
        raise usage("no_password", "no password was typed")
    return first
