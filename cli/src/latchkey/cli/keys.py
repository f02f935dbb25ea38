"""`latchkey keys ...`: the signing keys auth publishes, and rotating to a new one."""

import argparse
from typing import Any

from latchkey.cli.arguments import CommandGroup
from latchkey.cli.context import Context
from latchkey.cli.output import emit_json, table
from latchkey.cli.views import KEY_COLUMNS

KEYS = "/auth/v1/keys"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = CommandGroup(
        commands, common, "keys", help="signing keys on the auth service", doc=__doc__
    )
    group.add(
        "list",
        "list the published keys",
        run_list,
        description="List the published signing keys: the current one and every retired one "
        "still published.",
    )
    group.add(
        "rotate",
        "sign with a new key from now on",
        run_rotate,
        description="Sign with a new key from now on. The old key stays published, so the "
        "tokens it signed keep working until they expire.",
    )


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
