-------------------------------------------------------------------------------
-- _state_load
-- Replace one incremental state table whole (a full cycle's write, from
-- trending._state_write): TRUNCATE it, drop its secondary indexes, insert the
-- rows of p_rows (a query from _state_write, ordered by the table's primary
-- key), build the indexes again and ANALYZE (the next cycle plans on it).
-- Why: maintaining every index row by row for millions of rows in random
-- order is what made a full cycle with the state about 2x a plain one
-- (issue 18); measured at medium, 894k play buckets took 9.1 s that way,
-- 2.2 s loaded bare and indexed after, and 184k track rows 2.5 s against
-- 0.8 s (docs/benchmark.md, "A full cycle's state write").
-- The index definitions are read from the catalog just before they are
-- dropped, so sql/schema/85_state.sql stays their only source. Only the
-- state's own tables are accepted; no role but the owner may call it
-- (EXECUTE is revoked from PUBLIC), and the TRUNCATE's ACCESS EXCLUSIVE
-- lock, held to the commit, keeps every other session out meanwhile.
CREATE FUNCTION trending._state_load(p_table regclass, p_rows text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_definitions text[];
    v_index regclass;
    v_definition text;
    v_rows bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c
                   WHERE c.oid = p_table AND c.relnamespace = 'trending'::pg_catalog.regnamespace
                     AND c.relkind = 'r' AND pg_catalog.starts_with(c.relname::text, '_state_')) THEN
        RAISE EXCEPTION 'trending: % is not a table of the incremental state', p_table USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format('TRUNCATE %s', p_table);
    SELECT pg_catalog.array_agg(pg_catalog.pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid)
    INTO v_definitions
    FROM pg_catalog.pg_index i WHERE i.indrelid = p_table AND NOT i.indisprimary;
    FOR v_index IN SELECT i.indexrelid::pg_catalog.regclass FROM pg_catalog.pg_index i
                   WHERE i.indrelid = p_table AND NOT i.indisprimary LOOP
        EXECUTE pg_catalog.format('DROP INDEX %s', v_index);
    END LOOP;
    EXECUTE pg_catalog.format('INSERT INTO %s %s', p_table, p_rows);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    FOREACH v_definition IN ARRAY COALESCE(v_definitions, '{}') LOOP
        EXECUTE v_definition;
    END LOOP;
    EXECUTE pg_catalog.format('ANALYZE %s', p_table);
    RETURN v_rows;
END;
$function$;
