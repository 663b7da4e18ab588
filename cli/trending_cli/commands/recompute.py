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
    parser.add_argument("--full", action="store_true",
                        help="a full cycle even when an incremental one could run (recompute(full => true))")
    parser.add_argument("--json", action="store_true", help="print only the summary, as JSON (no progress)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn:
        require_extension(conn, since="1.1")
        if not args.json:
            conn.add_notice_handler(lambda diag: print(diag.message_primary, flush=True))
        now = "pg_catalog.now()" if args.now is None else "%s::timestamptz"
        params = () if args.now is None else (args.now,)
        (summary,) = conn.execute(f"SELECT trending.recompute({now}, full => {'true' if args.full else 'false'})",
                                  params).fetchone()
    if summary["status"] == "skipped":
        raise CliError(f"skipped: {summary['message']} (recorded as run {summary['run_id']})",
                       "wait for it to finish (`trending status` shows it), or cancel it with "
                       "SELECT pg_cancel_backend(<pid>)", exit_code=SKIPPED_EXIT)
    if summary["status"] == "failed":  # the cycle lease's lock blocked by a backend that is not a cycle
        raise CliError(f"failed: {summary['message']} (recorded as run {summary['run_id']})",
                       "end that backend (SELECT pg_terminate_backend(<pid>)) and find out why it locked "
                       "trending_private.cycle_lease")
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
