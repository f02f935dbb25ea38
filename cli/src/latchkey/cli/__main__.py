"""Entry point of the `latchkey` command: run one command, answer with an exit code."""

import os
import sys

from latchkey.cli.context import Context
from latchkey.cli.errors import INTERRUPTED, UNEXPECTED, CliError
from latchkey.cli.output import clean
from latchkey.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors exit 2 here
    context: Context | None = None
    try:
        context = Context.from_args(args)
        args.run(context, args)
        sys.stdout.flush()
    except CliError as error:
        if context is not None:
            error = context.explain(error)
        print(clean(error.line()), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("\nlatchkey: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`latchkey tokens list | head`): stop without a second error
        # when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return UNEXPECTED
    except Exception as exc:
        # Never a traceback: one line that says what broke, for a bug report.
        print(f"latchkey: internal_error: {type(exc).__name__}: {clean(exc)}", file=sys.stderr)
        return UNEXPECTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
