"""`latchkey policy ...`: the global allowed domains, for tokens that name none of their own."""

import argparse
from typing import Any

from latchkey.cli.arguments import CommandGroup
from latchkey.cli.context import Context
from latchkey.cli.errors import usage
from latchkey.cli.output import details, emit_json, listing, when
from latchkey.cli.views import change_note

POLICY = "/api/v1/domain-policy"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = CommandGroup(commands, common, "policy", help="the global domain policy", doc=__doc__)
    group.add("show", "show the global allowed domains", run_show)
    change = group.add(
        "set",
        "replace the global allowed domains",
        run_set,
        description="Replace the global allowed domains: hosts (portal.example.com, "
        "127.0.0.1, [::1]) or wildcards (*.example.com), each with an optional :port. "
        "--none clears the policy, so any site may link in with a token that names no domains.",
    )
    change.add_argument("domains", nargs="*", metavar="DOMAIN")
    change.add_argument("--none", action="store_true", help="clear the policy")


def _render(context: Context, policy: dict[str, Any], message: str) -> None:
    if context.json:
        emit_json(policy)
        return
    if message:
        print(message)
    if not policy["domains"]:
        print("No global domain policy: any site may link in with a token that names no domains.")
    details(
        [
            ("Allowed domains", listing(policy["domains"])),
            ("Updated", when(policy["updatedAt"])),
            ("Updated by", policy["updatedBy"] or "-"),
        ]
    )


def run_show(context: Context, args: argparse.Namespace) -> None:
    _render(context, context.registry.call("GET", POLICY).data, "")


def run_set(context: Context, args: argparse.Namespace) -> None:
    if args.none == bool(args.domains):
        raise usage("bad_domains", "give the allowed domains, or --none to clear the policy")
    policy = context.registry.call("PUT", POLICY, body={"domains": args.domains}).data
    _render(context, policy, f"Domain policy updated{change_note(policy)}.")
