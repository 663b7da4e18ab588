"""What the change capture costs the service's writers (issues 9 and 16, docs/incremental.md).

    python -m trending_cli.bench.capture_cost [--scale small] [--runs 9] [--versions 1.1,1.2]
                                              [--output docs/bench/capture-cost-1.2.md]

Starts a durable throwaway cluster (fsync and full-page writes on, the
benchmark's server settings) and, per extension version asked (default: the
released 1.1 and the current one, side by side), a database with that
version (CREATE EXTENSION trending VERSION ...), the sample data at the
scale asked (the same in each) and the capture installed. Then times the
writers' statements the issues name, each in its own committed transaction,
rounds alternating between the versions:

- insert_plays: one INSERT of 10,000 plays (of the last hour, 2% of them
  hours to days late) into plays;
- update_followers: one UPDATE of follower_count of 1,000 random users in
  aggregate_user;
- update_one_follower and insert_one_play: one-row statements (the
  trigger's fixed cost against a statement's), save_flips: one UPDATE
  flipping is_delete on 1,000 current saves, and insert_saves: one INSERT of
  1,000 saves.

Runs alternate with the capture triggers on and off (ALTER TABLE ... DISABLE
TRIGGER, outside the timed transaction, then a rolled-back warm-up), so both
see the same table sizes and cache state; the delta tables are emptied between runs (a cycle prunes
them every hour). Reported per version: the median wall time of statement +
COMMIT, the WAL the writer's transaction wrote (pg_current_wal_insert_lsn
around it, on an otherwise idle cluster), the overhead, the delta rows
written and the locks the writer's transaction holds at its end (relation
locks, and those on trending's relations); and, between the versions, the
ratio of the milliseconds the capture adds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from trending_cli.bench.runner import SERVER_SETTINGS
from trending_cli.cluster import Cluster
from trending_cli.sample_data import generate

AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)
TARGET = 0.05

WORKLOADS = {
    "insert_plays": ("plays", "trending_capture_insert", """
        INSERT INTO plays (user_id, play_item_id, created_at)
        SELECT CASE WHEN random() < 0.8 THEN 1 + floor(random() * {users})::int END,
               1 + floor(random() ^ 2 * {tracks})::int,
               CASE WHEN random() < 0.02 THEN %(as_of)s - random() * interval '3 days'
                    ELSE %(as_of)s - random() * interval '1 hour' END
        FROM generate_series(1, 10000)"""),
    "update_followers": ("aggregate_user", "trending_capture_update", """
        UPDATE aggregate_user SET follower_count = follower_count + 1
        WHERE user_id IN (SELECT 1 + floor(random() * {users})::int FROM generate_series(1, 1000))"""),
    "update_one_follower": ("aggregate_user", "trending_capture_update", """
        UPDATE aggregate_user SET follower_count = follower_count + 1
        WHERE user_id = (SELECT 1 + floor(random() * {users})::int)"""),
    "insert_one_play": ("plays", "trending_capture_insert", """
        INSERT INTO plays (user_id, play_item_id, created_at)
        VALUES (1 + floor(random() * {users})::int, 1 + floor(random() * {tracks})::int,
                %(as_of)s - random() * interval '1 hour')"""),
    "save_flips": ("saves", "trending_capture_update", """
        UPDATE saves SET is_delete = NOT is_delete
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM saves TABLESAMPLE SYSTEM (1) WHERE is_current LIMIT 1000))"""),
    "insert_saves": ("saves", "trending_capture_insert", """
        INSERT INTO saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash)
        SELECT 1 + floor(random() * {users})::int, 1 + floor(random() * {tracks})::int, 'track',
               true, false, %(as_of)s - random() * interval '1 hour', 'bench-' || g || '-' || %(run)s
        FROM generate_series(1, 1000) g
        ON CONFLICT DO NOTHING"""),
}
PRIMARY = ("insert_plays", "update_followers")
SINGLE_ROW = ("update_one_follower", "insert_one_play")
SINGLE_ROW_RATIO = 1.3  # the 1.2 capture may add at most 1.3x the milliseconds 1.1's adds to a one-row statement

# the relation locks the writer's transaction holds at its end (before COMMIT)
LOCKS = """
SELECT count(*), COALESCE(array_agg(DISTINCT c.relname::text ORDER BY c.relname::text)
                              FILTER (WHERE c.relnamespace = 'trending'::regnamespace), '{}')
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'"""


