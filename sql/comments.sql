-- Every public object documents itself in \d+ and \df+.
COMMENT ON TABLE trending.track_trending_scores IS
    'Trending scores of tracks, one row per (track, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by the API and trending.top_tracks().';
COMMENT ON COLUMN trending.track_trending_scores.genre IS 'The track''s genre when its score was written (NULL when it has none).';
COMMENT ON COLUMN trending.track_trending_scores.score IS 'SPEC.md''s score for the slice; never 0 (zero scores are not stored).';
COMMENT ON COLUMN trending.track_trending_scores.created_at IS 'The cycle''s now (UTC) when this row''s current score or genre was written; unchanged rows keep it.';
COMMENT ON TABLE trending.playlist_trending_scores IS
    'Trending scores of playlists, one row per (playlist, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by trending.top_playlists().';
COMMENT ON COLUMN trending.playlist_trending_scores.created_at IS 'The cycle''s now (UTC) when this row''s current score was written; unchanged rows keep it.';

COMMENT ON VIEW trending.settings IS
    'Settings of the extension: UPDATE trending.settings SET value = ... WHERE name = ...; (NULL or DELETE restores the default). Overrides survive pg_dump/pg_restore.';
COMMENT ON VIEW trending.strategies IS
    'Registered scoring strategies: UPDATE trending.strategies SET enabled = ... WHERE type = ... AND version = ...; the next cycle writes or removes their rows. Choices survive pg_dump/pg_restore.';
COMMENT ON TABLE trending._setting_defaults IS 'Shipped defaults of trending.settings (not dumped: CREATE EXTENSION recreates them).';
COMMENT ON TABLE trending._setting_overrides IS 'The user''s settings (dumped by pg_dump). Edit through the view trending.settings.';
COMMENT ON TABLE trending._strategy_defaults IS 'Registered strategies as shipped (not dumped: CREATE EXTENSION recreates them).';
COMMENT ON TABLE trending._strategy_overrides IS 'The user''s on/off choices (dumped by pg_dump). Edit through the view trending.strategies.';

COMMENT ON TYPE trending.ranked_track IS 'A row of top_tracks() and underground_tracks(): absolute rank, track, score, genre.';
COMMENT ON TYPE trending.ranked_playlist IS 'A row of top_playlists(): absolute rank, playlist, score.';

COMMENT ON FUNCTION trending.recompute(timestamptz) IS
    'Run one cycle of every enabled strategy at now (default: the transaction''s start), in the caller''s transaction; returns a jsonb summary (rows inserted/updated/deleted/unchanged and ms per strategy and range, bad rows found, WAL bytes), or {"status": "skipped"} at once when another cycle is running. Raises on failure; nothing of a failed cycle stays.';
COMMENT ON FUNCTION trending.top_tracks(text, text, integer, integer, text) IS
    'Trending tracks: top_tracks(time_range => week|month|allTime, genre => NULL for all, lim => 1..1000, off => 0.., version => pnagD|AnlGe).';
COMMENT ON FUNCTION trending.underground_tracks(text, text, integer, integer) IS
    'Underground trending: the TRACKS/pnagD list without its top 20, owners with < 1500 followers and followings.';
COMMENT ON FUNCTION trending.top_playlists(text, integer, integer) IS
    'Trending playlists: top_playlists(time_range => week|month|year, lim => 1..1000, off => 0..).';
COMMENT ON FUNCTION trending._recompute(timestamptz) IS 'Internal: the cycle itself, in PL/Python; call trending.recompute().';
COMMENT ON FUNCTION trending._python_init() IS 'Internal: makes the embedded trending_pl package importable in this session.';
COMMENT ON FUNCTION trending._validate_choice(text, text, text[]) IS 'Internal: raises 22023 naming the valid values.';
COMMENT ON FUNCTION trending._validate_page(integer, integer) IS 'Internal: raises 22023 unless 1 <= lim <= 1000 and off >= 0.';
COMMENT ON FUNCTION trending._validate_setting(text, text) IS 'Internal: raises 22023 for a value a setting cannot take.';
COMMENT ON FUNCTION trending._write_setting() IS 'Internal: INSTEAD OF trigger making trending.settings writable.';
COMMENT ON FUNCTION trending._write_strategy() IS 'Internal: INSTEAD OF trigger making trending.strategies writable.';

COMMENT ON TABLE trending.runs IS
    'Run history: one row per cycle (running, ok, failed, aborted, skipped) with the now used, per-step milliseconds, per-slice row counts, WAL bytes and, on failure, SQLSTATE and message. Kept for the run_retention setting.';
COMMENT ON COLUMN trending.runs.trigger IS 'recompute: SELECT trending.recompute(); scheduled: CALL trending.scheduled_recompute() (pg_cron).';
COMMENT ON COLUMN trending.runs.cycle_now IS 'The now the scores were computed for.';
COMMENT ON COLUMN trending.runs.step_ms IS 'Milliseconds of each finished step: check_sources, track_inputs, playlist_inputs, then one per slice (TYPE/version/range).';
COMMENT ON COLUMN trending.runs.slice_rows IS 'Per slice: rows inserted, updated, deleted and left unchanged.';
COMMENT ON COLUMN trending.runs.wal_bytes IS 'WAL written in the cluster between the run''s start and end (includes other sessions'' writes).';
COMMENT ON VIEW trending.status IS
    'One row: last successful run and the age of the scores, last failed or aborted run with its SQLSTATE and message, and the backend running a cycle now, if any.';
COMMENT ON PROCEDURE trending.scheduled_recompute(timestamptz) IS
    'The cycle pg_cron runs (CALL trending.scheduled_recompute()): commits after each step, records failures in trending.runs and re-raises them, returns quietly on a standby or when a cycle is running. Call at top level, not inside BEGIN.';
COMMENT ON FUNCTION trending._scheduled_start(timestamptz) IS 'Internal: first step of trending.scheduled_recompute().';
COMMENT ON FUNCTION trending._scheduled_step(bigint, integer) IS 'Internal: one step of trending.scheduled_recompute().';
COMMENT ON FUNCTION trending.schedule(text) IS
    'Schedule CALL trending.scheduled_recompute() with pg_cron as job trending-recompute (default hourly, ''0 * * * *'', GMT); idempotent; returns the job id. Needs pg_cron in this database; otherwise use the trending CLI.';
COMMENT ON FUNCTION trending.unschedule() IS
    'Remove the pg_cron job trending-recompute; true if it existed. Does not stop a run in progress.';
COMMENT ON FUNCTION trending._require_local_pg_cron() IS 'Internal: raise with a hint unless pg_cron is loaded and installed in this database.';
COMMENT ON FUNCTION trending._raise(text, text, text, text) IS 'Internal: raise with a message, SQLSTATE and optional DETAIL and HINT.';
