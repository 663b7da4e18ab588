-- Every public object documents itself in \d+ and \df+.
COMMENT ON TABLE trending.track_trending_scores IS
    'Trending scores of tracks, one row per (track, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by the API and trending.top_tracks().';
COMMENT ON COLUMN trending.track_trending_scores.genre IS 'The track''s genre when its score was written (NULL when it has none).';
COMMENT ON COLUMN trending.track_trending_scores.score IS 'The slice''s score (docs/reference.md); never 0 (zero scores are not stored).';
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

COMMENT ON FUNCTION trending.recompute(timestamptz, boolean) IS
    'Run one cycle of every enabled strategy at now (default: the transaction''s start), in the caller''s transaction; returns a jsonb summary (rows inserted/updated/deleted/unchanged and ms per strategy and range, bad rows found, WAL bytes), or {"status": "skipped"} at once when another cycle is running. Raises on failure; nothing of a failed cycle stays.';
COMMENT ON FUNCTION trending.top_tracks(text, text, integer, integer, text) IS
    'Trending tracks: top_tracks(time_range => week|month|allTime, genre => NULL for all, lim => 1..1000, off => 0.., version => pnagD|AnlGe).';
COMMENT ON FUNCTION trending.underground_tracks(text, text, integer, integer) IS
    'Underground trending: the TRACKS/pnagD list without its top 20, owners with < 1500 followers and followings.';
COMMENT ON FUNCTION trending.top_playlists(text, integer, integer) IS
    'Trending playlists: top_playlists(time_range => week|month|year, lim => 1..1000, off => 0..).';
COMMENT ON FUNCTION trending._recompute(timestamptz, boolean) IS 'Internal: the cycle itself, in PL/Python; call trending.recompute().';
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
COMMENT ON COLUMN trending.runs.step_ms IS 'Milliseconds of each finished step: check_sources, track_inputs, track_changes, playlist_inputs, playlist_changes, one per slice (TYPE/version/range), then record_movers and write_state.';
COMMENT ON COLUMN trending.runs.slice_rows IS 'Per slice: rows inserted, updated, deleted and left unchanged.';
COMMENT ON COLUMN trending.runs.wal_bytes IS 'WAL written in the cluster between the run''s start and end (includes other sessions'' writes).';
COMMENT ON COLUMN trending.runs.cycle_kind IS 'full (every score recomputed), incremental (only the affected items, and a share of the incremental state compared with the sources) or reconcile (an incremental cycle that completes a round of that comparison: reconcile_every; in 1.1, a full cycle); NULL for a skipped call.';
COMMENT ON COLUMN trending.runs.cycle_reason IS 'Why the cycle was of its kind: for a full one, the first reason the change capture gave (trending.capture_status), e.g. not installed or not armed.';
COMMENT ON VIEW trending.status IS
    'One row: last successful run and the age of the scores (its now against the clock), last failed or aborted run with its SQLSTATE and message, the cycle holding the lease now, if any, the last broken lease, healthy and why not (unhealthy_reason), and the change capture''s backlog (capture_*: pending changes and plays, time since a cycle consumed it, its bound capture_max_pause, whether it records, the open transactions holding changes back).';
COMMENT ON PROCEDURE trending.scheduled_recompute(timestamptz, boolean) IS
    'The cycle pg_cron runs (CALL trending.scheduled_recompute()): commits after each step, records failures in trending.runs and re-raises them, returns quietly on a standby or when a cycle is running. Call at top level, not inside BEGIN.';
COMMENT ON FUNCTION trending._scheduled_start(timestamptz, boolean) IS 'Internal: first step of trending.scheduled_recompute().';
COMMENT ON FUNCTION trending._scheduled_step(bigint, integer) IS 'Internal: one step of trending.scheduled_recompute(); continues only a run this session started (else 42501 or 55000).';
COMMENT ON FUNCTION trending.schedule(text) IS
    'Schedule CALL trending.scheduled_recompute() with pg_cron as job trending-recompute (default hourly, ''0 * * * *'', GMT); idempotent; returns the job id. Needs pg_cron in this database; otherwise use the trending CLI.';
