-------------------------------------------------------------------------------
-- _staging_drop
-- Drop this session's staging tables (those trending._staging_table made):
-- the caller cannot, it does not own them. Relations of the same names that
-- the session made itself are left to it. The number dropped. SECURITY
-- DEFINER.
CREATE FUNCTION trending._staging_drop()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_names text;
    v_count integer;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('pg_temp.%I', c.relname), ', '), pg_catalog.count(*)
    INTO v_names, v_count
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND trending._staging_own(c.oid);
    IF v_count > 0 THEN
        EXECUTE 'DROP TABLE ' || v_names;
    END IF;
    RETURN v_count;
END;
$function$;
