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

-- Issue 16 (items 5, 6 and 7): a cycle consumes the delta rows by snapshot
-- (the armed row keeps the last cycle's), the triggers record until a
-- bound (capture_max_pause), and the routines whose signature changed are
-- replaced. A capture armed by 1.1 is left recording but not armed: the
-- first cycle after the upgrade runs full and arms it.
ALTER TABLE trending._capture_armed
    ADD COLUMN snapshot pg_snapshot,
    ADD COLUMN next_snapshot pg_snapshot,
    ADD COLUMN recording_from timestamptz;
-- 1.1's armed row (if any) records for the default bound from now on
UPDATE trending._capture_armed SET record_until = now() + interval '1 day';
INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('capture_max_pause', '1 day',
     'How long the change capture records with no cycle consuming it (1 minute to 30 days); past it the triggers record nothing and the next cycle runs full.');
SELECT pg_temp.trending_drop_keeping_grants(ARRAY[
    'trending._capture_arm(bigint, text)', 'trending._capture_advance(bigint)',
    'trending._state_advance(bigint, bigint, timestamp, timestamp)']::regprocedure[]);
-- the roles that could settle the capture (grant_cycle) may take its snapshot
SELECT set_config('trending.upgrade_grants', (
    COALESCE(NULLIF(current_setting('trending.upgrade_grants', true), ''), '[]')::jsonb
    || COALESCE((SELECT jsonb_agg(jsonb_build_object('name', '_capture_snapshot', 'grantee', a.grantee::regrole::text,
                                                     'grantable', a.is_grantable))
                 FROM pg_proc p, aclexplode(p.proacl) a
                 WHERE p.oid = 'trending._capture_settle(interval)'::regprocedure AND a.privilege_type = 'EXECUTE'
                   AND a.grantee <> 0 AND a.grantee <> p.proowner), '[]'))::text, true);
ALTER EXTENSION trending DROP FUNCTION trending._capture_settle(interval);
DROP FUNCTION trending._capture_settle(interval);
-- (item 6) _require_local_pg_cron says which action its hint is for: pause,
-- resume and unschedule name the CLI command that reaches pg_cron
ALTER EXTENSION trending DROP FUNCTION trending._require_local_pg_cron();
DROP FUNCTION trending._require_local_pg_cron();
