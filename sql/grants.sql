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
-- install/uninstall and the watermark routines stay revoked from PUBLIC:
-- install_capture() grants INSERT on the delta tables and USAGE on their
-- sequence to the source tables' writers; cycles call _capture_snapshot,
-- _capture_arm and _capture_advance (SECURITY DEFINER, cycle lock required).
GRANT SELECT ON trending.capture_status TO PUBLIC;

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
