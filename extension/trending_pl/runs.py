"""Run history (trending.runs) and the lease that keeps cycles from overlapping.

Every cycle is one row of trending.runs: 'running' while it works, then 'ok',
'failed' (with SQLSTATE and message) or, when its backend died or its lease
was broken, 'aborted' (set by the next run). A call that finds another cycle
running records a 'skipped' row and returns at once; one that finds the
cycle's lock blocked by anything but a cycle records a 'failed' one.

Both entry points take the cycle lease (trending._lease_take; the table and
its rules: sql/schema/55_cycle_lease.sql): recompute() holds its table lock
until its caller's commit, the scheduled procedure commits the lease row and
renews it at each step. Only SECURITY DEFINER functions of the extension's
owner take, check and free it, so a role that cannot run cycles cannot stop
them. _run_finish and _run_fail free it; a failed recompute() rolls it back.

A role that runs cycles has no write privilege on trending.runs: every
write goes through a SECURITY DEFINER function (trending._run_*) that checks
the run is the caller's own (sql/functions/_own_run.sql).
"""

from __future__ import annotations

import json


def take_lease(plpy, trigger: str, now: str) -> dict | None:
    """Take the cycle lease for a run about to start in this transaction:
    None when taken; else the summary of the 'skipped' or 'failed' run
    recorded instead (with a NOTICE, or a WARNING for a failure)."""
    row = json.loads(_one(plpy, "SELECT trending._lease_take($1, $2, $3) AS r", ["text", "timestamptz", "name"],
                          [trigger, now, _current_user(plpy)])["r"])
    if row["status"] == "taken":
        # a run of this session still in memory was interrupted (a cancel in
        # the procedure's COMMIT): the lease just taken ended it
        _RUNS.clear()
        return None
    result = {"status": row["status"], "run_id": int(row["run_id"]), "message": row["message"]}
    if row["status"] == "skipped":
        plpy.notice(f"trending: skipped: {row['message']}")
    else:
        plpy.warning(f"trending: failed: {row['message']}",
                     hint="Only a cycle should hold trending_private.cycle_lease's lock: end that backend "
                          "(pg_terminate_backend) and find out why it tried; trending.status says unhealthy until "
                          "a cycle succeeds.")
    return result


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
# fingerprint and its snapshot, taken by the first step and used by
# write_state: cycle.begin_capture, cycle.finish_capture). A run's plan is
# never re-read from trending.runs (whose plan column is a record only): the scheduled procedure's steps are transactions of the
# same session, so they find it here, and a session that did not start a
# run cannot continue it.
_RUNS: dict[int, dict] = {}


def _one(plpy, query: str, types: list[str], args: list):
    return plpy.execute(plpy.prepare(query, types), args)[0]


def _current_user(plpy) -> str:
    return plpy.execute("SELECT CURRENT_USER::text AS u")[0]["u"]


def start(plpy, trigger: str, now: str, plan: dict) -> dict:
    """Begin a run (the caller took the lease): trending._run_begin marks the
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
    'running', the cycle lease its own: trending._own_run). Raises 42501 for
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
