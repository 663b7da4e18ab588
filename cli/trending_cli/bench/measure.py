"""What the runner reads from the server around a cycle.

All of it runs on the runner's own (superuser, autocommit) connection to the
contender's database, never on the contender's connection, except the stats
flush, which only the writing backend can force.
"""

from __future__ import annotations

import shutil
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


def row_count(conn, table) -> int:
    """The table's rows (after VACUUM: an index-only count)."""
    return int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0])


def disk_usage(conn, databases) -> dict:
    """The databases' sizes, pg_wal's, and the space left on the data directory's
    file system: where a large run stands against its disk."""
    sizes = dict(conn.execute("SELECT datname, pg_database_size(datname) FROM pg_database"
                              " WHERE datname = ANY(%s)", (list(databases),)).fetchall())
    (wal,) = conn.execute("SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()").fetchone()
    (data_dir,) = conn.execute("SELECT current_setting('data_directory')").fetchone()
    return {"databases": {name: int(sizes.get(name, 0)) for name in databases}, "wal_bytes": int(wal),
            "free_bytes": shutil.disk_usage(data_dir).free}


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


# ---------------------------------------------------------------------------
# blocks touched (pg_stat_statements) and the WAL's make-up (pg_walinspect)
# ---------------------------------------------------------------------------
READER_ROLE = "bench_reader"
BLOCK_COLUMNS = ("shared_blks_hit", "shared_blks_read", "shared_blks_dirtied", "shared_blks_written",
                 "local_blks_hit", "local_blks_read", "local_blks_dirtied", "local_blks_written",
                 "temp_blks_read", "temp_blks_written")
# touched = hit + read + written over shared, local and temp blocks (dirtied is
# a subset of hit/read: reported, never added)
TOUCHED = ("shared_blks_hit", "shared_blks_read", "shared_blks_written", "local_blks_hit", "local_blks_read",
           "local_blks_written", "temp_blks_read", "temp_blks_written")


def create_reader_role(conn) -> None:
    """The API reader's own role (it may read everything, write nothing), so that
    pg_stat_statements tells its statements from the cycle's."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_read_all_data").format(sql.Identifier(READER_ROLE)))


def statements_reset(conn) -> None:
    """Forget every statement's counters (cluster-wide): right before a cycle."""
    conn.execute("SELECT pg_stat_statements_reset()")


def cycle_blocks(conn, top: int = 5) -> dict:
    """Blocks the cycle's statements touched since statements_reset(): the
    top-level statements run by the current user (the cycle's role; the reader
    has its own) in this database, minus the runner's own pg_stat_statements
    calls. A top-level statement's counters include its nested ones (a function's
    statements), so only top-level rows are summed; with track = all the nested
    rows are there too, for the breakdown: the `top` costliest statements."""
    where = ("s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
             " AND s.userid = current_user::regrole AND s.query NOT LIKE '%%pg_stat_statements%%'")
    sums = sql.SQL(", ").join(sql.SQL("coalesce(sum({}), 0)::bigint").format(sql.Identifier(c))
                              for c in BLOCK_COLUMNS + ("wal_records", "wal_fpi"))
    row = conn.execute(sql.SQL("SELECT {}, count(*) FROM pg_stat_statements s WHERE s.toplevel AND "
                               + where).format(sums)).fetchone()
    result = dict(zip(BLOCK_COLUMNS + ("wal_records", "wal_fpi", "statements"), (int(v) for v in row)))
    result["touched"] = sum(result[c] for c in TOUCHED)
    touched = sql.SQL(" + ").join(sql.Identifier(c) for c in TOUCHED)
    result["top"] = [
        {"query": " ".join(q.split())[:160], "toplevel": toplevel, "calls": calls, "touched": int(blocks),
         "ms": round(ms, 1)}
        for q, toplevel, calls, blocks, ms in conn.execute(sql.SQL(
            "SELECT query, toplevel, calls, {touched}, total_exec_time FROM pg_stat_statements s"
            " WHERE NOT s.toplevel AND " + where + " ORDER BY 4 DESC LIMIT %s").format(touched=touched),
            (top,)).fetchall()]
    return result


def wal_split(conn, start_lsn: int, end_lsn: int) -> dict:
    """The WAL between two positions (bytes from wal_lsn()) by pg_walinspect:
    full-page images against the records themselves, and by resource manager."""
    rows = conn.execute(
        "SELECT \"resource_manager/record_type\", count, record_size, fpi_size, combined_size"
        " FROM pg_get_wal_stats(%s::pg_lsn, least(%s::pg_lsn, pg_current_wal_flush_lsn()), false)"
        " WHERE count > 0", (_lsn_text(start_lsn), _lsn_text(end_lsn))).fetchall()
    by_rm = {rm: {"records": int(n), "record_bytes": int(rec), "fpi_bytes": int(fpi)} for rm, n, rec, fpi, _ in rows}
    return {"records": sum(v["records"] for v in by_rm.values()),
            "record_bytes": sum(v["record_bytes"] for v in by_rm.values()),
            "fpi_bytes": sum(v["fpi_bytes"] for v in by_rm.values()), "by_rm": by_rm}


def _lsn_text(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"
