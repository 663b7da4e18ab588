"""`trending bench`: the benchmark (trending_cli.bench), under the main command."""

from __future__ import annotations

from ..bench.cli import add_arguments, run_from_args


def register(commands) -> None:
    parser = commands.add_parser(
        "bench", help="benchmark trending against the upstream strategies (its own throwaway clusters)",
        description="Benchmark trending against the upstream job's write strategies A, B, C, C0 on generated "
                    "data, in throwaway clusters of its own (--dsn does not apply); writes results.md, "
                    "results.json and chart.png. Same as python -m trending_cli.bench.")
    add_arguments(parser)
    parser.set_defaults(handler=run_from_args)
