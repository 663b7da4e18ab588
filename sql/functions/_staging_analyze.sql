-------------------------------------------------------------------------------
-- _staging_analyze
-- ANALYZE the staging table pg_temp.<p_name> (made by
-- trending._staging_table): the cycle's later statements are planned with
-- its statistics, and only its owner may analyze it. Its columns are of
-- built-in types and nothing is attached to it, so ANALYZE runs only
-- PostgreSQL's own code. SECURITY DEFINER; 55000 for any other relation.
CREATE FUNCTION trending._staging_analyze(p_name text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_relation oid;
BEGIN
    SELECT c.oid INTO v_relation FROM pg_catalog.pg_class c
    WHERE c.relname = p_name AND c.relnamespace = pg_catalog.pg_my_temp_schema();
    IF NOT trending._staging_own(v_relation) THEN
        RAISE EXCEPTION 'trending: pg_temp.% is not a staging table trending made in this session', p_name
            USING ERRCODE = '55000', HINT = 'Stage it with trending._staging_table first.';
    END IF;
    EXECUTE pg_catalog.format('ANALYZE pg_temp.%I', p_name);
END;
$function$;
