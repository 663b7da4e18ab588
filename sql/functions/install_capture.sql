-------------------------------------------------------------------------------
-- install_capture
-- Put the change-capture triggers on the source tables of the source_schema
-- setting (superuser only; docs/incremental.md). Takes a SHARE ROW
-- EXCLUSIVE lock on each table in turn (writers wait, readers do not; at
-- most the lock_timeout setting), and says so. Idempotent: intact triggers
-- are kept; missing, disabled or altered ones are replaced; capture
-- triggers left on other relations (a renamed table, an old schema) are
-- removed. Grants INSERT on the delta tables and USAGE on their sequence to
-- each table's owner and every role that may write it (run it again after
-- granting a new writer role). Returns what it did as jsonb. The next
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
