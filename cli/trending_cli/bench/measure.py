"""What the runner reads from the server around a cycle.

All of it runs on the runner's own (superuser, autocommit) connection to the
contender's database, never on the contender's connection, except the stats
flush, which only the writing backend can force.
"""

from __future__ import annotations

import time

from psycopg import sql

ROW_COUNTERS = ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "n_tup_del")


def wal_lsn(conn) -> int:
    """The WAL insert position in bytes: the difference of two is the WAL a cycle wrote."""
    return int(conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()[0])


def _regclasses(conn, tables) -> list:
    return [t.as_string(conn) for t in tables]


def row_counters(conn, tables) -> dict:
    """Cumulative n_tup_* of the tables, summed. The writer must have flushed its
    stats first (pg_stat_force_next_flush() on its connection)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(sql.SQL("SELECT {} FROM pg_stat_user_tables WHERE relid = ANY(%s::regclass[])").format(
        sql.SQL(", ").join(sql.SQL("coalesce(sum({}), 0)::bigint").format(sql.Identifier(c))
                           for c in ROW_COUNTERS)), (_regclasses(conn, tables),)).fetchone()
    return dict(zip(ROW_COUNTERS, (int(v) for v in row)))


def rows_written(before: dict, after: dict) -> dict:
    delta = {key: after[key] - before[key] for key in ROW_COUNTERS}
    return {"inserted": delta["n_tup_ins"], "updated": delta["n_tup_upd"],
            "hot_updated": delta["n_tup_hot_upd"], "deleted": delta["n_tup_del"]}


def dead_tuples(conn, tables) -> int:
    """Dead tuples in the tables' heaps, by pgstattuple_approx. Its dead count is
    exact (every page not all-visible is read; an all-visible page has none),
    and unlike pgstattuple() it does not prune a page before counting it:
    pgstattuple()'s heap scan prunes nearly full pages first and would hide
    most of what a cycle left behind."""
    return int(conn.execute("SELECT coalesce(sum((pgstattuple_approx(r)).dead_tuple_count), 0)"
                            " FROM unnest(%s::regclass[]) AS r", (_regclasses(conn, tables),)).fetchone()[0])


def n_dead_tup(conn, tables) -> int:
    """The statistics' dead tuples: also counts the line pointers that pruning
    left dead (their index entries stay until VACUUM)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return int(conn.execute("SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"
                            " WHERE relid = ANY(%s::regclass[])", (_regclasses(conn, tables),)).fetchone()[0])


def total_size(conn, tables) -> int:
    """Bytes of the tables with their indexes (and TOAST)."""
    return int(conn.execute("SELECT coalesce(sum(pg_total_relation_size(r)), 0)"
                            " FROM unnest(%s::regclass[]) AS r", (_regclasses(conn, tables),)).fetchone()[0])


def vacuum_analyze(conn, targets) -> dict:
    """VACUUM (ANALYZE) each target, as the benchmark does between cycles: its
    time and WAL are a cost of the contender's write pattern too."""
    lsn, started = wal_lsn(conn), time.perf_counter()
    for target in targets:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(target))
    return {"vacuum_s": round(time.perf_counter() - started, 3), "vacuum_wal_bytes": wal_lsn(conn) - lsn}


def schema_heap_bytes(conn, schema: str) -> int:
    return int(conn.execute("SELECT coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_class c"
                            " JOIN pg_namespace n ON n.oid = c.relnamespace"
                            " WHERE n.nspname = %s AND c.relkind = 'r'", (schema,)).fetchone()[0])


def prewarm_schema(conn, schema: str) -> None:
    """Load the source tables' heaps into shared_buffers (pg_prewarm), so that
    every contender starts its cycle with the same cache, whatever ran before."""
    conn.execute("SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                 " WHERE n.nspname = %s AND c.relkind = 'r'", (schema,))


def shared_buffers_bytes(conn) -> int:
    return int(conn.execute("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
               .fetchone()[0])
