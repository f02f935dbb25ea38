"""The command line: global options (accepted before or after the command) and commands."""

import argparse

from latchkey.cli import __version__, keys, policy, session, tokens, users
from latchkey.cli.arguments import seconds
from latchkey.cli.errors import EXIT_CODES_HELP

DESCRIPTION = """\
Administer Latchkey from the command line: sign in, then manage users, tokens,
signing keys and the global domain policy over the services' HTTP APIs."""

CONFIGURATION_HELP = """
configuration:
  After `latchkey login` the token and both service URLs are kept in
  $XDG_CONFIG_HOME/latchkey/credentials.json (default ~/.config/latchkey/),
  readable by you only. Service URLs: --auth-url / --registry-url, else the
  stored ones (when the stored token is used), else LATCHKEY_AUTH_URL /
  LATCHKEY_REGISTRY_URL, else http://127.0.0.1:9003 and http://127.0.0.1:9006.
  LATCHKEY_TOKEN (or --token) uses a token without signing in.

output:
  Tables and listings for people; --json prints the answer's data as JSON
  for scripts. Errors are one line on stderr: `latchkey: <reason>: <message>`.
"""


def global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """On the top-level parser with defaults; on every command with none (SUPPRESS), so an
    option given before the command is not reset by the command's own parser."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    options = parser.add_argument_group("global options")
    options.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for scripts"
    )
    options.add_argument("--auth-url", metavar="URL", default=default(None), help="auth service")
    options.add_argument(
        "--registry-url", metavar="URL", default=default(None), help="token registry"
    )
    options.add_argument(
        "--token",
        default=default(None),
        help="use this token instead of the stored one (prefer LATCHKEY_TOKEN: "
        "arguments show in the process list)",
    )
    options.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        default=default(30.0),
        help="give up on a service after this long (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latchkey",
        description=DESCRIPTION,
        epilog=CONFIGURATION_HELP + "\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"latchkey {__version__}")
    global_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    global_options(common, defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (session, users, tokens, keys, policy):
        module.register(commands, common)
    return parser
