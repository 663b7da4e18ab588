-------------------------------------------------------------------------------
-- _scheduled_step
-- One step of a scheduled run, in a subtransaction; the last slice's runs
-- with record_movers and write_state, each recorded as a step of its own,
-- so that the three commit together (cycle.py, transaction_steps). Returns
-- {"state": "more"}, {"state": "ok", "summary": ...} after the last step, or
-- {"state": "failed", "sqlstate", "message", "detail", "hint"} once the failure is
-- recorded in trending.runs (which frees the cycle lease). Never raises for a
-- failed step, so the procedure can commit the failure before re-raising it.
-- Continues only a run this session started: the plan is in this session's
-- memory, and the run's row must say pid = this backend, status 'running'.
-- Another session's run raises 42501 and is left alone (see
-- extension/trending_pl/runs.py).
CREATE FUNCTION trending._scheduled_step(run_id bigint, step integer)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.step(plpy, run_id, step)
$python$;
