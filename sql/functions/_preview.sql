-------------------------------------------------------------------------------
-- _preview
-- Stage a cycle at `now` without writing it (extension/trending_pl/preview.py):
-- the cycle's own staging as the caller, the rows it would insert, update and
-- delete kept in pg_temp.trending_preview for trending.preview() to return.
-- No run row, no cycle lease, nothing written but temp tables.
--
-- The same SET clauses as trending._recompute: TimeZone and DateStyle pinned
-- so nothing depends on the session; work_mem, lock_timeout and parallelism
-- are set from trending.settings inside and restored on return.
CREATE FUNCTION trending._preview(now timestamptz)
RETURNS bigint
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
from trending_pl import preview
return preview.stage(plpy, now)
$python$;
