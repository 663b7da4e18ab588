-------------------------------------------------------------------------------
-- grant_cycle
-- Let role_name run cycles (trending.recompute() and CALL trending.scheduled_recompute()) and nothing more: see trending._privileges and docs/security.md. Call again after changing source_schema.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.grant_cycle(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('cycle', grant_cycle.role_name, true);
$function$;
