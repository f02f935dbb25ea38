"""`python -m soak [--rounds N] [--phase S] [--rate R] [--json PATH]`: run the chaos soak,
print its figures, write them as JSON, and exit 1 unless all three zeros are zero."""

import argparse
import asyncio
import os
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from soak.config import ARTIFACTS, SoakConfig
from soak.report import table, write
from soak.run import run_soak
from tests.support.rabbit import RabbitNode

FLAGS = {
    "rounds": "times the five faults are run in turn (default %(default)s)",
    "phase": "seconds each phase lasts (default %(default)s)",
    "rate": "revocations attempted per second (default %(default)s)",
    "stall": "seconds a router is frozen with SIGSTOP (default %(default)s)",
    "outage": "seconds the broker is stopped and PostgreSQL cut (default %(default)s)",
    "sessions_per_router": "signed-in users on each router (default %(default)s)",
}


def parse(argv: list[str]) -> SoakConfig:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the short run `make test` runs")
    defaults = {f.name: f.default for f in fields(SoakConfig)}
    for name, help_text in FLAGS.items():
        kind = type(defaults[name])
        flag = "--" + name.replace("_", "-")
        parser.add_argument(
            flag, type=kind, default=None, help=help_text % {"default": defaults[name]}
        )
    parser.add_argument(
        "--database-server",
        # Where the tests' databases go, when set, is where the soak's goes too.
        default=os.environ.get("LATCHKEY_TEST_DATABASE_URL") or defaults["database_server"],
        help="PostgreSQL server to create the soak's database on (default: "
        "LATCHKEY_TEST_DATABASE_URL, else the local one)",
    )
    parser.add_argument("--json", type=Path, help="where to write the figures")
    args = parser.parse_args(argv)
    chosen = {name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None}
    chosen.update(database_server=args.database_server, json_path=args.json)
    return SoakConfig.short(**chosen) if args.short else SoakConfig(**chosen)


def main(argv: list[str]) -> int:
    config = parse(argv)
    if not RabbitNode.available():
        print("the soak needs rabbitmq-server installed on this machine", file=sys.stderr)
        return 2
    result = asyncio.run(run_soak(config)).as_json()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = config.json_path or ARTIFACTS / f"soak-{stamp}.json"
    write(result, path)
    print(table(result))
    print(f"figures written to {path}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
