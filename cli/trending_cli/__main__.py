"""The `trending` command: install, schedule, run and watch the extension.

Expected failures (a bad DSN, a refused connection, a missing privilege or
prerequisite, the extension absent, a cycle already running) end with one
line `trending <command>: <message>`, a `hint:` line and a non-zero exit
status, never a traceback; --debug shows it.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import psycopg

from . import __version__
from .cluster import ClusterError
from .commands import MODULES
from .errors import CliError, describe

OWN_CLUSTER = ("demo", "bench")  # they start throwaway clusters: no --dsn

EPILOG = """\
Connection: --dsn (a libpq connection string or postgresql:// URI), else the
PG* environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD).

Exit status: 0 success; 1 an error, a failed check of `doctor` or a difference
found by `compare`; 2 bad usage; 3 `recompute` skipped because another cycle
is running.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trending", description="Operate the trending PostgreSQL extension.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"trending {__version__}")
    _common_options(parser, default_dsn="", default_debug=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(commands)
    for name, subparser in commands.choices.items():
        # also after the command (`trending status --dsn ...`), without
        # overriding a value given before it
        _common_options(subparser, default_dsn=argparse.SUPPRESS, default_debug=argparse.SUPPRESS,
                        dsn=name not in OWN_CLUSTER)
    return parser


def _common_options(parser, *, default_dsn, default_debug, dsn: bool = True) -> None:
    if dsn:
        parser.add_argument("--dsn", default=default_dsn, metavar="DSN",
                            help="libpq connection string or URI (default: the PG* environment variables)")
    parser.add_argument("--debug", action="store_true", default=default_debug, help="show the traceback of an error")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # the reader went away (`trending status | head -1`): stop quietly, as
        # other tools do; point stdout at /dev/null so the final flush succeeds
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except KeyboardInterrupt:
        print(f"trending {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CliError, ClusterError, psycopg.Error) as error:
        if args.debug:
            traceback.print_exc()
        message, hint = describe(error, debug=args.debug)
        print(f"trending {args.command}: {message}\nhint: {hint}", file=sys.stderr)
        return error.exit_code if isinstance(error, CliError) else 1


if __name__ == "__main__":
    sys.exit(main())
