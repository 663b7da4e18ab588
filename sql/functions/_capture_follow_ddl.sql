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
        -- Nothing to do before the install, nor for DDL that touches no
        -- relation of the source schema, no relation carrying a capture
        -- trigger and no partition of either (temporary tables, a cycle's
        -- own, included): unrelated DDL pays one catalog query. ALTER TYPE
        -- (an enum label) always looks. The triggers this function creates
        -- run DDL themselves: it does not follow its own (the setting is
        -- transaction-local; a role setting it skips only the repairs, never
        -- the fingerprint: an uncovered table stays a problem).
        IF pg_catalog.current_setting('trending.capture_following_ddl', true) = 'on'
           OR NOT EXISTS (SELECT FROM trending._capture_installed)
           OR NOT EXISTS (
               SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
               WHERE d.object_type = 'type' OR d.command_tag = 'ALTER TYPE'
                  OR EXISTS (
                      SELECT FROM pg_catalog.pg_class k
                      WHERE k.oid = d.objid AND k.relpersistence <> 't'
                        AND EXISTS (
                            SELECT FROM (SELECT k.oid AS relid
                                         UNION ALL
                                         SELECT a.relid::oid FROM pg_catalog.pg_partition_ancestors(k.oid) a) r
                            JOIN pg_catalog.pg_class rc ON rc.oid = r.relid
                            WHERE rc.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n
                                                     JOIN trending.settings st ON st.name = 'source_schema'
                                                     WHERE n.nspname = st.value)
                               OR EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                          WHERE g.tgrelid = r.relid AND g.tgname LIKE 'trending\_capture\_%')))) THEN
            RETURN;
        END IF;
        PERFORM pg_catalog.set_config('trending.capture_following_ddl', 'on', true);
        -- 1 and 2: capture triggers that cannot run, or belong elsewhere
        FOR v_rel IN
            WITH cat AS MATERIALIZED (
                SELECT c.source, c.table_name, c.relid, c.installed AND c.installed_schema = c.source_schema AS followed
                FROM trending._capture_catalog c
            ), carrying AS (
                SELECT g.tgrelid AS relid, cat.source, cat.followed, cat.relid AS source_relid,
                       pg_catalog.array_agg(g.tgname ORDER BY g.tgname) AS names
                FROM cat
                JOIN pg_catalog.pg_proc p
                  ON p.pronamespace = 'trending'::pg_catalog.regnamespace
                 AND p.proname = '_capture_' || cat.table_name AND p.pronargs = 0
                JOIN pg_catalog.pg_trigger g ON g.tgfoid = p.oid
                GROUP BY g.tgrelid, cat.source, cat.followed, cat.relid
            ), judged AS (
                SELECT w.*,
                       -- the expression of trending._capture_catalog's readable, per relation
                       NOT (SELECT pg_catalog.bool_and(a.attnum IS NOT NULL AND CASE
                                WHEN rc.enum_labels IS NOT NULL THEN ty.typtype = 'e' AND rc.enum_labels <@
                                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = ty.oid)
                                ELSE ty.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
                                    AND ty.typname::text = ANY (rc.type_names)
                            END)
                            FROM trending._capture_read_columns rc
                            LEFT JOIN pg_catalog.pg_attribute a
                                ON a.attrelid = w.relid AND a.attname = rc.column_name AND a.attnum > 0
                               AND NOT a.attisdropped
                            LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
                            WHERE rc.source = w.source) AS unreadable,
                       w.followed AND w.relid IS DISTINCT FROM w.source_relid
                           AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_ancestors(w.relid) t
                                           WHERE t.relid::oid = w.source_relid) AS stray
                FROM carrying w
            )
            SELECT j.relid::pg_catalog.regclass::text AS rel, j.names, j.unreadable
            FROM judged j WHERE j.unreadable OR j.stray
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
        -- (a partition has its parent's columns: readable as the table is)
        FOR v_rel IN
            SELECT r.relid, c.table_name
            FROM trending._capture_catalog c
            CROSS JOIN LATERAL (SELECT c.relid AS relid
                                UNION
                                SELECT t.relid::oid FROM pg_catalog.pg_partition_tree(c.relid::pg_catalog.regclass) t) r
            JOIN pg_catalog.pg_class k ON k.oid = r.relid
            WHERE c.installed AND c.installed_schema = c.source_schema AND c.readable AND k.relkind IN ('r', 'p')
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
        PERFORM pg_catalog.set_config('trending.capture_following_ddl', '', true);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        RAISE WARNING 'trending: the change capture could not follow this command: %', v_error
            USING HINT = 'The command went ahead. Cycles run full until the capture covers the source tables again: '
                         'SELECT * FROM trending.capture_status; a superuser runs SELECT trending.install_capture().';
    END;
END;
$function$;
