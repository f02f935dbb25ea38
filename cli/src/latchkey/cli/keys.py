"""`latchkey keys ...`: the signing keys auth publishes, and rotating to a new one."""

import argparse
from typing import Any

from latchkey.cli.context import Context
from latchkey.cli.output import emit_json, table
from latchkey.cli.views import KEY_COLUMNS

KEYS = "/auth/v1/keys"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "keys", parents=[common], help="signing keys on the auth service", description=__doc__
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list",
        parents=[common],
        help="list the published keys",
        description="List the "
        "published signing keys: the current one and every retired one still published.",
    ).set_defaults(run=run_list)
    actions.add_parser(
        "rotate",
        parents=[common],
        help="sign with a new key from now on",
        description="Sign with a new key from now on. The old key stays published, so the "
        "tokens it signed keep working until they expire.",
    ).set_defaults(run=run_rotate)


def run_list(context: Context, args: argparse.Namespace) -> None:
    keys = context.auth.call("GET", KEYS).data
    if context.json:
        emit_json(keys)
    else:
        table(keys, KEY_COLUMNS, empty="No keys are published.")


def run_rotate(context: Context, args: argparse.Namespace) -> None:
    key = context.auth.call("POST", KEYS + "/rotate").data
    if context.json:
        emit_json(key)
        return
    print(
        f"Signing with the new key {key['kid']} ({key['algorithm']}) from now on; "
        "the previous key stays published, so the tokens it signed keep working."
    )
