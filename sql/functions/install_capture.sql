-------------------------------------------------------------------------------
-- install_capture
-- Put the change-capture triggers on the source tables of the source_schema
-- setting (superuser only; docs/incremental.md). Takes a SHARE ROW
-- EXCLUSIVE lock on each table in turn (writers wait, readers do not; at
-- most the lock_timeout setting), and says so. Idempotent: intact triggers
-- are kept; missing, disabled or altered ones are replaced; capture
-- triggers left on other relations (a renamed table, an old schema) are
-- removed. Grants nothing: the triggers run as the role trending_capture
-- (SECURITY DEFINER; sql/grants.sql), so any writer, however it got its
-- privilege, writes as before. Returns what it did as jsonb. The next
-- cycle runs full and arms the capture.
CREATE FUNCTION trending.install_capture()
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import capture
return capture.install(plpy)
$python$;
