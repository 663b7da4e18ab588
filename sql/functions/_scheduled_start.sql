-------------------------------------------------------------------------------
-- _scheduled_start
-- First transaction of trending.scheduled_recompute(): take the cycle lease
-- (trending._lease_take; its row outlives the procedure's commits), plan the
-- cycle and insert its 'running' row. NULL when another cycle runs
-- (recorded 'skipped'); minus the run id when something that is not a cycle
-- blocks the lease (recorded 'failed': the procedure commits, then raises).
CREATE FUNCTION trending._scheduled_start(now timestamptz, full boolean)
RETURNS bigint
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.start(plpy, now, full)
$python$;