def measure(conn, workload: str, capture_on: bool, run: int, volumes: dict) -> dict:
    table, trigger, statement = WORKLOADS[workload]
    action = "ENABLE ALWAYS" if capture_on else "DISABLE"
    conn.execute(f"ALTER TABLE {table} {action} TRIGGER {trigger}")
    # DELETE, as a cycle prunes (a TRUNCATE would invalidate the trigger's cached plans)
    conn.execute("DELETE FROM trending._capture_changes")
    conn.execute("DELETE FROM trending._capture_plays")
    # warm-up, rolled back: the ALTER TABLE above invalidated the table's
    # cached catalog entries and plans, which a writer running with a stable
    # catalog does not pay for on every statement
    with conn.transaction(force_rollback=True):
        conn.execute(statement.format(**volumes), {"as_of": AS_OF.replace(tzinfo=None), "run": -run - 100})
    start_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    t0 = time.perf_counter()
    with conn.transaction():
        conn.execute(statement.format(**volumes), {"as_of": AS_OF.replace(tzinfo=None), "run": run})
        lock_ms = time.perf_counter()
        locks, trending_locks = conn.execute(LOCKS).fetchone()
        lock_ms = time.perf_counter() - lock_ms  # left out of the statement's time
    elapsed = time.perf_counter() - t0 - lock_ms
    end_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    wal = conn.execute("SELECT pg_wal_lsn_diff(%s, %s)", (end_lsn, start_lsn)).fetchone()[0]
    # WAL records that touch the capture's own relations (delta tables, their
    # TOAST tables and TOAST indexes, the sequence), found with pg_walinspect
    nodes = {r[0] for r in conn.execute(
        "SELECT pg_relation_filenode(c.oid)::text FROM pg_class c "
        "WHERE c.relnamespace = 'trending'::regnamespace AND c.relname LIKE '\\_capture\\_%%' "
        "UNION SELECT pg_relation_filenode(c.reltoastrelid)::text FROM pg_class c "
        "WHERE c.relnamespace = 'trending'::regnamespace AND c.relname LIKE '\\_capture\\_%%' AND c.reltoastrelid <> 0 "
        "UNION SELECT pg_relation_filenode(i.indexrelid)::text FROM pg_class c JOIN pg_index i ON i.indrelid = c.reltoastrelid "
        "WHERE c.relnamespace = 'trending'::regnamespace AND c.relname LIKE '\\_capture\\_%%'").fetchall()
        if r[0] is not None}
    # pg_walinspect reads flushed WAL only; a statement that changed nothing wrote none
    records = conn.execute(
        "SELECT record_length, block_ref FROM pg_current_wal_flush_lsn() f, "
        "LATERAL pg_get_wal_records_info(%s, least(%s::pg_lsn, f)) WHERE %s::pg_lsn < f",
        (start_lsn, end_lsn, start_lsn)).fetchall()
    capture_wal = sum(length for length, refs in records
                      if refs and any(f"/{node} " in refs + " " for node in nodes))
    deltas = conn.execute("SELECT (SELECT count(*) FROM trending._capture_changes) "
                          "+ (SELECT count(*) FROM trending._capture_plays)").fetchone()[0]
    return {"ms": elapsed * 1000, "wal": int(wal), "capture_wal": int(capture_wal), "delta_rows": deltas,
            "locks": int(locks), "trending_locks": list(trending_locks)}


def trigger_share(conn, workload: str, run: int, volumes: dict) -> dict:
    """The capture trigger's own time, as EXPLAIN ANALYZE reports it, against
    the statement's execution time: less sensitive to a busy machine than
    the difference of two wall-time medians (a rolled-back transaction)."""
    table, trigger, statement = WORKLOADS[workload]
    conn.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")
    with conn.transaction(force_rollback=True):  # warm-up (see measure)
        conn.execute(statement.format(**volumes), {"as_of": AS_OF.replace(tzinfo=None), "run": 20_000 + run})
    with conn.transaction(force_rollback=True):
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.format(**volumes),
                            {"as_of": AS_OF.replace(tzinfo=None), "run": 10_000 + run}).fetchone()[0][0]
    trigger_ms = sum(t["Time"] for t in plan.get("Triggers", []) if t["Trigger Name"].startswith("trending_capture"))
    return {"trigger_ms": trigger_ms, "execution_ms": plan["Execution Time"]}