COMMENT ON FUNCTION trending.unschedule() IS
    'Remove the pg_cron job trending-recompute; true if it existed. Does not stop a run in progress.';
COMMENT ON FUNCTION trending._require_local_pg_cron(text) IS 'Internal: raise with a hint (the CLI command that does the given action from here) unless pg_cron is loaded and installed in this database.';
COMMENT ON FUNCTION trending.pause() IS
    'Pause this database''s pg_cron job trending-recompute (schedule and history kept; trending.resume() restarts it); true if there was one. Needs pg_cron in this database; otherwise: trending pause --dsn ... (the CLI).';
COMMENT ON FUNCTION trending.resume() IS
    'Make this database''s paused pg_cron job trending-recompute run again; raises when there is none. Needs pg_cron in this database; otherwise: trending resume --dsn ... (the CLI).';
COMMENT ON FUNCTION trending._raise(text, text, text, text) IS 'Internal: raise with a message, SQLSTATE and optional DETAIL and HINT.';
COMMENT ON FUNCTION trending.compare_scores(regclass, text, double precision, integer) IS
    'Compare a legacy score table (any relation with track_id or playlist_id, type, version, time_range, score; genre optional) with trending''s, per slice: compare_scores(legacy => ''public.track_trending_scores'', kind => track|playlist, tolerance => 1e-9 relative, top_n => 100). Returns per (type, version, time_range): whether trending computes it, rows on each side, legacy zero-score rows (left out: trending stores none), rows on one side only, scores differing beyond the tolerance and the largest relative difference, genres differing (NULL without a legacy genre column), and the overlap of each side''s top N (score DESC, id DESC) and whether its order is the same. SECURITY INVOKER: the caller reads the legacy relation.';

COMMENT ON VIEW trending.metrics IS
    'One row per monitoring figure (metric, labels kind and counter, value, help): scores age, last run duration, WAL, rows per kind and action, bad rows per counter, run in progress, stale, healthy, and the change capture''s backlog (capture_pending, capture_unconsumed_seconds, capture_max_seconds, capture_recording, capture_held_back). docs/monitoring/queries.yaml exposes it to prometheus-postgres-exporter.';
COMMENT ON COLUMN trending.status.stale IS 'true when no run has succeeded within the stale_after setting (or none ever has).';
COMMENT ON COLUMN trending.status.healthy IS 'true when not stale and the last finished run (ok, failed or aborted) succeeded; running and skipped runs change neither.';
COMMENT ON COLUMN trending.status.last_cycle_kind IS 'Kind of the last successful run: full, incremental or reconcile.';
COMMENT ON COLUMN trending.status.last_reconcile_at IS 'When the last round of reconciliation completed: its reconciling run finished (reconcile_every; NULL: none yet).';
COMMENT ON COLUMN trending.status.last_reconcile_drift IS 'The drift that round found and repaired, over all its cycles (the reconciling run''s trending.runs.drift).';
COMMENT ON COLUMN trending.status.drift_found IS 'true when the last round of reconciliation found drift: a change the incremental cycles missed (repaired; worth a bug report).';
COMMENT ON COLUMN trending.status.last_cycle_reason IS 'Why the last successful run was of its kind (trending.runs.cycle_reason).';
COMMENT ON FUNCTION trending._check_sources(text, jsonb) IS
    'Internal: lock the source tables as a read would, then list every reason not to read them (missing, not a plain table, row-level security, a column type not listed, code owned by a non-superuser); docs/security.md.';

-- Issue 8: who may do what (docs/security.md).
COMMENT ON FUNCTION trending.grant_cycle(name) IS
    'Let a role run cycles (recompute(), CALL scheduled_recompute()) and nothing more: EXECUTE on the entry points, the routines they call and the checked writer functions; USAGE on the configured source schema and SELECT on exactly its source tables; TEMP on this database. No write privilege on any table. Idempotent; call again after changing source_schema.';
COMMENT ON FUNCTION trending.revoke_cycle(name) IS
    'Take back what grant_cycle gave (USAGE on schema trending and SELECT on the score tables, settings and strategies stay: other sets share them).';
