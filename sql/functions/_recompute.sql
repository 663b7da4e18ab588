-------------------------------------------------------------------------------
-- _recompute
-- The cycle itself (extension/trending_pl/recompute.py): plan, run every step
-- in this transaction, return the summary. trending.recompute() wraps it to
-- present deliberate errors cleanly.
--
-- TimeZone and DateStyle are pinned so that nothing depends on the session:
-- source timestamps are UTC and `now` is converted to UTC explicitly.
CREATE FUNCTION trending._recompute(now timestamptz)
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
return recompute.run(plpy, now)
$python$;
