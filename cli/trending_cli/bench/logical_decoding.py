"""The alternative to trigger capture, measured (issue 16, item 1): logical decoding.

    python -m trending_cli.bench.logical_decoding [--scale small] [--runs 5]
                                                  [--output docs/bench/logical-decoding.md]

Two durable throwaway clusters with the benchmark's server settings, the
sample data at the scale asked, and no trending capture: one at
wal_level = replica (what the trigger capture runs with), one at
wal_level = logical with a publication of the ten source tables
(publish_via_partition_root) and a pgoutput slot, as a decoding capture
would need. The same writer statements as capture_cost, each in its own
committed transaction, in both: the WAL each writer's transaction writes.
Then, on the logical cluster, what a cycle would pay to learn what those
statements changed: the time to decode the slot's changes
(pg_logical_slot_get_binary_changes), per statement, and how many messages
that is. Medians of --runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from trending_cli.bench.capture_cost import AS_OF, WORKLOADS
from trending_cli.bench.runner import SERVER_SETTINGS
from trending_cli.cluster import Cluster
from trending_cli.sample_data import generate

SOURCES = ("tracks", "plays", "saves", "reposts", "users", "playlists", "aggregate_user", "aggregate_track",
           "aggregate_plays", "aggregate_playlist")
DECODE = ("SELECT count(*) FROM pg_logical_slot_get_binary_changes('trending_bench', NULL, NULL, "
          "'proto_version', '1', 'publication_names', 'trending_bench')")


def _write(conn, workload: str, run: int, volumes: dict) -> int:
    """One writer statement in its own transaction; the WAL it wrote."""
    statement = WORKLOADS[workload][2]
    start = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    with conn.transaction():
        conn.execute(statement.format(**volumes), {"as_of": AS_OF.replace(tzinfo=None), "run": run})
    end = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    return int(conn.execute("SELECT pg_wal_lsn_diff(%s, %s)", (end, start)).fetchone()[0])


def _measure(wal_level: str, scale: str, runs: int, progress) -> dict:
    settings = dict(SERVER_SETTINGS, wal_level=wal_level, max_replication_slots="4", max_wal_senders="4")
    with Cluster(settings=settings, fast=False, name=f"trending-decoding-{wal_level}") as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            progress(f"wal_level {wal_level}: generating scale {scale} ...")
            counts = generate(conn, "public", scale=scale, as_of=AS_OF)
            volumes = {"users": counts["users"], "tracks": counts["tracks"]}
            logical = wal_level == "logical"
            if logical:
                conn.execute(f"CREATE PUBLICATION trending_bench FOR TABLE {', '.join(SOURCES)} "
                             "WITH (publish_via_partition_root = true)")
                conn.execute("SELECT pg_create_logical_replication_slot('trending_bench', 'pgoutput')")
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
            result = {}
            for workload in WORKLOADS:
                wal, decode_ms, messages = [], [], []
                for run in range(-1, runs):  # run -1 warms up
                    if logical:
                        conn.execute(DECODE)  # the slot starts empty
                    written = _write(conn, workload, run, volumes)
                    if logical:
                        t0 = time.perf_counter()
                        (n,) = conn.execute(DECODE).fetchone()
                        elapsed = (time.perf_counter() - t0) * 1000
                    if run >= 0:
                        wal.append(written)
                        if logical:
                            decode_ms.append(elapsed)
                            messages.append(n)
                result[workload] = {"wal": statistics.median(wal),
                                    "decode_ms": statistics.median(decode_ms) if logical else None,
                                    "messages": statistics.median(messages) if logical else None}
                progress(f"wal_level {wal_level} {workload}: WAL {result[workload]['wal']:,.0f} B"
                         + (f", decoded in {result[workload]['decode_ms']:.2f} ms" if logical else ""))
            if logical:
                conn.execute("SELECT pg_drop_replication_slot('trending_bench')")
    return result


def run(scale: str, runs: int, progress=print) -> dict:
    return {"scale": scale, "runs": runs, "replica": _measure("replica", scale, runs, progress),
            "logical": _measure("logical", scale, runs, progress),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def report(result: dict) -> str:
    lines = [
        "# Logical decoding instead of trigger capture: what it costs",
        "",
        f"Generated by `python -m trending_cli.bench.logical_decoding --scale {result['scale']} "
        f"--runs {result['runs']}` ({result['measured_at']}); see docs/incremental.md for the choice. "
        "Durable clusters, the sample data, no trending capture; medians.",
        "",
        "| writer statement | WAL, wal_level replica | WAL, wal_level logical | logical / replica "
        "| decoding its changes (pgoutput) | messages decoded |",
        "|---|---|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        r, lg = result["replica"][workload], result["logical"][workload]
        ratio = lg["wal"] / r["wal"] if r["wal"] else float("nan")
        lines.append(f"| {workload} | {r['wal']:,.0f} B | {lg['wal']:,.0f} B | {ratio:.2f}x "
                     f"| {lg['decode_ms']:.2f} ms | {lg['messages']:,.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path,
                        default=Path(__file__).resolve().parents[3] / "docs" / "bench" / "logical-decoding.md")
    args = parser.parse_args(argv)
    args.output.write_text(report(run(args.scale, args.runs)))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
