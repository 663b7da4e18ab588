"""`trending demo`: the embedded default.

A throwaway local cluster with pg_cron preloaded, sample data from the
generator, then what a DBA would do: `trending install` (with the source
schema and an hourly schedule, into the database pg_cron lives in; it
creates pg_cron there and the job role), one cycle an hour back (the sample data
is anchored there), the top lists and the cycle's summary, then a second
cycle at the real now and the movers of that hour. Nothing
outside the temp directory is touched; the cluster is removed at the end
unless --keep is given.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from datetime import datetime, timedelta, timezone

from ..cluster import Cluster, pg_bindir
from ..db import connect
from ..errors import CliError
from ..output import format_summary, table
from ..sample_data import SCALES, generate
from . import install

DEMO_DB = "postgres"  # the throwaway cluster's cron.database_name: trending.schedule() works there
SOURCE_SCHEMA = "music"


def register(commands) -> None:
    parser = commands.add_parser(
        "demo", help="a throwaway local cluster with sample data: install, schedule, one cycle, the lists",
        description="Start a throwaway PostgreSQL cluster (unix socket only, pg_cron preloaded), load sample "
                    f"data into schema {SOURCE_SCHEMA} as of an hour ago, install trending and schedule it hourly, "
                    "run a cycle an hour back and print the top lists and the cycle's summary, then a cycle "
                    "at the real now and the movers of that hour. --dsn does not apply.")
    parser.add_argument("--scale", default="tiny", help="sample data scale: tiny (default), small, medium, large")
    parser.add_argument("--seed", type=int, default=1, help="sample data seed (default 1)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the cluster running and print how to connect and watch the job")
    parser.add_argument("--json", action="store_true", help="print the cycle's summary as JSON")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.scale not in SCALES:
        raise CliError(f"unknown scale {args.scale!r}", f"valid scales: {', '.join(SCALES)}")
    cluster = Cluster(name="trending-demo", pg_cron=True)
    cluster.start()
    try:
        _demo(cluster, args.scale, args.seed, args.json)
    except BaseException:
        cluster.stop()
        raise
    if args.keep:
        _print_keep(cluster)
    else:
        cluster.stop()
    return 0


def _demo(cluster: Cluster, scale: str, seed: int, as_json: bool) -> None:
    print(f"trending demo: a throwaway PostgreSQL cluster in {cluster.dir} (unix socket only, pg_cron preloaded)")
    dsn = cluster.conninfo(DEMO_DB)
    with connect(dsn) as conn:
        started = time.monotonic()
        # the sample data and the first cycle an hour back, so that the second
        # cycle runs at the real now (the next scheduled run never goes back in time)
        an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
        counts = generate(conn, SOURCE_SCHEMA, scale=scale, seed=seed, as_of=an_hour_ago)
        print(f"sample data: scale {scale}, seed {seed}, schema {SOURCE_SCHEMA}: "
              + ", ".join(f"{counts[t]:,} {t}" for t in ("tracks", "users", "plays", "saves", "reposts", "playlists")
                          if t in counts)
              + f" ({time.monotonic() - started:.1f} s)")
        print(f"trending install --source-schema {SOURCE_SCHEMA}:")
        install.install(conn, dsn, source_schema=SOURCE_SCHEMA, out=lambda line: print(f"  {line}"))

        (summary,) = conn.execute("SELECT trending.recompute(%s)", (an_hour_ago,)).fetchone()
        print(f"SELECT trending.recompute(now() - interval '1 hour'): {summary['status']} "
              f"in {summary['ms']:,.0f} ms\n")

        top = conn.execute("SELECT rank, track_id, score, genre FROM trending.top_tracks('week', lim => 10)").fetchall()
        _print_list("Top 10 tracks of the week", ["rank", "track_id", "score", "genre"], top)
        genre = next((row[3] for row in top if row[3]), None)
        if genre:
            rows = conn.execute("SELECT rank, track_id, score, genre FROM trending.top_tracks('week', %s, lim => 10)",
                                (genre,)).fetchall()
            _print_list(f"Top 10 {genre} tracks of the week", ["rank", "track_id", "score", "genre"], rows)
        rows = conn.execute("SELECT rank, playlist_id, score FROM trending.top_playlists('week', lim => 5)").fetchall()
        _print_list("Top 5 playlists of the week", ["rank", "playlist_id", "score"], rows)

        print("The cycle's summary")
        print(json.dumps(summary, indent=2) if as_json else format_summary(summary))

        (second,) = conn.execute("SELECT trending.recompute()").fetchone()
        print(f"\nAn hour later, SELECT trending.recompute(): {second['status']} in {second['ms']:,.0f} ms\n")
        movers = conn.execute("SELECT movement, id, previous_rank, rank, climb "
                              "FROM trending.movers('week')").fetchall()
        top_n = conn.execute("SELECT value FROM trending.settings WHERE name = 'movers_top_n'").fetchone()[0]
        print(f"Movers of the week's top {top_n} tracks in that hour (trending.movers())")
        print(table(["movement", "track_id", "was", "now", "climb"], [list(r) for r in movers], align="lrrrr")
              if movers else "(nothing moved)")


def _print_list(title: str, headers: list[str], rows: list) -> None:
    print(title)
    print(table(headers, [list(r) for r in rows]) if rows else "(no rows)")
    print()


def trending_command() -> str:
    """How to call this very `trending` from a shell: its name when PATH finds
    this one, else its full path (scripts/demo.sh runs .venv/bin/trending,
    which is on nobody's PATH), else this Python with -m."""
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if here is not None and here.name == "trending" and here.is_file():
        on_path = shutil.which("trending")
        return "trending" if on_path and Path(on_path).resolve() == here else shlex.quote(str(here))
    return f"{shlex.quote(sys.executable)} -m trending_cli"


def _print_keep(cluster: Cluster) -> None:
    trending = trending_command()
    dsn = shlex.quote(cluster.conninfo(DEMO_DB))
    pg_ctl = f"{pg_bindir() / 'pg_ctl'} -D {cluster.data_dir} stop"
    stop = f"runuser -u postgres -- {pg_ctl}" if os.geteuid() == 0 else pg_ctl
    print(f"\nThe cluster keeps running. Connect with:\n  psql \"{cluster.conninfo(DEMO_DB)}\"\n"
          f"pg_cron runs the cycle at minute 0 of every hour (GMT). Watch it with:\n"
          f"  {trending} status --dsn {dsn}\n"
          f"  {trending} doctor --dsn {dsn}\n"
          f"  psql {dsn} -c 'SELECT * FROM cron.job_run_details ORDER BY runid DESC LIMIT 5'\n"
          f"Run a cycle now with:\n  {trending} recompute --dsn {dsn}\n"
          f"Stop and remove it with:\n  {stop} && rm -rf {cluster.dir}")