def _prepare(cluster, version: str, scale: str, progress) -> tuple[psycopg.Connection, dict, dict]:
    """A database with trending `version`, the sample data and the capture installed."""
    database = "capture_" + version.replace(".", "_")
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    conn = psycopg.connect(cluster.conninfo(database), autocommit=True)
    conn.execute(sql.SQL("CREATE EXTENSION trending VERSION {} CASCADE").format(sql.Literal(version)))
    progress(f"{version}: generating scale {scale} ...")
    counts = generate(conn, "public", scale=scale, as_of=AS_OF)
    conn.execute("CREATE EXTENSION pg_walinspect")  # after generate(), which recreates schema public
    conn.execute("SET client_min_messages = warning")
    conn.execute("SELECT trending.install_capture()")
    # a full cycle arms it (1.2's triggers record from the install on, but
    # only an armed capture is what a service runs with)
    conn.execute("SELECT trending.recompute(%s, true)", (AS_OF,))
    assert conn.execute("SELECT armed FROM trending.capture_status").fetchone()[0]
    conn.execute("VACUUM ANALYZE")
    conn.execute("CHECKPOINT")  # then none during the runs (checkpoint_timeout 1h)
    settings = dict(conn.execute(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('fsync', 'full_page_writes', 'synchronous_commit', 'shared_buffers', 'wal_level')").fetchall())
    return conn, {"users": counts["users"], "tracks": counts["tracks"]}, settings


def _summarize(samples: dict, shares: list) -> dict:
    trig_ms = statistics.median(x["trigger_ms"] for x in shares)
    exec_ms = statistics.median(x["execution_ms"] for x in shares)
    off = statistics.median(s["ms"] for s in samples[False])
    on = statistics.median(s["ms"] for s in samples[True])
    wal_off = statistics.median(s["wal"] for s in samples[False])
    wal_on = statistics.median(s["wal"] for s in samples[True])
    return {
        "ms_off": round(off, 3), "ms_on": round(on, 3), "overhead": round(on / off - 1, 4),
        "added_ms": round(on - off, 3),
        "wal_off": int(wal_off), "wal_on": int(wal_on), "wal_added": int(wal_on - wal_off),
        "capture_wal": max(s["capture_wal"] for s in samples[True]),
        "delta_rows": int(statistics.median(s["delta_rows"] for s in samples[True])),
        "locks_off": max(s["locks"] for s in samples[False]), "locks_on": max(s["locks"] for s in samples[True]),
        "trending_locks": sorted({name for s in samples[True] for name in s["trending_locks"]}),
        "trigger_ms": round(trig_ms, 3), "execution_ms": round(exec_ms, 2),
        "trigger_share": round(trig_ms / (exec_ms - trig_ms), 4),
        "ms_off_all": [round(s["ms"], 2) for s in samples[False]],
        "ms_on_all": [round(s["ms"], 2) for s in samples[True]],
    }


def run(scale: str, runs: int, versions=("1.1", "1.2"), progress=print) -> dict:
    with Cluster(settings=SERVER_SETTINGS, fast=False, name=f"trending-capture-cost-{scale}") as cluster:
        prepared = {v: _prepare(cluster, v, scale, progress) for v in versions}
        try:
            settings = next(iter(prepared.values()))[2]
            results = {v: {} for v in versions}
            for workload in WORKLOADS:
                samples = {v: {True: [], False: []} for v in versions}
                for v, (conn, volumes, _) in prepared.items():  # warm-up
                    measure(conn, workload, True, -1, volumes)
                    measure(conn, workload, False, -2, volumes)
                for i in range(runs):
                    order = (False, True) if i % 2 == 0 else (True, False)
                    for v in (versions if i % 2 == 0 else tuple(reversed(versions))):
                        conn, volumes, _ = prepared[v]
                        for capture_on in order:
                            samples[v][capture_on].append(
                                measure(conn, workload, capture_on, i * 2 + capture_on, volumes))
                for v, (conn, volumes, _) in prepared.items():
                    shares = [trigger_share(conn, workload, i, volumes) for i in range(runs)]
                    r = results[v][workload] = _summarize(samples[v], shares)
                    progress(f"{v} {workload}: {r['ms_off']:.2f} ms -> {r['ms_on']:.2f} ms "
                             f"({r['overhead'] * 100:+.1f}%, {r['added_ms']:+.3f} ms), WAL {r['wal_off']} -> "
                             f"{r['wal_on']} B, locks {r['locks_off']} -> {r['locks_on']}; trigger "
                             f"{r['trigger_ms']:.3f} ms of {r['execution_ms']:.2f} ms")
            rows = {}
            for v, (conn, _, _) in prepared.items():
                conn.execute("SELECT trending.uninstall_capture()")
                rows = dict(conn.execute(
                    "SELECT relname, n_live_tup FROM pg_stat_user_tables "
                    "WHERE relname IN ('plays', 'aggregate_user', 'saves')").fetchall())
        finally:
            for conn, _, _ in prepared.values():
                conn.close()
    return {"scale": scale, "runs": runs, "versions": list(versions), "settings": settings, "table_rows": rows,
            "results": results, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def report(result: dict) -> str:
    versions = result["versions"]
    lines = [
        "# Change capture: cost to the writers",
        "",
        "Generated by `python -m trending_cli.bench.capture_cost --scale {scale} --runs {runs} --versions {vs}` "
        "({measured_at}); see docs/incremental.md for the design.".format(vs=",".join(versions), **result),
        "",
        "A durable cluster (fsync {fsync}, full_page_writes {full_page_writes}, synchronous_commit "
        "{synchronous_commit}, shared_buffers {shared_buffers}), one database per extension version with the "
        "same sample data at scale {scale} (plays {plays}, aggregate_user {aggregate_user}, saves {saves} rows "
        "at the end) and the capture installed. Each figure is the median of {runs} runs of one statement + "
        "COMMIT in its own transaction, runs alternating with the capture trigger enabled and disabled and "
        "between the versions (no checkpoint during the runs, so few full-page images); WAL is the writer's "
        "transaction's (pg_current_wal_insert_lsn around it); locks are the relation locks the writer's "
        "transaction holds before COMMIT (with the capture: and on which of trending's relations). "
        "\"Trigger's own time\" is the median, over as many more runs with the capture on (rolled back), of "
        "the time EXPLAIN ANALYZE reports for the capture trigger, and the next column divides it by the rest "
        "of the statement's execution time: the wall-time difference includes the noise of a shared machine, "
        "this one does not. Targets: overhead <= 5% for statements of 1,000 rows or more; for one-row "
        "statements, the milliseconds added by {last} within {ratio}x of {first}'s.".format(
            scale=result["scale"], runs=result["runs"], plays=result["table_rows"].get("plays"),
            aggregate_user=result["table_rows"].get("aggregate_user"), saves=result["table_rows"].get("saves"),
            first=versions[0], last=versions[-1], ratio=SINGLE_ROW_RATIO,
            **{k: result["settings"].get(k) for k in ("fsync", "full_page_writes", "synchronous_commit",
                                                      "shared_buffers")}),
        "",
        "| version | writer statement | without capture | with capture | overhead (wall) | added | "
        "trigger's own time | overhead (trigger / rest) | WAL without | WAL with | WAL of the capture's relations | "
        "locks without / with | trending's relations locked | delta rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in versions:
        for name, r in result["results"][v].items():
            mark = "" if name in PRIMARY else " (extra)" if name not in SINGLE_ROW else " (one row)"
            verdict = "" if name not in PRIMARY else (" ✓" if r["overhead"] <= TARGET else " ✗")
            lines.append(f"| {v} | {name}{mark} | {r['ms_off']:.2f} ms | {r['ms_on']:.2f} ms | "
                         f"{r['overhead'] * 100:+.1f}%{verdict} | {r['added_ms']:+.3f} ms | {r['trigger_ms']:.3f} ms | "
                         f"{r['trigger_share'] * 100:.1f}% | {r['wal_off']:,} B | {r['wal_on']:,} B | "
                         f"{r['capture_wal']:,} B | {r['locks_off']} / {r['locks_on']} | "
                         f"{', '.join(r['trending_locks']) or '-'} | {r['delta_rows']:,} |")
    if len(versions) > 1:
        first, last = versions[0], versions[-1]
        lines += ["", f"{last} against {first}:", "",
                  "| writer statement | added by the capture, " + first + " | added, " + last
                  + " | ratio | trigger's own time, " + first + " | " + last + " | ratio |",
                  "|---|---|---|---|---|---|---|"]
        for name in WORKLOADS:
            a, b = result["results"][first][name], result["results"][last][name]
            ratio = b["added_ms"] / a["added_ms"] if a["added_ms"] > 0 else float("nan")
            trig = b["trigger_ms"] / a["trigger_ms"] if a["trigger_ms"] > 0 else float("nan")
            verdict = "" if name not in SINGLE_ROW else (" ✓" if trig <= SINGLE_ROW_RATIO else " ✗")
            lines.append(f"| {name} | {a['added_ms']:+.3f} ms | {b['added_ms']:+.3f} ms | {ratio:.2f} | "
                         f"{a['trigger_ms']:.3f} ms | {b['trigger_ms']:.3f} ms | {trig:.2f}{verdict} |")
    lines += ["", "All runs (ms, without / with):", ""]
    for v in versions:
        for name, r in result["results"][v].items():
            lines.append(f"- {v} {name}: {r['ms_off_all']} / {r['ms_on_all']}")
    lines += ["", "<!-- raw: " + json.dumps(result, sort_keys=True) + " -->", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "medium"))
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--versions", default="1.1,1.2",
                        help="extension versions to measure side by side, comma-separated (default 1.1,1.2)")
    parser.add_argument("--output", type=Path, default=Path("docs/bench/capture-cost-1.2.md"))
    args = parser.parse_args(argv)
    result = run(args.scale, args.runs, tuple(v.strip() for v in args.versions.split(",") if v.strip()),
                 progress=lambda m: print(m, file=sys.stderr, flush=True))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report(result), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
