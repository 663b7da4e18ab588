-------------------------------------------------------------------------------
-- _staging_own
-- Whether relation p_relation is one of the cycle's staging tables as
-- trending._staging_table makes them: a plain temporary table of this
-- session, named in the catalogue (trending._staging_columns), owned by the
-- current user, which in the definer functions that call this is the
-- extension's owner. Only its owner (or a superuser) can alter such a table.
-- No grant.
CREATE FUNCTION trending._staging_own(p_relation oid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE((
        SELECT c.relkind = 'r' AND c.relpersistence = 't'
               AND c.relnamespace = pg_catalog.pg_my_temp_schema()
               AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
               AND trending._staging_columns(c.relname::text) IS NOT NULL
        FROM pg_catalog.pg_class c WHERE c.oid = p_relation), false)
$function$;
