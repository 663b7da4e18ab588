"""Run history (trending.runs) and the lock that keeps cycles from overlapping.

Every cycle is one row of trending.runs: 'running' while it works, then 'ok',
'failed' (with SQLSTATE and message) or, when its backend died, 'aborted'
(set by the next run). A call that finds another cycle running records a
'skipped' row and returns at once.

Both entry points take the same advisory lock: recompute() a transaction
lock (released at its commit or rollback), the scheduled procedure a session
lock (it commits between steps), released when it finishes or fails and, if
its backend dies, by the server.

A role that runs cycles has no write privilege on trending.runs: every
write goes through a SECURITY DEFINER function (trending._run_*) that checks
the run is the caller's own (sql/functions/_own_run.sql).
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


def release_leftover(plpy) -> None:
    """Before a new run: a scheduled run interrupted between two steps (a
    cancel landing in the procedure's own COMMIT) leaves this session holding
    the cycle lock, and advisory locks are re-entrant, so a new run's single
    unlock would leave it held and every other session's cycle skipped. Drop
    every hold this session has and forget its runs; the new run marks the
    leftover 'running' row aborted. (An unfinished run in this session's
    memory is the sign: a finished or failed one is forgotten.)"""
    if not _RUNS:
        return
    _RUNS.clear()
    for _ in range(1000):  # one hold per interrupted call at most; bounded anyway
        held = plpy.execute(f"""
SELECT pg_catalog.pg_advisory_unlock({LOCK_KEY}) AS released
FROM pg_catalog.pg_locks
WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() AND granted AND mode = 'ExclusiveLock'
  AND classid = 1953654126 AND objid = 1 AND objsubid = 2
  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())""")
        if not held or not held[0]["released"]:
            return


def warn_if_before_current_scores(plpy, now: str) -> None:
    """A cycle at a now earlier than the stored scores' runs (a DBA may mean
    it), but rewrites the live lists as of that earlier time, counting every
    later event: say so. (trending.status, not trending.runs: a role that
    runs cycles may not read the history table itself.)"""
    row = plpy.execute(plpy.prepare("""
SELECT pg_catalog.to_char(s.scores_as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS scores_as_of,
       s.scores_as_of > $1 AS later
FROM trending.status s""", ["timestamptz"]), [now])
    if row and row[0]["later"]:
        plpy.warning(f"trending: this cycle's now is earlier than the current scores' "
                     f"({row[0]['scores_as_of']} UTC): the live score tables go back in time",
                     hint="trending.preview(now) shows what a cycle at another time would write, "
                          "without writing it; trending.recompute() with no argument computes as of now.")


# The runs this session is running, by run id: the plan fixed when the run
# started, `now`, the next step to run and what the steps left for later
# ones (the score tables' filenodes; the change capture's watermark, its
# fingerprint and whether it settled, taken by the first step and used by
# the last: cycle.begin_capture, cycle.finish_capture). A run's plan is never re-read from trending.runs (whose plan column
# is a record only): the scheduled procedure's steps are transactions of the
# same session, so they find it here, and a session that did not start a
# run cannot continue it.
_RUNS: dict[int, dict] = {}


def _one(plpy, query: str, types: list[str], args: list):
    return plpy.execute(plpy.prepare(query, types), args)[0]


def _current_user(plpy) -> str:
    return plpy.execute("SELECT CURRENT_USER::text AS u")[0]["u"]


def start(plpy, trigger: str, now: str, plan: dict) -> dict:
    """Begin a run (the caller holds the lock): trending._run_begin marks the
    runs of dead backends aborted, forgets runs older than the retention and
    inserts the 'running' row. The run's state, kept in this session."""
    row = _one(plpy, "SELECT trending._run_begin($1, $2, $3, $4) AS run_id",
               ["text", "timestamptz", "name", "jsonb"], [trigger, now, _current_user(plpy), json.dumps(plan)])
    run = {"run_id": int(row["run_id"]), "now": now, "plan": plan, "next": 0, "filenodes": {}}
    _RUNS[run["run_id"]] = run
    return run


def mine(plpy, run_id: int, index: int) -> dict:
    """The state of run `run_id` for its step `index`, if this session
    started the run and the run's row agrees (pid = this backend, status
    'running', the cycle lock held: trending._own_run). Raises 42501 for
    another session's run; 55000 for a run not running, or one this
    session's memory does not hold, or a step out of order."""
    _one(plpy, "SELECT trending._own_run($1) AS ok", ["bigint"], [run_id])
    run = _RUNS.get(run_id)
    if run is None:
        plpy.error(f"trending: run {run_id} was not started by this session", sqlstate="55000",
                   hint="Only the session that started a scheduled run continues it.")
    if index != run["next"]:
        plpy.error(f"trending: run {run_id} is at step {run['next']}, not {index}", sqlstate="55000")
    return run


def forget(run_id: int) -> None:
    _RUNS.pop(run_id, None)


def skipped(plpy, trigger: str, now: str) -> dict:
    """Record a call that found a cycle running; the summary it returns."""
    row = json.loads(_one(plpy, "SELECT trending._run_skipped($1, $2, $3) AS r", ["text", "timestamptz", "name"],
                          [trigger, now, _current_user(plpy)])["r"])
    return {"status": "skipped", "run_id": int(row["run_id"]), "message": row["message"]}


def record_step(plpy, run_id: int, name: str, ms: float, *, slice_key: str | None = None,
                slice_result: dict | None = None, bad_rows: dict | None = None,
                cycle: dict | None = None, affected: dict | None = None, drift: dict | None = None) -> None:
    """Add one finished step to the run's row: its milliseconds and, for a
    slice, its row counts; for an input step, the bad rows it counted, and
    the items it rescored and the drift it found; for the step that decides
    it, the kind of cycle and why ({"kind", "reason"})."""
    plpy.execute(plpy.prepare("SELECT trending._run_step_done($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                              ["bigint", "text", "float8", "jsonb", "jsonb", "text", "text", "jsonb", "jsonb"]),
                 [run_id, name, float(ms), None if slice_key is None else json.dumps(slice_result),
                  json.dumps(bad_rows) if bad_rows else None,
                  None if cycle is None else cycle["kind"], None if cycle is None else cycle["reason"],
                  json.dumps(affected) if affected else None, json.dumps(drift) if drift else None])


def finish(plpy, run_id: int) -> dict:
    """Mark the run ok; return its row (with the WAL the cycle wrote)."""
    row = json.loads(_one(plpy, "SELECT trending._run_finish($1) AS r", ["bigint"], [run_id])["r"])
    forget(run_id)
    return row


def fail(plpy, run_id: int, error) -> None:
    """Record a failed run with the error's SQLSTATE, message, detail and hint."""
    forget(run_id)
    plpy.execute(plpy.prepare("SELECT trending._run_fail($1, $2, $3, $4, $5)",
                              ["bigint", "text", "text", "text", "text"]),
                 [run_id, getattr(error, "sqlstate", None) or "XX000", error_message(error),
                  _text(getattr(error, "detail", None)), _text(getattr(error, "hint", None))])


def _text(value):
    return None if value is None else str(value)


def error_message(error) -> str:
    text = str(error.args[0]) if getattr(error, "args", None) else str(error)
    return text or type(error).__name__
