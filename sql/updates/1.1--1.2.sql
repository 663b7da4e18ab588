-- trending: upgrade script 1.1 -> 1.2. Generated (see the Makefile): this
-- hand-written delta first, then the schema parts new in 1.2, the views,
-- every routine of sql/functions/ as CREATE OR REPLACE, sql/grants.sql,
-- sql/comments.sql and sql/updates/1.1--1.2-finish.sql. Edit the parts, not
-- the generated file. 1.0 reaches 1.2 through the released
-- trending--1.0--1.1.sql first.
\echo Use "ALTER EXTENSION trending UPDATE TO '1.2'" to load this file. \quit

SET LOCAL search_path = pg_catalog, pg_temp;

-- Routines whose signature or return type changes cannot be replaced in
-- place: they are dropped here and created anew below. The EXECUTE grants a
-- DBA gave on them (to roles; PUBLIC's are grants.sql's business) are kept
-- in a transaction-local setting and given back to the new routine of the
-- same name by the finish part.
CREATE FUNCTION pg_temp.trending_drop_keeping_grants(p_routines regprocedure[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_kept jsonb := COALESCE(NULLIF(current_setting('trending.upgrade_grants', true), ''), '[]')::jsonb;
    v_routine regprocedure;
BEGIN
    FOREACH v_routine IN ARRAY p_routines LOOP
        v_kept := v_kept || COALESCE((
            SELECT jsonb_agg(jsonb_build_object('name', p.proname, 'grantee', a.grantee::regrole::text,
                                                'grantable', a.is_grantable))
            FROM pg_proc p, aclexplode(p.proacl) a
            WHERE p.oid = v_routine AND a.privilege_type = 'EXECUTE'
              AND a.grantee <> 0 AND a.grantee <> p.proowner), '[]');
        EXECUTE format('ALTER EXTENSION trending DROP %s %s',
                       CASE (SELECT prokind FROM pg_proc WHERE oid = v_routine) WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                       v_routine);
        EXECUTE format('DROP ROUTINE %s', v_routine);
    END LOOP;
    PERFORM set_config('trending.upgrade_grants', v_kept::text, true);
END;
$function$;

-- (1.2's changes to objects 1.1 had follow, one block per change, each
-- naming its issue.)

-- Issue 16: each delta row names the writer's transaction (tx), so a cycle
-- can take exactly what committed since its last snapshot; the armed row
-- says until when the triggers record (record_until).
ALTER TABLE trending._capture_changes ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE trending._capture_plays ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE trending._capture_truncates ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE trending._capture_armed ADD COLUMN record_until timestamptz NOT NULL DEFAULT 'infinity';

-- Issue 16 (DDL and partitions): what a full cycle verified also covers the
-- columns a cycle reads and the partitions (trending._capture_catalog).
-- Armed by 1.1, these are NULL: the next cycle runs full and records them.
ALTER TABLE trending._capture_installed ADD COLUMN armed_columns jsonb, ADD COLUMN armed_partitions jsonb;
