-------------------------------------------------------------------------------
-- revoke_read
-- Take back what grant_read gave on status, metrics and the read functions.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.revoke_read(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('read', revoke_read.role_name, false);
$function$;
