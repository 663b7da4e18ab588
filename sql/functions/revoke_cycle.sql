-------------------------------------------------------------------------------
-- revoke_cycle
-- Take back what grant_cycle gave (not USAGE on schema trending nor SELECT on its score tables, settings and strategies, which other sets share).
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.revoke_cycle(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('cycle', revoke_cycle.role_name, false);
$function$;
