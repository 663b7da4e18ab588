"""The two ways to run a cycle.

- run(): `SELECT trending.recompute()`, one transaction. The caller sees
  every error; nothing of a failed cycle stays, not even its run row.
- start() / step(): `CALL trending.scheduled_recompute()`, the procedure
  pg_cron runs, which commits after each step so that no snapshot or lock is
  held for a whole cycle. Its 'running' row is committed first; a failure is
  recorded in the row (with SQLSTATE and message) before the procedure
  re-raises it, so pg_cron marks the job failed too.

Both plan the cycle the same way and run the same steps (cycle.py).
"""

from __future__ import annotations

import json

from . import cycle, inputs, runs


def _require_primary(plpy) -> None:
    if plpy.execute("SELECT pg_catalog.pg_is_in_recovery() AS standby")[0]["standby"]:
        plpy.error("trending: cannot run a cycle on a hot standby", sqlstate="25006",
                   hint="Run it on the primary; the scheduled procedure returns quietly on a standby.")


def _now_text(plpy, now: str) -> str:
    return plpy.execute(f"SELECT pg_catalog.to_char({plpy.quote_literal(now)}::timestamptz AT TIME ZONE 'UTC',"
                        " 'YYYY-MM-DD HH24:MI:SS.US') AS t")[0]["t"].removesuffix(".000000")


def _skip(plpy, trigger: str, now: str) -> dict:
    result = runs.skipped(plpy, trigger, now, runs.running_pid(plpy))
    plpy.notice(f"trending: skipped: {result['message']}")
    return result


def run(plpy, now: str) -> str:
    """One whole cycle in the caller's transaction; the summary as JSON text."""
    _require_primary(plpy)
    if not runs.try_lock(plpy, session=False):
        return json.dumps(_skip(plpy, "recompute", now))
    plan = cycle.plan(plpy)
    run_id = runs.start(plpy, "recompute", now, plan, plan["settings"]["run_retention"])
    state = runs.load(plpy, run_id)
    for index in range(len(plan["steps"])):
        cycle.run_step(plpy, state, index)
    return json.dumps(cycle.summary(plan, runs.finish(plpy, run_id), _now_text(plpy, now)))


def start(plpy, now: str):
    """First transaction of a scheduled run: the run id, or None when another
    cycle is running (recorded as skipped)."""
    if not runs.try_lock(plpy, session=True):
        _skip(plpy, "scheduled", now)
        return None
    try:
        plan = cycle.plan(plpy)
        run_id = runs.start(plpy, "scheduled", now, plan, plan["settings"]["run_retention"])
    except Exception:
        runs.unlock(plpy)
        raise
    plpy.notice(f"trending: run {run_id} started: {len(plan['steps'])} steps")
    return run_id


def step(plpy, run_id: int, index: int) -> str:
    """Step `index` of a scheduled run, as one subtransaction of the
    procedure's current transaction. Returns JSON: {"state": "more"} while
    steps remain, {"state": "ok", "summary": ...} after the last one, or
    {"state": "failed", "sqlstate", "message", "detail", "hint"} after
    recording the failure (the step's own work is rolled back)."""
    try:
        state = runs.load(plpy, run_id)
        with plpy.subtransaction():
            cycle.run_step(plpy, state, index)
        if index < len(state["plan"]["steps"]) - 1:
            return json.dumps({"state": "more"})
        summary = cycle.summary(state["plan"], runs.finish(plpy, run_id), _now_text(plpy, state["now"]))
        runs.unlock(plpy)
        plpy.notice(f"trending: run {run_id} ok in {summary['ms']:.0f} ms: "
                    + ", ".join(f"{v} {k}" for k, v in summary["rows"].items()))
        return json.dumps({"state": "ok", "summary": summary})
    except Exception as error:  # every failure ends the run: record it, free the lock
        runs.fail(plpy, run_id, error)
        inputs.drop_temp_tables(plpy)
        runs.unlock(plpy)
        return json.dumps({"state": "failed", "sqlstate": getattr(error, "sqlstate", None) or "XX000",
                           "message": runs.error_message(error), "detail": getattr(error, "detail", None),
                           "hint": getattr(error, "hint", None)})
