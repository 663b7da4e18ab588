-- trending: upgrade script 1.0 -> 1.1. Generated (see the Makefile): this
-- hand-written delta first, then every routine of sql/functions/ as CREATE OR
-- REPLACE, then sql/grants.sql and sql/comments.sql, then
-- sql/updates/1.0--1.1-finish.sql. Edit the parts, not the generated file.
\echo Use "ALTER EXTENSION trending UPDATE TO '1.1'" to load this file. \quit

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

-- Issue 9: how often a cycle reconciles the incremental state (sql/schema/20_settings.sql).
INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('reconcile_every', '1 day',
     'How often a cycle reconciles: a full recompute that also compares the incremental state with the sources, records any drift in trending.runs and repairs it (1 hour to 100 years).');

-- Issue 9: the entry points take `full` (a full cycle on request).
SELECT pg_temp.trending_drop_keeping_grants(ARRAY[
    'trending.recompute(timestamptz)'::regprocedure, 'trending._recompute(timestamptz)'::regprocedure,
    'trending.scheduled_recompute(timestamptz)'::regprocedure,
    'trending._scheduled_start(timestamptz)'::regprocedure]);

-- New settings (sql/schema/20_settings.sql).
INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('stale_after', '2 hours',
     'trending.status reports the scores stale (and not healthy) when no cycle has succeeded for this long.');

-- Movers (issue 11, sql/schema/90_movers.sql).
INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('movers_top_n', '100',
     'How many of the top of each list trending.movers() compares between the last two cycles (1 to 1000).'),
    ('movers_max_genres', '50',
     'How many genres (those with the most scored tracks) get their own movers list per range (0 to 1000; 0: none).');

-- Issue 8: no role but the extension's owner may write trending.runs or the
-- score tables; cycles write them through the checked SECURITY DEFINER
-- functions (see docs/security.md). 1.0's README granted the job role
-- INSERT, UPDATE and DELETE on them: take those back (a role that runs
-- cycles gets what it needs from trending.grant_cycle, and the finish part
-- gives the roles that ran cycles on 1.0 the new routines).
DO $do$
DECLARE
    v_grant record;
BEGIN
    FOR v_grant IN
        SELECT c.oid::regclass AS rel,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee,
               string_agg(DISTINCT a.privilege_type, ', ') AS privileges
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid IN ('trending.runs'::regclass, 'trending.track_trending_scores'::regclass,
                        'trending.playlist_trending_scores'::regclass)
          AND a.grantee <> c.relowner AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
        GROUP BY 1, 2
    LOOP
        EXECUTE format('REVOKE %s ON %s FROM %s', v_grant.privileges, v_grant.rel, v_grant.grantee);
        RAISE NOTICE 'trending: revoked % on % from % (cycles write through checked functions now)',
                     v_grant.privileges, v_grant.rel, v_grant.grantee;
    END LOOP;
END;
$do$;

-- Which kind of cycle each run was and why (sql/schema/50_runs.sql); 1.0's
-- runs were all full, but their reason is unknown: left NULL.
ALTER TABLE trending.runs
    ADD COLUMN cycle_kind text,
    ADD COLUMN cycle_reason text;
ALTER TABLE trending.runs ADD CONSTRAINT runs_cycle_kind_check CHECK (cycle_kind IN ('full', 'incremental', 'reconcile'));
ALTER TABLE trending.runs
    ADD COLUMN affected jsonb,
    ADD COLUMN drift jsonb;
