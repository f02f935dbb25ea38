"""`latchkey users ...`: list, show, create, disable, enable users and set their passwords."""

import argparse
from typing import Any

from latchkey.cli import prompts
from latchkey.cli.arguments import CommandGroup, nonempty, positive_int
from latchkey.cli.client import quote
from latchkey.cli.context import Context
from latchkey.cli.output import clean, emit_json, note, table
from latchkey.cli.views import USER_COLUMNS, user_details

USERS = "/auth/v1/users"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = CommandGroup(commands, common, "users", help="users on the auth service", doc=__doc__)
    add = group.add

    listing = add("list", "list users by username", run_list)
    listing.add_argument("--limit", type=positive_int, metavar="N", help="users a page")
    listing.add_argument("--after", metavar="USERNAME", help="start after this username")
    listing.add_argument("--all", action="store_true", help="follow every page to the end")
    add("show", "show one user", run_show).add_argument("user_id", metavar="USER_ID")

    create = add("create", "create a user", run_create)
    create.add_argument("username", type=nonempty)
    create.add_argument("--display-name", metavar="NAME")
    create.add_argument(
        "--role", action="append", dest="roles", choices=["agent", "admin"], help="repeat for more"
    )
    create.add_argument(
        "--portal", action="append", dest="portals", metavar="P", help="repeat for more"
    )
    create.add_argument("--password-stdin", action="store_true", help="read it from stdin")

    disable = add("disable", "disable a user (revokes every token they hold)", run_disable)
    disable.add_argument("user_id", metavar="USER_ID")
    add("enable", "enable a disabled user", run_enable).add_argument("user_id", metavar="USER_ID")
    password = add("set-password", "set a user's password (revokes their tokens)", run_password)
    password.add_argument("user_id", metavar="USER_ID")
    password.add_argument("--password-stdin", action="store_true", help="read it from stdin")


def run_list(context: Context, args: argparse.Namespace) -> None:
    query: dict[str, str | int | None] = {"after": args.after, "limit": args.limit}
    users: list[dict[str, Any]] = []
    while True:
        page = context.auth.call("GET", USERS, query=query).data
        users.extend(page["items"])
        after = page.get("nextAfter")
        if not (args.all and after) or after == query["after"]:
            break
        query["after"] = after
    if context.json:
        emit_json({"items": users, "nextAfter": after})
        return
    table(users, USER_COLUMNS, empty="No users.")
    if after:
        note(f"More users: add --all, or --after {clean(after)}")


def _show(context: Context, user: dict[str, Any], message: str) -> None:
    if context.json:
        emit_json(user)
        return
    if message:
        print(message)
    user_details(user)


def run_show(context: Context, args: argparse.Namespace) -> None:
    _show(context, context.auth.call("GET", f"{USERS}/{quote(args.user_id)}").data, "")


def run_create(context: Context, args: argparse.Namespace) -> None:
    password = prompts.password(
        args.password_stdin, f"Password for {args.username}: ", confirm=True
    )
    body: dict[str, Any] = {"username": args.username, "password": password}
    optional = {"displayName": args.display_name, "roles": args.roles, "portals": args.portals}
    body.update({key: value for key, value in optional.items() if value is not None})
    user = context.auth.call("POST", USERS, body=body).data
    _show(context, user, f"Created user {clean(user['username'])}.")


def _set_disabled(context: Context, user_id: str, disabled: bool) -> None:
    path = f"{USERS}/{quote(user_id)}"
    user = context.auth.call("PATCH", path, body={"disabled": disabled}).data
    name = clean(user["username"])
    if disabled:
        message = f"Disabled {name}: every token they held is revoked, and they cannot sign in."
    else:
        message = f"Enabled {name}: they can sign in again (revoked tokens stay revoked)."
    _show(context, user, message)


def run_disable(context: Context, args: argparse.Namespace) -> None:
    _set_disabled(context, args.user_id, True)


def run_enable(context: Context, args: argparse.Namespace) -> None:
    _set_disabled(context, args.user_id, False)


def run_password(context: Context, args: argparse.Namespace) -> None:
    password = prompts.password(args.password_stdin, "New password: ", confirm=True)
    path = f"{USERS}/{quote(args.user_id)}/password"
    user = context.auth.call("PUT", path, body={"password": password}).data
    _show(context, user, f"Password of {clean(user['username'])} set; their tokens are revoked.")
