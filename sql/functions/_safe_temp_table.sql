-------------------------------------------------------------------------------
-- _safe_temp_table
-- The session's temp table pg_temp.<p_name>, once it is known to be safe for
-- a SECURITY DEFINER function to read: made by trending._staging_table, so
-- owned by the extension's owner (the current user in the definer functions
-- that call this), which is what makes it safe: the caller could attach
-- nothing to it (docs/security.md, "What a definer function reads"). As a
-- second line, the checks of 1.1: a plain heap table in this session's temp
-- schema with exactly the columns p_columns of the built-in types p_types
-- (default collation, none generated), and no index, rule, trigger, policy,
-- inheritance parent or child, or extended statistics. Raises 55000
-- otherwise. Called only by the writer functions (as their owner); no grant.
CREATE FUNCTION trending._safe_temp_table(p_name text, p_columns text[], p_types regtype[])
RETURNS regclass
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_oid oid;
    v_problem text;
BEGIN
    SELECT c.oid INTO v_oid FROM pg_catalog.pg_class c
    WHERE c.relname = p_name AND c.relnamespace = pg_catalog.pg_my_temp_schema();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'trending: pg_temp.% does not exist in this session', p_name
            USING ERRCODE = '55000', HINT = 'A slice is written by the run that staged its changes.';
    END IF;
    SELECT CASE
        WHEN c.relowner IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
            THEN 'the session made it, not trending._staging_table'
        WHEN c.relkind <> 'r' OR c.relpersistence <> 't' THEN 'it is not a plain temporary table'
        WHEN c.relam IS DISTINCT FROM (SELECT a.oid FROM pg_catalog.pg_am a WHERE a.amname = 'heap')
            THEN 'it is not a heap table'
        WHEN c.reloftype <> 0 OR c.relispartition THEN 'it is typed or a partition'
        WHEN c.relrowsecurity OR c.relforcerowsecurity
             OR EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) THEN 'it has row-level security'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) THEN 'it has an index'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid) THEN 'it has a rule'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) THEN 'it has a trigger'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits h WHERE h.inhrelid = c.oid OR h.inhparent = c.oid)
            THEN 'it has an inheritance parent or child'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_statistic_ext s WHERE s.stxrelid = c.oid)
            THEN 'it has extended statistics'
        WHEN (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) IS DISTINCT FROM p_columns
          OR (SELECT pg_catalog.array_agg(a.atttypid ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
             IS DISTINCT FROM p_types::oid[]
          OR EXISTS (SELECT FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                       AND (a.attgenerated <> '' OR a.attcollation NOT IN (0, 100)))
            THEN 'its columns are not the expected ones'
        END
    INTO v_problem
    FROM pg_catalog.pg_class c WHERE c.oid = v_oid;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'trending: refusing to read pg_temp.%: %', p_name, v_problem
            USING ERRCODE = '55000',
                  DETAIL = 'A cycle''s writer functions read only the temp tables trending._staging_table made for it.',
                  HINT = 'Drop the relation and run the cycle again: the cycle stages through trending._staging_table.';
    END IF;
    RETURN v_oid::pg_catalog.regclass;
END;
$function$;
