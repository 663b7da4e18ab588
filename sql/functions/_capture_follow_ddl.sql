-------------------------------------------------------------------------------
-- _capture_follow_ddl
-- Event trigger (ddl_command_end on CREATE TABLE [AS], SELECT INTO, ALTER TABLE, ALTER TYPE;
-- see sql/triggers.sql): keeps the capture triggers where they must be after
-- any role's DDL, in the DDL's own transaction (issue 16, docs/incremental.md
-- "What makes a cycle run full"). Once the capture is installed:
-- 1. takes the capture triggers off a relation whose columns they could no
--    longer read (a column a cycle reads dropped, renamed away, retyped to a
--    type the capture does not read, an enum label renamed): otherwise the
--    service's own writes would fail in them;
-- 2. takes them off a relation that is no longer the source table or one
--    of its partitions (renamed or moved away, detached): its writes would
--    be counted as the source's;
-- 3. puts them on the source table and each of its partitions that has
--    none and whose columns they can read: a partition created or attached
--    (pg_partman's maintenance), a table renamed or moved into the source
--    schema in place of a source table;
-- 4. when the only change to a source's partitions since the last full
--    cycle is partitions added or detached that are provably empty
--    (trending._capture_empty: no page in any of their tables), records the
--    partitions as verified, so that premade partitions keep cycles
--    incremental. Anything else stays a difference from what the last full
--    cycle verified (trending._capture_catalog), and the next cycle runs
--    full naming the table.
-- It never fails the DDL: the body runs in a block that turns any error
-- into a WARNING (a relation left without its triggers is then a problem
-- in trending.capture_status: cycles run full and doctor fails), and it
-- waits at most 1s for a lock.
-- SECURITY DEFINER (owned by the extension's owner, a superuser): the DDL's
-- role could not create triggers on tables it does not own. It reads only
-- the catalog and trending's tables, runs no code of the DDL's role (no
-- operator or function resolved through its search_path; names quoted by
-- format), and acts only on the source tables the capture was installed on.
CREATE FUNCTION trending._capture_follow_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET lock_timeout = '1s'
AS $function$
DECLARE
    v_rel record;
    v_name name;
    v_blessed boolean := false;
    v_error text;
BEGIN
    BEGIN
        -- nothing to do before the install, nor for temporary tables (a
        -- cycle creates its own: it must not pay for this)
        IF NOT EXISTS (SELECT FROM trending._capture_installed)
           OR NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
                          WHERE d.schema_name IS NULL OR d.schema_name NOT LIKE 'pg\_temp%') THEN
            RETURN;
        END IF;
        -- 1 and 2: capture triggers that cannot run, or belong elsewhere
        FOR v_rel IN
            SELECT g.tgrelid::pg_catalog.regclass::text AS rel,
                   pg_catalog.array_agg(g.tgname ORDER BY g.tgname) AS names,
                   pg_catalog.bool_or(NOT trending._capture_readable(g.tgrelid, c.source)) AS unreadable
            FROM trending._capture_catalog c
            JOIN pg_catalog.pg_proc p
              ON p.pronamespace = 'trending'::pg_catalog.regnamespace
             AND p.proname = '_capture_' || c.table_name AND p.pronargs = 0
            JOIN pg_catalog.pg_trigger g ON g.tgfoid = p.oid
            WHERE NOT trending._capture_readable(g.tgrelid, c.source)
               OR (c.installed AND c.installed_schema = c.source_schema
                   AND g.tgrelid IS DISTINCT FROM c.relid
                   AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree(c.relid::pg_catalog.regclass) t
                                   WHERE t.relid::oid = g.tgrelid))
            GROUP BY g.tgrelid
        LOOP
            FOREACH v_name IN ARRAY v_rel.names LOOP
                EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_name, v_rel.rel);
            END LOOP;
            RAISE WARNING 'trending: capture triggers removed from %: %', v_rel.rel,
                CASE WHEN v_rel.unreadable
                     THEN 'a column a cycle reads is gone or of a type the capture does not read'
                     ELSE 'it is no longer a source table or one of its partitions' END
                USING HINT = 'Cycles run full until the capture covers the source tables again (SELECT * FROM trending.capture_status).';
        END LOOP;
        -- 3: the source tables and partitions without any capture trigger
        FOR v_rel IN
            SELECT r.relid, c.table_name
            FROM trending._capture_catalog c
            CROSS JOIN LATERAL (SELECT c.relid AS relid
                                UNION
                                SELECT t.relid::oid FROM pg_catalog.pg_partition_tree(c.relid::pg_catalog.regclass) t) r
            JOIN pg_catalog.pg_class k ON k.oid = r.relid
            WHERE c.installed AND c.installed_schema = c.source_schema AND k.relkind IN ('r', 'p')
              AND trending._capture_readable(r.relid, c.source)
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                              JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
                              WHERE g.tgrelid = r.relid
                                AND (g.tgname LIKE 'trending\_capture\_%'
                                     OR (p.pronamespace = 'trending'::pg_catalog.regnamespace
                                         AND p.proname LIKE '\_capture\_%')))
        LOOP
            PERFORM trending._capture_cover(v_rel.relid, v_rel.table_name);
        END LOOP;
        -- 4: partitions added or detached, all provably empty
        FOR v_rel IN
            SELECT c.source, c.partitions
            FROM trending._capture_catalog c
            JOIN trending._capture_installed i ON i.source = c.source
            WHERE c.problem IS NULL AND i.armed_relid = c.relid AND i.armed_partitions IS NOT NULL
              AND c.partitions IS DISTINCT FROM i.armed_partitions
              AND NOT EXISTS (
                  SELECT FROM pg_catalog.jsonb_each_text(COALESCE(c.partitions, '{}')) n
                  FULL JOIN pg_catalog.jsonb_each_text(i.armed_partitions) o ON o.key = n.key
                  WHERE n.value IS DISTINCT FROM o.value
                    AND NOT (o.key IS NULL AND trending._capture_empty(n.key::oid))
                    AND NOT (n.key IS NULL AND trending._capture_empty(o.key::oid)))
        LOOP
            UPDATE trending._capture_installed SET armed_partitions = v_rel.partitions WHERE source = v_rel.source;
            v_blessed := true;
        END LOOP;
        -- the armed fingerprint follows when nothing else differs from the last full cycle
        IF v_blessed AND NOT EXISTS (SELECT FROM trending._capture_catalog c
                                     WHERE c.problem IS NOT NULL OR c.drift IS NOT NULL) THEN
            UPDATE trending._capture_armed SET fingerprint = (SELECT s.fingerprint FROM trending.capture_status s);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        RAISE WARNING 'trending: the change capture could not follow this command: %', v_error
            USING HINT = 'The command went ahead. Cycles run full until the capture covers the source tables again: '
                         'SELECT * FROM trending.capture_status; a superuser runs SELECT trending.install_capture().';
    END;
END;
$function$;
