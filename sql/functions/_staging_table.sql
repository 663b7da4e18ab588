-------------------------------------------------------------------------------
-- _staging_table
-- Create the cycle's temp table pg_temp.<p_name> (one of the catalogue of
-- trending._staging_columns) empty, owned by the extension's owner, and let
-- the session's roles fill and read it (INSERT, SELECT: a temp table is
-- visible to its own session only). The SECURITY DEFINER writers read only
-- tables made so (trending._safe_temp_table checks the owner): the calling
-- role owns nothing there, so it can add no constraint, default, index,
-- rule, trigger, policy or statistics for the owner's planner or executor to
-- run. A table of that name this function made before (an earlier step or
-- run of the session) is dropped and made anew; any other relation of that
-- name is refused (55000): the caller made it. SECURITY DEFINER: the table's
-- owner is this function's.
CREATE FUNCTION trending._staging_table(p_name text)
RETURNS regclass
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET default_table_access_method = heap
AS $function$
DECLARE
    v_columns text := trending._staging_columns(p_name);
    v_existing oid;
BEGIN
    IF v_columns IS NULL THEN
        RAISE EXCEPTION 'trending: % is not a staging table', p_name USING ERRCODE = '22023';
    END IF;
    SELECT c.oid INTO v_existing FROM pg_catalog.pg_class c
    WHERE c.relname = p_name AND c.relnamespace = pg_catalog.pg_my_temp_schema();
    IF FOUND THEN
        IF NOT trending._staging_own(v_existing) THEN
            RAISE EXCEPTION 'trending: pg_temp.% exists and was not made by trending', p_name
                USING ERRCODE = '55000',
                      DETAIL = 'A cycle stages into tables the extension''s owner creates; this session made its own.',
                      HINT = pg_catalog.format('DROP it (pg_temp.%I) and run the cycle again.', p_name);
        END IF;
        EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', p_name);
    END IF;
    EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE %I (%s)', p_name, v_columns);
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT ON TABLE pg_temp.%I TO PUBLIC', p_name);
    RETURN pg_catalog.format('pg_temp.%I', p_name)::pg_catalog.regclass;
END;
$function$;