COMMENT ON FUNCTION trending.grant_read(name) IS
    'Let a role read the scores: SELECT on the score tables, status, metrics, settings and strategies, EXECUTE on top_tracks, underground_tracks and top_playlists. Idempotent.';
COMMENT ON FUNCTION trending.revoke_read(name) IS 'Take back what grant_read gave on status, metrics and the read functions.';
COMMENT ON FUNCTION trending.grant_configure(name) IS
    'Let a role change trending.settings and switch trending.strategies (UPDATE, DELETE on the two views; the writes are validated). It cannot run cycles nor touch the run history. Idempotent.';
COMMENT ON FUNCTION trending.revoke_configure(name) IS 'Take back UPDATE and DELETE on trending.settings and trending.strategies.';
COMMENT ON FUNCTION trending._privileges(text, name, boolean) IS 'Internal: the body of grant_* and revoke_* (sets cycle, read, configure, cycle_routines).';
COMMENT ON FUNCTION trending._wal_compress(text) IS
    'Internal: the score writers compress the full-page images of their WAL (wal_compression lz4, or pglz; only as a superuser, only when the server does not compress already); called with the value it returned, puts it back.';
COMMENT ON FUNCTION trending._own_run(bigint) IS
    'Internal: raise unless the run is this backend''s own running run (pid, status, cycle lease held): 42501 for another session''s run, 55000 for one not running or whose lease was broken.';
COMMENT ON FUNCTION trending._run_begin(text, timestamptz, name, jsonb) IS
    'Internal, SECURITY DEFINER: begin a run in the transaction that took the cycle lease (mark dead runs aborted, prune by run_retention, insert the running row, name it in the lease).';
COMMENT ON FUNCTION trending._lease_take(text, timestamptz, name) IS
    'Internal, SECURITY DEFINER: take the cycle lease for a run about to begin, or record the call skipped (another cycle runs) or failed (a non-cycle blocks the lease''s lock).';
COMMENT ON FUNCTION trending._lease_held() IS
    'Internal, SECURITY DEFINER: raise 55000 unless this session holds the cycle lease for a running run of its own.';
COMMENT ON FUNCTION trending._cycle_holder() IS
    'Internal, SECURITY DEFINER: the live cycle holding the lease (pid, run, role, since) and the last broken lease; read by trending.status.';
COMMENT ON SCHEMA trending_private IS
    'Internal: objects no role but the extension''s owner may even name (the cycle lease).';
COMMENT ON TABLE trending_private.cycle_lease IS
    'Internal: the cycle lease (one row): the run and backend (pid, backend_start) allowed to run a cycle, and the last lease broken. No role has any privilege on it; only the extension''s SECURITY DEFINER functions take, renew, check and free it.';
COMMENT ON FUNCTION trending._run_step_done(bigint, text, double precision, jsonb, jsonb, text, text, jsonb, jsonb) IS
    'Internal, SECURITY DEFINER: record a finished step of the caller''s own run.';
COMMENT ON FUNCTION trending._run_finish(bigint) IS 'Internal, SECURITY DEFINER: mark the caller''s own run ok; its row as jsonb.';
COMMENT ON FUNCTION trending._run_fail(bigint, text, text, text, text) IS 'Internal, SECURITY DEFINER: record the caller''s own run failed.';
COMMENT ON FUNCTION trending._apply_slice(bigint, text, text, text, text, timestamp, oid) IS
    'Internal, SECURITY DEFINER: write one slice''s staged changes for the caller''s own run; checks the changes table is plain, the stored key at each ctid, and asks for a re-stage after a table rewrite.';
COMMENT ON FUNCTION trending._remove_slice(bigint, text, text, text, text) IS
    'Internal, SECURITY DEFINER: delete a disabled slice''s rows for the caller''s own run.';
COMMENT ON FUNCTION trending._safe_temp_table(text, text[], regtype[]) IS
    'Internal: the session''s temp table, once found safe for a definer to read (made by _staging_table, so owned by the extension''s owner; plain heap, expected columns and built-in types, no index, rule, trigger, policy, inheritance or extended statistics).';
