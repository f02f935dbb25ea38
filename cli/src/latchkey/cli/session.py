"""`latchkey login` and `latchkey logout`: the admin's own session token."""

import argparse
import base64
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from latchkey.cli import credentials, prompts
from latchkey.cli.client import Service
from latchkey.cli.context import Context
from latchkey.cli.credentials import Credentials
from latchkey.cli.errors import UNAUTHORIZED, CliError, ServiceError, usage
from latchkey.cli.output import clean, emit_json, listing, note, when

CHANNEL = "CLI"
PLATFORM = "WEB"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    login = commands.add_parser(
        "login",
        parents=[common],
        help="sign in and keep the token for the commands that follow",
        description="Sign in to auth and keep the token (and the service URLs) in "
        "$XDG_CONFIG_HOME/latchkey/credentials.json, readable by you only. "
        "The password is asked for without echo, or read from stdin with --password-stdin.",
    )
    login.add_argument("-u", "--username", help="who signs in (asked for when not given)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.set_defaults(run=run_login)
    logout = commands.add_parser(
        "logout",
        parents=[common],
        help="revoke the stored token and forget it",
        description="Revoke the token in use (stored, or given with --token / LATCHKEY_TOKEN) "
        "and delete the stored credentials.",
    )
    logout.set_defaults(run=run_logout)


def run_login(context: Context, args: argparse.Namespace) -> None:
    previous = context.stored
    username = args.username
    if username is None:
        if args.password_stdin:
            raise usage("username_required", "--password-stdin needs --username")
        username = prompts.ask("Username", previous.username if previous else "")
    password = prompts.password(args.password_stdin, f"Password for {username}: ")
    body = {"username": username, "password": password, "channel": CHANNEL, "platform": PLATFORM}
    answer = context.auth.call("POST", "/auth/v1/login", body=body, signed=False)
    token: str = answer.data["accessToken"]
    user: dict[str, Any] = answer.data["user"]
    stored = Credentials(
        token=token,
        auth_url=context.auth_url,
        registry_url=context.registry_url,
        username=user["username"],
        user_id=user["userId"],
        expires_at=token_expiry(token),
    )
    path = credentials.save(stored)
    if previous is not None and previous.token != token:
        _revoke_quietly(previous)
    if context.json:
        emit_json({"user": user, "expiresAt": stored.expires_at, "credentials": str(path)})
        return
    roles = listing(user["roles"])
    print(f"Signed in to {context.auth_url} as {clean(user['username'])} (roles: {roles}).")
    print(f"The token expires {when(stored.expires_at)}; it is kept in {path}.")
    if "admin" not in user["roles"]:
        note("Note: this user has no admin role, so the admin commands will be refused.")


def run_logout(context: Context, args: argparse.Namespace) -> None:
    if context.stored_error is not None and context.given_token is None:
        credentials.delete()  # unreadable, so there is no token in it to revoke
        raise context.stored_error
    token = context.token()
    try:
        context.auth.call("POST", "/api/v1/user/logout")
        outcome = "the token is revoked"
    except ServiceError as error:
        if error.exit_code != UNAUTHORIZED:
            raise
        # Already expired, revoked or unknown: nothing is left to revoke, only to forget.
        outcome = f"the token was no longer valid ({error.reason})"
    removed = context.stored is not None and context.stored.token == token and credentials.delete()
    if context.json:
        emit_json(True)
        return
    where = f"; {credentials.credentials_path()} is deleted" if removed else ""
    print(f"Signed out: {outcome}{where}.")


def token_expiry(token: str) -> str | None:
    """The `exp` claim, read without verifying (only to tell the user; auth verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC).isoformat()
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _revoke_quietly(previous: Credentials) -> None:
    """Signing in again replaces the stored token: revoke the old one rather than leave it
    alive until it expires. Best effort: it may be expired already, or its auth gone."""
    with contextlib.suppress(CliError):
        service = Service("auth service", previous.auth_url, lambda: previous.token, timeout=5)
        service.call("POST", "/api/v1/user/logout")
