-- Privileges, all explicit. PUBLIC may read the scores and the configuration
-- and call the read functions; nothing written in an untrusted language
-- (plpython3u) is granted to PUBLIC. Running a cycle and changing the
-- configuration are for superusers and the roles a DBA grants them to with
-- trending.grant_cycle(role), trending.grant_configure(role) (and
-- trending.grant_read(role) for readers when PUBLIC's grants are revoked):
-- see sql/functions/_privileges.sql and docs/security.md. No role but the
-- extension's owner may write trending.runs or the score tables: a cycle
-- writes them through the SECURITY DEFINER functions _run_* and _apply_slice,
-- which check that the run is the caller's own.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA trending FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA trending FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA trending FROM PUBLIC;

GRANT USAGE ON SCHEMA trending TO PUBLIC;
GRANT SELECT ON trending.track_trending_scores, trending.playlist_trending_scores,
                trending.settings, trending.strategies, trending.status TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    trending.top_tracks(text, text, integer, integer, text),
    trending.underground_tracks(text, text, integer, integer),
    trending.top_playlists(text, integer, integer),
    trending._validate_choice(text, text, text[]),
    trending._validate_page(integer, integer)
TO PUBLIC;

-- compare_scores: a read, SECURITY INVOKER (the caller needs SELECT on the legacy relation).
GRANT EXECUTE ON FUNCTION trending.compare_scores(regclass, text, double precision, integer) TO PUBLIC;

-- Monitoring: anyone who may read the status may scrape its figures.
GRANT SELECT ON trending.metrics TO PUBLIC;

-- _check_sources (issue 8): plpgsql, SECURITY INVOKER, reads the catalog and
-- takes ACCESS SHARE locks with the caller's own SELECT privilege; every
-- reader of the sources calls it (cycles, underground_tracks).
GRANT EXECUTE ON FUNCTION trending._check_sources(text, jsonb) TO PUBLIC;

-- Change capture (issue 9, docs/incremental.md). capture_status: like
-- status, anyone may see whether the capture works. The trigger functions,
-- install/uninstall and the watermark routines stay revoked from PUBLIC
-- (EXECUTE is checked when a trigger is created: no writer can put a
-- capture trigger on a table of its own to forge delta rows); cycles call
-- _capture_snapshot, _capture_arm and _capture_advance (SECURITY DEFINER,
-- cycle lease required).
GRANT SELECT ON trending.capture_status TO PUBLIC;

-- The cycle lease (issue 17, sql/schema/55_cycle_lease.sql): no privilege on
-- schema trending_private nor on its table for anyone, so no role but the
-- owner can name, lock or write it (explicit, whatever default privileges
-- a DBA set). trending.status reads who holds it through _cycle_holder
-- (SECURITY DEFINER, returns only pids, roles and times): its readers need
-- to call it.
REVOKE ALL ON SCHEMA trending_private FROM PUBLIC;
REVOKE ALL ON TABLE trending_private.cycle_lease FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trending._cycle_holder() TO PUBLIC;

-- Issue 16: the capture triggers run as trending_capture (SECURITY
-- DEFINER), so the service's writers need nothing in schema trending and
-- may write nothing there. A cluster-wide NOLOGIN NOINHERIT role with no
-- other attribute and no membership; created here when missing (CREATE
-- EXTENSION runs as a superuser), refused when it exists with more, since it
-- could then be used to forge delta rows. It owns the ten trigger functions
-- and may exactly: use schema trending, append to the delta tables, draw
-- their sequence, read the armed row. The delta tables, the sequence, the
-- state and the scores stay the extension owner's.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'trending_capture') THEN
        CREATE ROLE trending_capture NOLOGIN NOINHERIT;
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.rolname = 'trending_capture'
                    AND (r.rolsuper OR r.rolcanlogin OR r.rolinherit OR r.rolcreaterole OR r.rolcreatedb
                         OR r.rolreplication OR r.rolbypassrls))
       OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                  WHERE 'trending_capture'::pg_catalog.regrole IN (m.roleid, m.member)) THEN
        RAISE EXCEPTION 'trending: role trending_capture exists with attributes or memberships it must not have'
            USING ERRCODE = '42501',
                  DETAIL = 'The capture triggers run as trending_capture: any way to log in or act as it could forge captured changes.',
                  HINT = 'Make it NOLOGIN NOINHERIT with no other attribute and no role membership (or drop it), then retry.';
    END IF;
END;
$do$;
ALTER FUNCTION trending._capture_tracks() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_plays() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_saves() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_reposts() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_users() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_user() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_track() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_plays() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_playlist() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_playlists() OWNER TO trending_capture;
GRANT USAGE ON SCHEMA trending TO trending_capture;
GRANT INSERT ON trending._capture_changes, trending._capture_plays, trending._capture_truncates TO trending_capture;
GRANT USAGE ON SEQUENCE trending._capture_seq TO trending_capture;
GRANT SELECT ON trending._capture_armed TO trending_capture;

-- Insight (issue 11): preview() and explain_track()/explain_playlist() read
-- the source tables as the caller and run plpython3u: not for PUBLIC.
-- Superusers, and the roles given trending.grant_cycle() (they read what a
-- cycle reads), may call them.

-- Movers (issue 11): a read like the score tables. movers() is SECURITY
-- INVOKER and reads trending.movers_top, which PUBLIC may read; cycles write
-- the table only through _record_top (SECURITY DEFINER, own run checked),
-- given by trending.grant_cycle().
GRANT SELECT ON trending.movers_top TO PUBLIC;
GRANT EXECUTE ON FUNCTION trending.movers(text, text, text) TO PUBLIC;