COMMENT ON FUNCTION trending._staging_columns(text) IS
    'Internal: the catalogue of the temp tables a cycle stages for the definer writers (name -> column definitions, built-in types only); NULL for any other name.';
COMMENT ON FUNCTION trending._staging_own(oid) IS
    'Internal: whether a relation is a staging table as _staging_table makes them (plain temp table of this session, catalogue name, owned by the current user).';
COMMENT ON FUNCTION trending._staging_table(text) IS
    'Internal, SECURITY DEFINER: create a staging table of the catalogue empty, owned by the extension''s owner, INSERT and SELECT for the session; refuses (55000) a relation of that name the session made.';
COMMENT ON FUNCTION trending._staging_analyze(text) IS 'Internal, SECURITY DEFINER: ANALYZE a staging table made by _staging_table.';
COMMENT ON FUNCTION trending._staging_drop() IS 'Internal, SECURITY DEFINER: drop the session''s staging tables made by _staging_table; the number dropped.';

-- Change capture (issue 9, docs/incremental.md)
COMMENT ON VIEW trending.capture_status IS
    'One row: is the change capture installed (trending.install_capture()), recording (until record_until: capture_max_pause after a cycle last consumed it) and armed (by a full cycle), may the next cycle be incremental (incremental_ok) and if not why (full_cycle_reason), how many captured changes wait to be consumed (pending_*) and since when (unconsumed_for), and which open or prepared transactions hold changes back (held_by).';
COMMENT ON FUNCTION trending.install_capture() IS
    'Superuser: put the change-capture triggers (statement-level, AFTER INSERT/UPDATE/DELETE/TRUNCATE) on the source tables of source_schema; briefly locks each table (SHARE ROW EXCLUSIVE). Idempotent; grants nothing (the triggers run as role trending_capture). See docs/incremental.md.';
COMMENT ON FUNCTION trending.uninstall_capture() IS
    'Superuser: remove every change-capture trigger, leaving the source tables as they were; briefly locks each table. Idempotent.';
