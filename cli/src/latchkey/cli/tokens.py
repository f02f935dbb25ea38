"""`latchkey tokens ...`: list, show, generate, revoke, disable and enable token records."""

import argparse
from typing import Any

from latchkey.cli.arguments import CommandGroup, expiry, nonempty, positive_int
from latchkey.cli.client import quote
from latchkey.cli.context import Context
from latchkey.cli.output import clean, emit_json, note, table, when
from latchkey.cli.views import TOKEN_COLUMNS, change_note, token_details

TOKENS = "/api/v1/tokens"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = CommandGroup(
        commands, common, "tokens", help="token records on the registry", doc=__doc__
    )
    add = group.add

    listing = add("list", "list token records, newest first", run_list)
    listing.add_argument("--user", metavar="USER_ID", help="tokens of this user id")
    listing.add_argument("--username", metavar="NAME", help="tokens of this username")
    listing.add_argument("--kind", choices=["session", "access"])
    listing.add_argument("--status", choices=["active", "expired", "revoked", "disabled"])
    listing.add_argument("--name", metavar="TEXT", help="names that contain TEXT")
    listing.add_argument("--limit", type=positive_int, metavar="N", help="records a page")
    listing.add_argument("--cursor", help="start at this page (from a previous list)")
    listing.add_argument("--all", action="store_true", help="follow every page to the end")

    add("show", "show one token record", run_show).add_argument("jti")

    create = add("create", "generate an access token for a user (shown once)", run_create)
    create.add_argument("--user", required=True, metavar="USER_ID", help="whose token it is")
    create.add_argument("--name", required=True, type=nonempty, help="what it is for")
    create.add_argument("--description", metavar="D", help="a longer note on its use")
    create.add_argument(
        "--expires",
        type=expiry,
        metavar="WHEN",
        help="ISO 8601 time with zone (2030-01-01T00:00:00Z) or from now (90d, 12h, 2w); "
        "default: the service's",
    )
    create.add_argument(
        "--portal", action="append", dest="portals", metavar="P", help="repeat for more"
    )
    create.add_argument(
        "--domain", action="append", dest="domains", metavar="D", help="allowed domain; repeat"
    )

    revoke = add("revoke", "revoke a token (final)", run_revoke)
    revoke.add_argument("jti")
    revoke.add_argument("--reason", required=True, type=nonempty)
    add("disable", "disable a token until it is enabled again", run_disable).add_argument("jti")
    add("enable", "enable a disabled token", run_enable).add_argument("jti")
    everything = add("revoke-user", "revoke every token a user holds", run_revoke_user)
    everything.add_argument("user_id", metavar="USER_ID")
    everything.add_argument("--reason", required=True, type=nonempty)


def run_list(context: Context, args: argparse.Namespace) -> None:
    query: dict[str, str | int | None] = {
        "userId": args.user,
        "username": args.username,
        "kind": args.kind,
        "status": args.status,
        "q": args.name,
        "limit": args.limit,
        "cursor": args.cursor,
    }
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        page = context.registry.call("GET", TOKENS, query=query).data
        items.extend(page["items"])
        cursor = page.get("nextCursor")
        if not (args.all and cursor) or cursor in seen:
            break
        seen.add(cursor)
        query["cursor"] = cursor
    if context.json:
        emit_json({"items": items, "nextCursor": cursor})
        return
    table(items, TOKEN_COLUMNS, empty="No token records match.")
    if cursor:
        note(f"More records: add --all, or --cursor {cursor}")


def run_show(context: Context, args: argparse.Namespace) -> None:
    record = context.registry.call("GET", f"{TOKENS}/{quote(args.jti)}").data
    if context.json:
        emit_json(record)
    else:
        token_details(record)


def run_create(context: Context, args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"userId": args.user, "name": args.name}
    optional = {
        "description": args.description,
        "expiresAt": args.expires,
        "portals": args.portals,
        "allowedDomains": args.domains,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    data = context.registry.call("POST", TOKENS, body=body).data
    if context.json:
        emit_json(data)
        return
    record = data["token"]
    note(f"Access token '{clean(record['name'])}' for {clean(record['username'])}")
    note(f"  jti:      {record['jti']}")
    note(f"  expires:  {when(record['expiresAt'])}")
    note("Copy it now: it will not be shown again.")
    print(data["accessToken"], flush=True)


def _change(context: Context, jti: str, method: str, path: str, body: Any) -> Any:
    return context.registry.call(method, f"{TOKENS}/{quote(jti)}{path}", body=body).data


def run_revoke(context: Context, args: argparse.Namespace) -> None:
    data = _change(context, args.jti, "POST", "/revoke", {"reason": args.reason})
    if context.json:
        emit_json(data)
    elif data.get("eventSeq") is None:
        print(f"Token {data['jti']} was already revoked.")
    else:
        print(f"Token {data['jti']} revoked{change_note(data)}.")


def _set_disabled(context: Context, jti: str, disabled: bool) -> None:
    data = _change(context, jti, "PATCH", "", {"disabled": disabled})
    if context.json:
        emit_json(data)
        return
    state = "disabled" if disabled else "enabled"
    print(f"Token {data['jti']} {state}{change_note(data)}; its status is {data['status']}.")


def run_disable(context: Context, args: argparse.Namespace) -> None:
    _set_disabled(context, args.jti, True)


def run_enable(context: Context, args: argparse.Namespace) -> None:
    _set_disabled(context, args.jti, False)


def run_revoke_user(context: Context, args: argparse.Namespace) -> None:
    path = f"/api/v1/users/{quote(args.user_id)}/revoke"
    data = context.registry.call("POST", path, body={"reason": args.reason}).data
    if context.json:
        emit_json(data)
        return
    print(
        f"Revoked {data['revokedTokens']} tokens of user {data['userId']}: every token issued "
        f"to them up to {when(data['notBefore'])} is refused (change {data['seq']})."
    )
