"""`trending recompute`: one cycle now, its steps printed as the server
finishes them (the NOTICEs trending.recompute() sends), then its summary."""

from __future__ import annotations

import json

from ..db import connect, require_extension
from ..errors import CliError
from ..output import format_summary

SKIPPED_EXIT = 3


def register(commands) -> None:
    parser = commands.add_parser(
        "recompute", help="run a cycle now with live progress, print its summary",
        description="Run SELECT trending.recompute() (one transaction) and print each step as it finishes, "
                    "then the summary: rows inserted/updated/deleted/unchanged per strategy and range, step "
                    "times, bad rows. Exit status 0 when the cycle succeeded, 1 when it failed (nothing "
                    f"changed), {SKIPPED_EXIT} when it was skipped because another cycle is running (a "
                    "scheduled one, say: the scores are being refreshed anyway).")
    parser.add_argument("--now", metavar="TS",
                        help="compute as of this timestamp, e.g. '2026-03-31 12:00+00' (default: now)")
    parser.add_argument("--json", action="store_true", help="print only the summary, as JSON (no progress)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn:
        require_extension(conn)
        if not args.json:
            conn.add_notice_handler(lambda diag: print(diag.message_primary, flush=True))
        if args.now is None:
            (summary,) = conn.execute("SELECT trending.recompute()").fetchone()
        else:
            (summary,) = conn.execute("SELECT trending.recompute(%s::timestamptz)", (args.now,)).fetchone()
    if summary["status"] == "skipped":
        raise CliError(f"skipped: {summary['message']} (recorded as run {summary['run_id']})",
                       "wait for it to finish (`trending status` shows it), or cancel it with "
                       "SELECT pg_cancel_backend(<pid>)", exit_code=SKIPPED_EXIT)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
