-------------------------------------------------------------------------------
-- _explain
-- The document of trending.explain_track() and explain_playlist()
-- (extension/trending_pl/explain.py): the cycle's inputs for one item, staged
-- by the cycle's own statements filtered to that id, each term of the
-- formula, the computed and the stored score. Reads the sources as the
-- caller, checked as a cycle checks them; writes only temp tables.
-- The same SET clauses as trending._recompute.
CREATE FUNCTION trending._explain(kind text, item_id integer, time_range text, version text, now timestamptz)
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
from trending_pl import explain
return explain.explain(plpy, kind, item_id, time_range, version, now)
$python$;
