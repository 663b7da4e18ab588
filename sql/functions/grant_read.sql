-------------------------------------------------------------------------------
-- grant_read
-- Let role_name read the scores: the score tables, status, metrics and the read functions.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.grant_read(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('read', grant_read.role_name, true);
$function$;
