-- Privileges, all explicit. PUBLIC may read the scores and the configuration
-- and call the read functions. Running a cycle and changing the configuration
-- are for superusers and the roles a DBA grants:
--   GRANT EXECUTE ON FUNCTION trending.recompute(timestamptz), trending._recompute(timestamptz)
--       TO trending_job;   -- plus SELECT on the source tables, writes on the score tables and runs
--   GRANT EXECUTE ON PROCEDURE trending.scheduled_recompute(timestamptz) TO trending_job;
--   GRANT EXECUTE ON FUNCTION trending._scheduled_start(timestamptz),
--       trending._scheduled_step(bigint, integer) TO trending_job;
--   GRANT UPDATE ON trending.settings, trending.strategies TO dba;
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
    trending._validate_page(integer, integer),
    trending._raise(text, text, text, text),
    trending._python_init()
TO PUBLIC;
