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

-- Issue 16 (items 1, 2): no role but trending's own writes trending's
-- tables. 1.1's install_capture() granted the service's writers INSERT on
-- the delta tables and USAGE on their sequence (the triggers ran as the
-- writer); in 1.2 the triggers run as trending_capture (sql/grants.sql) and
-- those grants would only let a writer forge captured changes. Revoke from
-- every role but the owner each write privilege on trending's tables (the
-- capture, the state, the scores, the runs; the configuration tables
-- settings and strategies keep what trending.grant_configure gives) and
-- USAGE/UPDATE on its sequences, saying each one (a WARNING: an extension
-- script runs with client_min_messages at least warning, so a NOTICE would
-- never reach the DBA).
DO $do$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT c.oid::regclass::text AS relation, c.relkind,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee,
               string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.relnamespace = 'trending'::regnamespace
          AND a.grantee <> c.relowner
          AND ((c.relkind IN ('r', 'p')
                AND c.relname NOT IN ('settings', 'strategies')
                AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'))
               OR (c.relkind = 'S' AND a.privilege_type IN ('USAGE', 'UPDATE')))
        GROUP BY 1, 2, 3
        ORDER BY 1, 3
    LOOP
        RAISE WARNING 'trending: revoking % on % from % (in 1.2 only trending''s own roles write it)',
            v.privileges, v.relation, v.grantee;
        EXECUTE format('REVOKE %s ON %s %s FROM %s', v.privileges,
                       CASE v.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, v.relation, v.grantee);
    END LOOP;
END;
$do$;

-- Issue 16 (DDL and partitions): what a full cycle verified also covers the
-- columns a cycle reads and the partitions (trending._capture_catalog).
-- Armed by 1.1, these are NULL: the next cycle runs full and records them.
ALTER TABLE trending._capture_installed ADD COLUMN armed_columns jsonb, ADD COLUMN armed_partitions jsonb;

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

-- Issue 18 (items 2 and 3): reconciliation rotates through the incremental
-- state, a share per cycle; _state_meta.rotation keeps how far the round
-- got (NULL: a new round starts at the next cycle). reconcile_every, the
-- length of a round, is at most 7 days: a larger value set under 1.1 is
-- clamped to 7 days, with a WARNING.
ALTER TABLE trending._state_meta ADD COLUMN rotation jsonb;
UPDATE trending._setting_defaults
SET description = 'How long reconciling the whole incremental state with the sources takes: every cycle checks a share of it, records any drift in trending.runs and repairs it, and the cycle that completes the round is a reconcile (1 hour to 7 days).'
WHERE name = 'reconcile_every';
-- Issue 18 (item 4): the state keeps each live save and repost of a track
-- (as in sql/schema/85_state.sql) where 1.1 kept the hours that hold them.
-- A state built by 1.1 has none of them: it is marked invalid, and the
-- first cycle after the upgrade runs full and builds them (it would run
-- full anyway: the capture is not armed, above).
DROP TABLE trending._state_track_hours;
CREATE UNLOGGED TABLE trending._state_track_actions (
    track_id   bigint    NOT NULL,
    is_repost  boolean   NOT NULL,
    user_id    bigint,
    created_at timestamp
);
CREATE INDEX _state_track_actions_pair_idx ON trending._state_track_actions (track_id, user_id, is_repost);
CREATE INDEX _state_track_actions_user_idx ON trending._state_track_actions (user_id);
CREATE INDEX _state_track_actions_created_idx ON trending._state_track_actions (created_at);
UPDATE trending._state_meta SET valid = false;
DO $do$
DECLARE
    v_value text;
BEGIN
    SELECT o.value INTO v_value FROM trending._setting_overrides o
    WHERE o.name = 'reconcile_every' AND o.value::interval > interval '7 days';
    IF FOUND THEN
        RAISE WARNING 'trending: reconcile_every % is more than 7 days, the most 1.2 accepts: set to 7 days', v_value;
        UPDATE trending._setting_overrides SET value = '7 days', updated_at = now() WHERE name = 'reconcile_every';
    END IF;
END;
$do$;
