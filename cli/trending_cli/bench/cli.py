"""The benchmark's command line: `python -m trending_cli.bench` and the
`trending bench` subcommand share these options."""

from __future__ import annotations

import argparse
import sys

from .runner import CONTENDERS, PROTOCOLS, run


def _names(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's options, on `parser` (this module's, or the `trending bench` subcommand's)."""
    parser.add_argument("--scales", default=["small"], type=_names,
                        help="comma-separated scales: tiny, small, medium, large, prod (default small)")
    parser.add_argument("--out", default="docs/bench", help="directory for results.json, results.md, chart.png")
    parser.add_argument("--contenders", type=_names, default=None,
                        help=f"comma-separated subset of {', '.join(CONTENDERS)} (default: all of them; "
                             "C0,trending,trending-incr,trending-full at large); trending, the reference, "
                             "is always included")
    parser.add_argument("--hourly-cycles", type=int, default=24,
                        help="hourly cycles in a row after the day cycle (default 24)")
    parser.add_argument("--hourly-scales", type=_names, default=["tiny", "small"],
                        help="scales that run the hourly cycles (default tiny,small)")
    parser.add_argument("--variants", type=_names, default=["base"],
                        help="comma-separated data variants per scale: base (the generator's), growth "
                             "(3x users, tracks, playlists, saves, reposts; the same plays), older (3x the plays "
                             "older than a month) (default base)")
    parser.add_argument("--no-updates", action="store_true",
                        help="simulated hours only append (no un-saves, follower, profile or track edits, late plays)")
    parser.add_argument("--gap-hours", type=int, default=0,
                        help="add a cycle after this many hours without one, after the hourly cycles "
                             "(catch-up after a gap; default 0: none)")
    parser.add_argument("--reconcile-every", default=None, metavar="INTERVAL",
                        help="the incremental contenders' round of reconciliation (each hourly cycle checks its "
                             "share of the state); default: the protocol's (rotation: 1 day), else 7 days")
    parser.add_argument("--no-reconcile", action="store_true",
                        help="skip the reconcile phase at the end")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                        help="standard: every contender runs every phase; prod (issue 18): C0 and trending "
                             "cold and steady only, trending-incr cold, steady, day, 3 hourly and reconcile "
                             "(trending still runs every phase as the reference); rotation: C0 cold and steady "
                             "only, trending-full cold, steady and day, trending and trending-incr 24 hourly "
                             "cycles; default prod at scale prod, else standard")
    parser.add_argument("--seed", type=int, default=1, help="sample data seed (default 1)")
    parser.add_argument("--b-timeout", type=float, default=None,
                        help="B's statement_timeout in seconds before its retry with nested loops off "
                             "(default: 30 tiny, 60 small, 120 medium, 300 large)")
    parser.add_argument("--idle-seconds", type=float, default=2.0,
                        help="length of the idle read baseline after each cycle (default 2)")
    parser.add_argument("--reader-pause", type=float, default=0.002,
                        help="seconds between two API reads (default 0.002)")
    return parser


def run_from_args(args) -> int:
    """Run with parsed options; exit status 1 on a score mismatch or a failed cycle."""
    results = run(args.scales, args.out, contenders=args.contenders, hourly_cycles=args.hourly_cycles,
                  hourly_scales=args.hourly_scales, seed=args.seed, b_timeout_s=args.b_timeout,
                  idle_seconds=args.idle_seconds, reader_pause_s=args.reader_pause, variants=args.variants,
                  updates=not args.no_updates, reconcile=not args.no_reconcile, protocol=args.protocol,
                  gap_hours=args.gap_hours, reconcile_every=args.reconcile_every)
    print(f"results: {args.out}/results.md, results.json, chart.png")
    if not results["ok"]:
        print("bench: FAILED: a score mismatch or a failed cycle (see results.md)", file=sys.stderr)
        return 1
    return 0
