-------------------------------------------------------------------------------
-- uninstall_capture
-- Remove every change-capture trigger (wherever it is) and the capture's
-- state: the service's tables are left as they were before
-- install_capture() (superuser only; DROP
-- TRIGGER takes an ACCESS EXCLUSIVE lock on each table for a moment, and
-- says so). Idempotent. Returns what it did as jsonb.
CREATE FUNCTION trending.uninstall_capture()
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import capture
return capture.uninstall(plpy)
$python$;
