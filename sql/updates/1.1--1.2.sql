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

-- Issue 17: the cycle lease replaces 1.1's advisory lock (any role could
-- hold its key and make every cycle skip). Its table is created whole by
-- sql/schema/55_cycle_lease.sql (NEW_PARTS), free; its setting here. A run
-- 1.1 left 'running' is marked aborted by the first 1.2 cycle, as a dead
-- backend's.
INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('lease_idle_timeout', '10 minutes',
     'A cycle that runs no step for longer than this (its session idle, or busy with anything else; a recompute() left idle in transaction) loses the cycle lease to the next cycle, which records the break in trending.status (1 second to 1 day).');
-- _run_skipped is gone: _lease_take records skipped (and failed) calls. Its
-- grants go with it; the finish part gives 1.1's cycle roles _lease_take.
ALTER EXTENSION trending DROP FUNCTION trending._run_skipped(text, timestamptz, name);
DROP FUNCTION trending._run_skipped(text, timestamptz, name);
