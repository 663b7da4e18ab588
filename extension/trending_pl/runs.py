"""Run history (trending.runs) and the lock that keeps cycles from overlapping.

Every cycle is one row of trending.runs: 'running' while it works, then 'ok',
'failed' (with SQLSTATE and message) or, when its backend died, 'aborted'
(set by the next run). A call that finds another cycle running records a
'skipped' row and returns at once.

Both entry points take the same advisory lock: recompute() a transaction
lock (released at its commit or rollback), the scheduled procedure a session
lock (it commits between steps), released when it finishes or fails and, if
its backend dies, by the server.
"""

from __future__ import annotations

import json

# pg_try_advisory_*lock(int4, int4) key: 'tren' as an int4, then 1 for
# "recompute". pg_locks shows it as classid = 1953654126, objid = 1,
# objsubid = 2 (the trending.status view looks for exactly that).
LOCK_KEY = "1953654126, 1"


def try_lock(plpy, *, session: bool) -> bool:
    function = "pg_try_advisory_lock" if session else "pg_try_advisory_xact_lock"
    return bool(plpy.execute(f"SELECT pg_catalog.{function}({LOCK_KEY}) AS locked")[0]["locked"])


def unlock(plpy) -> None:
    """Release the session lock of a scheduled run (quietly if not held)."""
    plpy.execute(f"""
SELECT pg_catalog.pg_advisory_unlock({LOCK_KEY})
FROM pg_catalog.pg_locks
WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() AND granted
  AND classid = 1953654126 AND objid = 1 AND objsubid = 2
  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())""")


def running_pid(plpy):
    """The backend that holds the cycle lock in this database, if any."""
    rows = plpy.execute("""
SELECT pid FROM pg_catalog.pg_locks
WHERE locktype = 'advisory' AND granted AND classid = 1953654126 AND objid = 1 AND objsubid = 2
  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())""")
    return rows[0]["pid"] if rows else None


def start(plpy, trigger: str, now: str, plan: dict, retention: str) -> int:
    """Begin a run (the caller holds the lock): mark the runs of dead backends
    aborted, forget runs older than the retention, insert the 'running' row."""
    # Holding the lock means no other cycle is alive: a 'running' row left
    # now belongs to a backend that died (terminated, crashed) mid-cycle.
    plpy.execute("""
UPDATE trending.runs
SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(),
    message = pg_catalog.format('the run''s backend (pid %s) ended before the run finished', pid)
WHERE status = 'running'""")
    plpy.execute(f"""
DELETE FROM trending.runs
WHERE started_at < pg_catalog.now() - {plpy.quote_literal(retention)}::interval AND status <> 'running'""")
    row = plpy.execute(f"""
INSERT INTO trending.runs (trigger, status, cycle_now, source_schema, plan, wal_start_lsn)
VALUES ({plpy.quote_literal(trigger)}, 'running', {plpy.quote_literal(now)}::timestamptz,
        {plpy.quote_literal(plan['source_schema'])}, {plpy.quote_literal(json.dumps(plan))}::jsonb,
        pg_catalog.pg_current_wal_insert_lsn())
RETURNING run_id""")[0]
    return int(row["run_id"])


def skipped(plpy, trigger: str, now: str, holder) -> dict:
    """Record a call that found a cycle running; the summary it returns."""
    message = f"another cycle is running (pid {holder})" if holder else "another cycle is running"
    row = plpy.execute(f"""
INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, message)
VALUES ({plpy.quote_literal(trigger)}, 'skipped', pg_catalog.clock_timestamp(),
        {plpy.quote_literal(now)}::timestamptz, {plpy.quote_literal(message)})
RETURNING run_id""")[0]
    return {"status": "skipped", "run_id": int(row["run_id"]), "message": message}


def load(plpy, run_id: int) -> dict:
    row = plpy.execute(f"""
SELECT run_id, status, plan, pg_catalog.to_char(cycle_now AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00') AS now
FROM trending.runs WHERE run_id = {int(run_id)}""")
    if not row:
        plpy.error(f"trending: run {run_id} does not exist", sqlstate="22023")
    run = dict(row[0])
    run["plan"] = json.loads(run["plan"])
    return run


def record_step(plpy, run_id: int, name: str, ms: float, *, slice_key: str | None = None,
                slice_result: dict | None = None, bad_rows: dict | None = None) -> None:
    """Add one finished step to the run's row: its milliseconds and, for a
    slice, its row counts; for an input step, the bad rows it counted."""
    sets = [f"step_ms = step_ms || pg_catalog.jsonb_build_object({plpy.quote_literal(name)}, {float(ms)})"]
    if slice_key is not None:
        sets.append(f"slice_rows = slice_rows || pg_catalog.jsonb_build_object({plpy.quote_literal(slice_key)}, "
                    f"{plpy.quote_literal(json.dumps(slice_result))}::jsonb)")
    if bad_rows:
        sets.append(f"bad_rows = bad_rows || {plpy.quote_literal(json.dumps(bad_rows))}::jsonb")
    plpy.execute(f"UPDATE trending.runs SET {', '.join(sets)} WHERE run_id = {int(run_id)}")


def finish(plpy, run_id: int) -> dict:
    """Mark the run ok; return its row (with the WAL the cycle wrote)."""
    return dict(plpy.execute(f"""
UPDATE trending.runs
SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
    wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)
WHERE run_id = {int(run_id)}
RETURNING run_id, step_ms, slice_rows, bad_rows, wal_bytes,
          pg_catalog.round(EXTRACT(epoch FROM finished_at - started_at) * 1000, 1) AS ms""")[0])


def fail(plpy, run_id: int, error) -> None:
    """Record a failed run with the error's SQLSTATE, message, detail and hint."""
    fields = {"sqlstate": getattr(error, "sqlstate", None) or "XX000",
              "message": error_message(error),
              "detail": getattr(error, "detail", None),
              "hint": getattr(error, "hint", None)}
    values = ", ".join(f"{name} = {'NULL' if value is None else plpy.quote_literal(str(value))}"
                       for name, value in fields.items())
    plpy.execute(f"""
UPDATE trending.runs
SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), {values},
    wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)
WHERE run_id = {int(run_id)}""")


def error_message(error) -> str:
    text = str(error.args[0]) if getattr(error, "args", None) else str(error)
    return text or type(error).__name__
