"""`trending demo`: the embedded default.

A throwaway local PostgreSQL cluster, sample data from the generator, CREATE
EXTENSION, one cycle, the top lists and the cycle's summary. Nothing outside
the temp directory is touched; the cluster is removed at the end unless
--keep is given.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import psycopg

from .cluster import Cluster, pg_bindir
from .output import table
from .sample_data import generate

DEMO_DB = "music"
SOURCE_SCHEMA = "public"


class DemoError(RuntimeError):
    """An expected failure, with a hint for the user."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def run(*, scale: str = "tiny", seed: int = 1, keep: bool = False, as_json: bool = False,
        out=print) -> dict:
    """Run the demo; returns the cycle's summary."""
    cluster = Cluster(name="trending-demo")
    cluster.start()
    try:
        summary = _demo(cluster, scale, seed, as_json, out)
    except BaseException:
        cluster.stop()
        raise
    if keep:
        out(f"\nThe cluster keeps running. Connect with:\n  psql \"{cluster.conninfo(DEMO_DB)}\"\n"
            f"Stop and remove it with:\n"
            f"  runuser -u postgres -- {pg_bindir() / 'pg_ctl'} -D {cluster.data_dir} stop && rm -rf {cluster.dir}")
    else:
        cluster.stop()
    return summary


def _demo(cluster: Cluster, scale: str, seed: int, as_json: bool, out) -> dict:
    out(f"trending demo: a throwaway PostgreSQL cluster in {cluster.dir} (unix socket only)")
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DEMO_DB}")
        if admin.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'trending'").fetchone() is None:
            raise DemoError("the trending extension is not installed into this PostgreSQL",
                            "run `make install` (as root) in the trending checkout")

    with psycopg.connect(cluster.conninfo(DEMO_DB), autocommit=True) as conn:
        started = time.monotonic()
        counts = generate(conn, SOURCE_SCHEMA, scale=scale, seed=seed, as_of=datetime.now(timezone.utc))
        out(f"sample data: scale {scale}, seed {seed}: "
            + ", ".join(f"{counts[t]:,} {t}" for t in ("tracks", "users", "plays", "saves", "reposts", "playlists")
                        if t in counts)
            + f" ({time.monotonic() - started:.1f} s)")

        conn.execute("CREATE EXTENSION trending CASCADE")
        out("CREATE EXTENSION trending: version "
            + conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'trending'").fetchone()[0])
        (summary,) = conn.execute("SELECT trending.recompute()").fetchone()
        out(f"SELECT trending.recompute(): {summary['status']} in {summary['ms']:,.0f} ms\n")

        top = conn.execute("SELECT rank, track_id, score, genre FROM trending.top_tracks('week', lim => 10)").fetchall()
        _print_list(out, "Top 10 tracks of the week", ["rank", "track_id", "score", "genre"], top)
        genre = next((row[3] for row in top if row[3]), None)
        if genre:
            rows = conn.execute("SELECT rank, track_id, score, genre FROM trending.top_tracks('week', %s, lim => 10)",
                                (genre,)).fetchall()
            _print_list(out, f"Top 10 {genre} tracks of the week", ["rank", "track_id", "score", "genre"], rows)
        rows = conn.execute("SELECT rank, playlist_id, score FROM trending.top_playlists('week', lim => 5)").fetchall()
        _print_list(out, "Top 5 playlists of the week", ["rank", "playlist_id", "score"], rows)

        out("The cycle's summary")
        out(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    return summary


def _print_list(out, title: str, headers: list[str], rows: list) -> None:
    out(title)
    out(table(headers, [list(r) for r in rows]) if rows else "(no rows)")
    out("")


RANGE_ORDER = ("week", "month", "year", "allTime")
STEP_ORDER = ("check_sources", "track_inputs", "playlist_inputs", "slices")


def _ordered(keys, order) -> list:
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def format_summary(summary: dict) -> str:
    """The summary as a table per strategy and range, then steps and bad rows.
    (jsonb sorts object keys by length; put them back in reading order.)"""
    rows = []
    strategies = summary["strategies"]
    for key in sorted(strategies, key=lambda k: (not strategies[k]["enabled"], k)):
        strategy = strategies[key]
        for time_range in _ordered(strategy["ranges"], RANGE_ORDER):
            c = strategy["ranges"][time_range]
            rows.append([key if strategy["enabled"] else f"{key} (off)", time_range, c["inserted"], c["updated"],
                         c["deleted"], c["unchanged"], f"{c['ms']:.1f}"])
    lines = [table(["strategy", "range", "inserted", "updated", "deleted", "unchanged", "ms"], rows,
                   align="llrrrrr")]
    steps = summary["steps"]
    lines.append("steps (ms): " + ", ".join(f"{k} {steps[k]:,.1f}" for k in _ordered(steps, STEP_ORDER))
                 + f"; total {summary['ms']:,.1f}")
    lines.append("bad rows: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["bad_rows"].items())
                                          if v is not None))
    lines.append(f"now {summary['now']} UTC, source schema {summary['source_schema']}")
    return "\n".join(lines)
