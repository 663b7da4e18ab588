-------------------------------------------------------------------------------
-- _recompute
-- The cycle itself (extension/trending_pl/recompute.py): plan, run every step
-- in this transaction, return the summary. trending.recompute() wraps it to
-- present deliberate errors cleanly.
--
-- TimeZone and DateStyle are pinned so that nothing depends on the session:
-- source timestamps are UTC and `now` is converted to UTC explicitly.
--
-- work_mem, lock_timeout and max_parallel_workers_per_gather are set per
-- step from trending.settings (set_config(..., true)). Naming them in SET
-- clauses (the shipped defaults; each step overrides them) makes PostgreSQL
-- restore the caller's values when this function returns, so they do not
-- stay in force for the rest of the caller's transaction.
CREATE FUNCTION trending._recompute(now timestamptz, full boolean)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET work_mem = '128MB'
SET lock_timeout = '5s'
SET max_parallel_workers_per_gather = 2
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.run(plpy, now, full)
$python$;
