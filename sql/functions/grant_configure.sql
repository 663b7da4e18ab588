-------------------------------------------------------------------------------
-- grant_configure
-- Let role_name change trending.settings and switch trending.strategies (UPDATE, DELETE on the views).
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.grant_configure(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('configure', grant_configure.role_name, true);
$function$;
