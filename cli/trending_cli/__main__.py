"""The `trending` command."""

from __future__ import annotations

import argparse
import sys

import psycopg

from . import __version__
from .cluster import ClusterError
from .demo import DemoError


def _demo(args) -> int:
    from . import demo
    from .sample_data import SCALES
    if args.scale not in SCALES:
        raise SystemExit(f"trending demo: unknown scale {args.scale!r} (valid: {', '.join(SCALES)})")
    demo.run(scale=args.scale, seed=args.seed, keep=args.keep, as_json=args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trending", description="Operate the trending PostgreSQL extension.")
    parser.add_argument("--version", action="version", version=f"trending {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="a throwaway local cluster with sample data: install, one cycle, the lists")
    demo.add_argument("--scale", default="tiny", help="sample data scale: tiny (default), small, medium, large")
    demo.add_argument("--seed", type=int, default=1, help="sample data seed (default 1)")
    demo.add_argument("--keep", action="store_true", help="leave the cluster running and print how to connect")
    demo.add_argument("--json", action="store_true", help="print the cycle's summary as JSON")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ClusterError, psycopg.Error) as error:
        if args.debug:
            raise
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"trending {args.command}: {first_line}", file=sys.stderr)
        print("hint: rerun with --debug for details", file=sys.stderr)
        return 1
    except DemoError as error:
        if args.debug:
            raise
        print(f"trending {args.command}: {error}\nhint: {error.hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