COMMENT ON FUNCTION trending._capture_snapshot(interval) IS 'Internal: the snapshot a cycle consumes the capture up to, the last one''s, and why the capture cannot be armed or advanced at it (NULL: it can).';
COMMENT ON FUNCTION trending._capture_margin() IS 'Internal: how long before record_until a cycle treats the capture as no longer recording (a quarter of capture_max_pause, at most 10 minutes).';
COMMENT ON FUNCTION trending._capture_writers_before(timestamptz) IS 'Internal: the open transactions writing a source table that started before the given time, or prepared (pid or gid), or NULL.';
COMMENT ON FUNCTION trending._capture_arm(text) IS 'Internal: a full cycle arms the capture at its snapshot (or starts it recording again); returns why not, or NULL.';
COMMENT ON FUNCTION trending._capture_advance() IS 'Internal: an incremental cycle moves the capture watermark to its snapshot, or disarms it and returns why.';
COMMENT ON FUNCTION trending._capture_guard_drop() IS 'Internal: event trigger; a bare DROP EXTENSION trending with capture installed fails naming uninstall_capture().';
COMMENT ON FUNCTION trending._capture_follow_ddl() IS 'Internal: event trigger after CREATE TABLE, ALTER TABLE, ALTER TYPE; puts the capture triggers on new partitions of a source table and takes them off relations they can no longer read; never fails the DDL.';
COMMENT ON FUNCTION trending._capture_cover(oid, text) IS 'Internal: put the four capture triggers of a source table on a relation (the table or one of its partitions).';
COMMENT ON FUNCTION trending._capture_empty(oid) IS 'Internal: is the relation provably empty (every table in it has no page)?';
COMMENT ON VIEW trending._capture_read_columns IS 'Internal: the columns a cycle reads of each source table, with the types accepted (sources.py REQUIRED_COLUMNS).';
COMMENT ON FUNCTION trending._capture_tracks() IS 'Internal: capture trigger of tracks (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_plays() IS 'Internal: capture trigger of plays (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_saves() IS 'Internal: capture trigger of saves (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_reposts() IS 'Internal: capture trigger of reposts (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_users() IS 'Internal: capture trigger of users (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_user() IS 'Internal: capture trigger of aggregate_user (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_track() IS 'Internal: capture trigger of aggregate_track (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_plays() IS 'Internal: capture trigger of aggregate_plays (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_playlist() IS 'Internal: capture trigger of aggregate_playlist (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_playlists() IS 'Internal: capture trigger of playlists (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON TABLE trending._capture_changes IS 'Internal, UNLOGGED: delta rows (source, item kind, item id, user id) appended by the capture triggers.';
COMMENT ON TABLE trending._capture_plays IS 'Internal, UNLOGGED: net plays added per (item, hour of created_at), appended by the plays capture trigger.';
COMMENT ON TABLE trending._capture_truncates IS 'Internal, UNLOGGED: TRUNCATEs of source tables (the next cycle runs full).';
COMMENT ON TABLE trending._capture_armed IS 'Internal, UNLOGGED: whether and until when the capture records, and its watermark (the last consuming cycle''s snapshot) while armed; lost with a crash, a failover or a restore, which makes the next cycles full.';
COMMENT ON TABLE trending._capture_installed IS 'Internal: the source tables install_capture() put triggers on, and what the last full cycle verified (dumped).';
COMMENT ON VIEW trending._capture_catalog IS 'Internal: per source table, the catalog now against what install and the last full cycle recorded; the first problem or drift.';
COMMENT ON VIEW trending._capture_backlog IS 'Internal: the change capture''s backlog against its bound (pending ids and plays, time since consumed, capture_max_pause, record_until, recording, held_by), from its own tables only, for trending.status and capture_status.';
COMMENT ON VIEW trending._capture_changed IS 'Internal: trending._capture_changes one id per row (seq, source, kind, item_id, user_id), for a cycle.';
COMMENT ON VIEW trending._capture_play_hours IS 'Internal: trending._capture_plays one (item, hour, net count) per row, for a cycle.';

-- Incremental cycles' state (issue 9, sql/schema/85_state.sql)
COMMENT ON TABLE trending._state_meta IS 'Internal, UNLOGGED: one row, whether the incremental state is valid, at which capture watermark (since) and cycle now, for which source schema and slices (fingerprint), when it was last rebuilt and when its current round of reconciliation began, and how far that round got (rotation).';
COMMENT ON TABLE trending._state_tracks IS 'Internal, UNLOGGED: per eligible track, the inputs of its last scoring and the dates its age is computed from.';
COMMENT ON TABLE trending._state_playlists IS 'Internal, UNLOGGED: per eligible playlist, the inputs of its last scoring and the dates its age is computed from.';
COMMENT ON TABLE trending._state_track_users IS 'Internal, UNLOGGED: each user''s track karma weight as the state''s karma sums hold it (an incremental cycle moves those sums by a changed user''s difference).';
COMMENT ON TABLE trending._state_playlist_users IS 'Internal, UNLOGGED: each user''s playlist karma weight as the state''s karma sums hold it (an incremental cycle moves those sums by a changed user''s difference).';
COMMENT ON TABLE trending._state_playlist_owners IS 'Internal, UNLOGGED: the owner of every playlist with one current row (a playlist becomes eligible when its owner gets an aggregate_user row).';
COMMENT ON TABLE trending._state_play_buckets IS 'Internal, UNLOGGED: plays per track and UTC hour from the month window''s first hour on, counted up to the capture watermark.';
COMMENT ON TABLE trending._state_track_actions IS 'Internal, UNLOGGED: every live save and repost of a track as a cycle last read it (a changed one moves its track''s counts and karma by the difference).';
COMMENT ON TABLE trending._state_playlist_hours IS 'Internal, UNLOGGED: the hours that hold a live save or repost of a playlist (from the year window''s first hour on).';
COMMENT ON FUNCTION trending._state_load(regclass, text) IS 'Internal: a full cycle replaces one state table whole, its secondary indexes built after the load (owner only).';
COMMENT ON FUNCTION trending._state_write(bigint, text, boolean) IS 'Internal: a cycle stores its staging into the incremental state (checked: the caller''s own run, plain temp tables).';
COMMENT ON FUNCTION trending._state_advance(bigint, timestamp, timestamp) IS 'Internal: an incremental cycle adds the delta rows'' plays to the buckets, in the transaction that moves the watermark past them.';
COMMENT ON FUNCTION trending._state_finish(bigint, timestamp, text, text) IS 'Internal: the last step marks the state valid at the capture''s watermark and the cycle''s now (invalid when the capture is not armed).';
COMMENT ON COLUMN trending.runs.affected IS 'Incremental and reconciling cycles: the items of each kind they rescored ({"track": n, "playlist": n}).';
COMMENT ON COLUMN trending.runs.drift IS 'Incremental cycles: what their share of the reconciliation found: items whose stored inputs differed from the sources'' ({"tracks": n, "playlists": n}), users whose karma weight did ("track_users", "playlist_users") and hourly play buckets that did ("play_hours"), all repaired; a reconciling cycle''s is its whole round''s; 0 everywhere when incremental cycles were exact.';

-- Issue 11: insight.
COMMENT ON FUNCTION trending.preview(timestamptz) IS
    'A dry run: the rows a cycle at now (default: the transaction''s start) would insert, update and delete, per slice (kind, type, version, time_range) and id, with old and new score, old and new rank (score DESC, id DESC within the slice, as the API orders) and, for tracks, old and new genre. Writes nothing, records no run, takes no lock a cycle or a reader waits on (ACCESS SHARE on the sources and score tables). Needs what a cycle needs (trending.grant_cycle).';
COMMENT ON FUNCTION trending._preview(timestamptz) IS 'Internal: stages a cycle at now into pg_temp.trending_preview; call trending.preview().';
COMMENT ON FUNCTION trending.explain_track(integer, text, text, timestamptz) IS
    'Explain one track''s TRACKS/<version> score of a time range as jsonb: every input (windowed counts, totals, karma with its biggest contributors, age in days, owner followers), each term of the formula, decay, K, the computed score, the stored score with its created_at, and whether they agree (relative 1e-12); for an item not eligible, the rule or bad-row counter that excludes it. A NULL now is trending.status.scores_as_of. Reads the sources (trending.grant_cycle).';
COMMENT ON FUNCTION trending.explain_playlist(integer, text, timestamptz) IS
    'Explain one playlist''s PLAYLISTS/pnagD score of a time range (week, month, year) as jsonb, as explain_track does for tracks. A NULL now is trending.status.scores_as_of. Reads the sources (trending.grant_cycle).';
COMMENT ON FUNCTION trending._explain(text, integer, text, text, timestamptz) IS 'Internal: the document of explain_track() and explain_playlist().';

-- Movers (issue 11)
COMMENT ON TABLE trending.movers_top IS
    'The top movers_top_n of every list the API reads (TRACKS/pnagD per range, overall with genre '''' and per genre for the movers_max_genres biggest genres; PLAYLISTS/pnagD per range) as the last two successful cycles left them; written by trending._record_top, read by trending.movers(). At most 2 x lists x N rows.';
COMMENT ON FUNCTION trending.movers(text, text, text) IS
    'Entries into, exits from and climbs within the top movers_top_n of one list (time_range; genre NULL for overall; kind track or playlist) between the previous successful cycle and the last, with both ranks and scores. After each successful cycle, NOTIFY trending carries the total entries (docs/operations.md).';
COMMENT ON FUNCTION trending._record_top(bigint, integer, integer, boolean) IS
    'Internal: at the end of the caller''s own successful run, record the top N of every list in trending.movers_top, keep only the previous generation besides it, and count the entries.';
COMMENT ON COLUMN trending.movers_top.run_id IS 'The successful cycle that recorded the row (one of the last two).';
COMMENT ON COLUMN trending.movers_top.genre IS 'The genre of a track list; '''' for the overall list and for playlists.';
COMMENT ON COLUMN trending.movers_top.rank IS 'The position in the list as the API ranks it (score DESC, id DESC), from 1.';
