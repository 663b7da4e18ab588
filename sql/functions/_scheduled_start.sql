-------------------------------------------------------------------------------
-- _scheduled_start
-- First transaction of trending.scheduled_recompute(): take the cycle lock
-- (a session lock: the procedure commits), plan the cycle and insert its
-- 'running' row. NULL when another cycle runs (recorded as 'skipped').
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
