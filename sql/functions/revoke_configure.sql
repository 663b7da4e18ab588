-------------------------------------------------------------------------------
-- revoke_configure
-- Take back UPDATE and DELETE on trending.settings and trending.strategies.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.revoke_configure(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('configure', revoke_configure.role_name, false);
$function$;
