"""`python -m trending_cli.bench`: run the benchmark, write the results."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, run_from_args


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trending_cli.bench",
        description="Benchmark trending against the upstream strategies A, B, C, C0 (issue 3).")
    return run_from_args(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
