-- The installed surface of CREATE EXTENSION trending: objects, shapes,
-- function properties and privileges.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(36);

SELECT has_extension('trending', 'the trending extension is installed');
SELECT is((SELECT requires FROM pg_available_extension_versions WHERE name = 'trending' AND version = '1.2'),
          ARRAY['plpython3u']::name[], 'trending requires plpython3u and nothing else (pg_cron stays optional)');
SELECT is((SELECT e.extversion || ':' || n.nspname || ':' || e.extrelocatable
           FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'trending'),
          '1.2:trending:false', 'version 1.2 lives in the fixed, non-relocatable schema trending');

SELECT tables_are('trending', ARRAY['track_trending_scores', 'playlist_trending_scores',
                                    '_setting_defaults', '_setting_overrides',
                                    '_strategy_defaults', '_strategy_overrides', 'runs',
                                    -- change capture (issue 9)
                                    '_capture_armed', '_capture_changes', '_capture_installed', '_capture_plays',
                                    '_capture_truncates',
                                    -- incremental cycles' state (issue 9)
                                    '_state_meta', '_state_tracks', '_state_playlists', '_state_playlist_owners', '_state_track_users',
                                    '_state_playlist_users',
                                    '_state_play_buckets', '_state_track_actions', '_state_playlist_hours',
                                    -- movers (issue 11)
                                    'movers_top'],
                  'the schema holds the two score tables, the configuration tables and the run history');
SELECT views_are('trending', ARRAY['settings', 'strategies', 'status', 'metrics', 'capture_status',
                                   '_capture_catalog', '_capture_changed', '_capture_play_hours',
                                   '_capture_read_columns', '_capture_backlog'],
                 'settings, strategies, status, metrics and the change capture''s views are views');
SELECT functions_are('trending', ARRAY['recompute', '_recompute', '_python_init', 'top_tracks',
                                       'underground_tracks', 'top_playlists', '_validate_choice',
                                       '_validate_page', '_validate_setting', '_write_setting',
                                       '_write_strategy', '_scheduled_start', '_scheduled_step',
                                       'scheduled_recompute', 'schedule', 'unschedule', 'pause', 'resume',
                                       '_require_local_pg_cron', '_raise', '_check_sources', 'compare_scores',
                                       '_own_run', '_run_begin', '_run_step_done',
                                       -- the cycle lease (issue 17)
                                       '_lease_take', '_lease_held', '_cycle_holder',
                                       '_run_finish', '_run_fail', '_apply_slice', '_remove_slice',
                                       '_safe_temp_table', '_privileges', 'grant_cycle', 'revoke_cycle',
                                       'grant_read', 'revoke_read', 'grant_configure', 'revoke_configure',
                                       -- change capture (issue 9)
                                       '_capture_advance', '_capture_aggregate_playlist', '_capture_aggregate_plays',
                                       '_capture_aggregate_track', '_capture_aggregate_user', '_capture_arm',
                                       '_capture_guard_drop', '_capture_playlists', '_capture_plays',
                                       '_capture_reposts', '_capture_saves', '_capture_snapshot', '_capture_tracks',
                                       '_capture_margin', '_capture_writers_before',
                                       '_capture_users', 'install_capture', 'uninstall_capture',
                                       -- the capture follows DDL, covers partitions (issue 16)
                                       '_capture_follow_ddl', '_capture_cover', '_capture_empty',
                                       '_state_write', '_state_load', '_state_advance', '_state_finish',
                                       '_wal_compress',
                                       -- staging tables made by the owner (issue 17)
                                       '_staging_columns', '_staging_own', '_staging_table',
                                       '_staging_analyze', '_staging_drop',
                                       -- insight (issue 11)
                                       'preview', '_preview', 'explain_track', 'explain_playlist', '_explain',
                                       'movers', '_record_top'],
                     'the routines are exactly the public API and its private helpers');

SELECT results_eq(
    $$SELECT column_name::text COLLATE "default", data_type::text COLLATE "default", is_nullable::text COLLATE "default" FROM information_schema.columns
      WHERE table_schema = 'trending' AND table_name = 'track_trending_scores' ORDER BY ordinal_position$$,
    $$VALUES ('track_id', 'integer', 'NO'), ('type', 'character varying', 'NO'),
             ('genre', 'character varying', 'YES'), ('version', 'character varying', 'NO'),
             ('time_range', 'character varying', 'NO'), ('score', 'double precision', 'NO'),
             ('created_at', 'timestamp without time zone', 'NO')$$,
    'track_trending_scores has the columns the API reads, in the documented order');
SELECT results_eq(
    $$SELECT column_name::text COLLATE "default", data_type::text COLLATE "default", is_nullable::text COLLATE "default" FROM information_schema.columns
      WHERE table_schema = 'trending' AND table_name = 'playlist_trending_scores' ORDER BY ordinal_position$$,
    $$VALUES ('playlist_id', 'integer', 'NO'), ('type', 'character varying', 'NO'),
             ('version', 'character varying', 'NO'), ('time_range', 'character varying', 'NO'),
             ('score', 'double precision', 'NO'), ('created_at', 'timestamp without time zone', 'NO')$$,
    'playlist_trending_scores has the columns the API reads, in the documented order');
SELECT col_is_pk('trending', 'track_trending_scores', ARRAY['track_id', 'type', 'version', 'time_range'],
                 'track scores are keyed (track_id, type, version, time_range)');
SELECT col_is_pk('trending', 'playlist_trending_scores', ARRAY['playlist_id', 'type', 'version', 'time_range'],
                 'playlist scores are keyed (playlist_id, type, version, time_range)');
SELECT results_eq(
    $$SELECT indexname::text COLLATE "default", regexp_replace(indexdef, '^.* USING ', '') FROM pg_indexes
      WHERE schemaname = 'trending' AND tablename IN ('track_trending_scores', 'playlist_trending_scores')
      ORDER BY 1$$,
    $$VALUES
      ('playlist_trending_scores_pkey', 'btree (playlist_id, type, version, time_range)'),
      ('playlist_trending_scores_ranking_idx', 'btree (type, version, time_range, score DESC, playlist_id DESC)'),
      ('track_trending_scores_genre_ranking_idx', 'btree (type, version, time_range, genre, score DESC, track_id DESC)'),
      ('track_trending_scores_pkey', 'btree (track_id, type, version, time_range)'),
      ('track_trending_scores_ranking_idx', 'btree (type, version, time_range, score DESC, track_id DESC)')$$,
    'the score tables carry the key and one ranking index per read, nothing more');
SELECT results_eq(
    $$SELECT relname::text COLLATE "default", reloptions::text COLLATE "default" FROM pg_class
      WHERE oid IN ('trending.track_trending_scores'::regclass, 'trending.playlist_trending_scores'::regclass) ORDER BY 1$$,
    $$VALUES ('playlist_trending_scores', '{fillfactor=90,autovacuum_vacuum_scale_factor=0.02,autovacuum_analyze_scale_factor=0.02}'),
             ('track_trending_scores', '{fillfactor=90,autovacuum_vacuum_scale_factor=0.02,autovacuum_analyze_scale_factor=0.02}')$$,
    'score tables leave room for same-page updates and are vacuumed at 2% dead rows');

SELECT is_empty(
    $$SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'trending'::regnamespace
      AND p.prokind = 'f' AND NOT COALESCE(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every function pins search_path = pg_catalog, pg_temp');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.prosecdef, p.proconfig IS NULL FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace AND p.prokind = 'p'$$,
    $$VALUES ('scheduled_recompute', false, true)$$,
    'the one procedure is an invoker with no SET clause, as a procedure that commits must be');
SELECT is_empty(
    $$SELECT m[1] FROM regexp_matches(
        (SELECT prosrc FROM pg_proc WHERE oid = 'trending.scheduled_recompute(timestamptz, boolean)'::regprocedure),
        '(?:^|[^.a-z_])((?:[a-z_]+)\()', 'g') AS m
      WHERE m[1] NOT IN ('COALESCE(')$$,
    'the procedure calls no function without a schema (it cannot pin its search_path)');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.provolatile::text, p.prosecdef, l.lanname::text COLLATE "default"
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.pronamespace = 'trending'::regnamespace ORDER BY 1$$,
    $$VALUES ('_apply_slice', 'v', true, 'plpgsql'),
             ('_capture_advance', 'v', true, 'plpgsql'), ('_capture_aggregate_playlist', 'v', true, 'plpgsql'),
             ('_capture_aggregate_plays', 'v', true, 'plpgsql'), ('_capture_aggregate_track', 'v', true, 'plpgsql'),
             ('_capture_aggregate_user', 'v', true, 'plpgsql'), ('_capture_arm', 'v', true, 'plpgsql'),
             ('_capture_cover', 'v', false, 'plpgsql'), ('_capture_empty', 'v', false, 'sql'),
             ('_capture_follow_ddl', 'v', true, 'plpgsql'),
             ('_capture_guard_drop', 'v', false, 'plpgsql'), ('_capture_margin', 's', false, 'sql'),
             ('_capture_playlists', 'v', true, 'plpgsql'),
             ('_capture_plays', 'v', true, 'plpgsql'), ('_capture_reposts', 'v', true, 'plpgsql'),
             ('_capture_saves', 'v', true, 'plpgsql'), ('_capture_snapshot', 'v', true, 'plpgsql'),
             ('_capture_tracks', 'v', true, 'plpgsql'), ('_capture_users', 'v', true, 'plpgsql'),
             ('_capture_writers_before', 's', false, 'sql'),
             ('_check_sources', 'v', false, 'plpgsql'), ('_cycle_holder', 's', true, 'plpgsql'),
             ('_explain', 'v', false, 'plpython3u'),
             ('_lease_held', 'v', true, 'plpgsql'), ('_lease_take', 'v', true, 'plpgsql'),
             ('_own_run', 'v', true, 'plpgsql'), ('_preview', 'v', false, 'plpython3u'),
             ('_privileges', 'v', false, 'plpgsql'),
             ('_python_init', 'v', false, 'plpython3u'), ('_raise', 'v', false, 'plpgsql'),
             ('_recompute', 'v', false, 'plpython3u'), ('_record_top', 'v', true, 'plpgsql'),
             ('_remove_slice', 'v', true, 'plpgsql'),
             ('_require_local_pg_cron', 's', false, 'plpgsql'),
             ('_run_begin', 'v', true, 'plpgsql'), ('_run_fail', 'v', true, 'plpgsql'),
             ('_run_finish', 'v', true, 'plpgsql'),
             ('_run_step_done', 'v', true, 'plpgsql'), ('_safe_temp_table', 's', false, 'plpgsql'),
             ('_scheduled_start', 'v', false, 'plpython3u'), ('_scheduled_step', 'v', false, 'plpython3u'),
             ('_staging_analyze', 'v', true, 'plpgsql'), ('_staging_columns', 's', false, 'plpgsql'),
             ('_staging_drop', 'v', true, 'plpgsql'), ('_staging_own', 's', false, 'sql'),
             ('_staging_table', 'v', true, 'plpgsql'),
             ('_state_advance', 'v', true, 'plpgsql'), ('_state_finish', 'v', true, 'plpgsql'),
             ('_state_load', 'v', false, 'plpgsql'), ('_state_write', 'v', true, 'plpgsql'),
             ('_validate_choice', 'i', false, 'plpgsql'), ('_validate_page', 'i', false, 'plpgsql'),
             ('_validate_setting', 'v', false, 'plpgsql'), ('_wal_compress', 'v', false, 'plpgsql'),
             ('_write_setting', 'v', true, 'plpgsql'),
             ('_write_strategy', 'v', true, 'plpgsql'), ('compare_scores', 's', false, 'plpgsql'),
             ('explain_playlist', 'v', false, 'plpgsql'), ('explain_track', 'v', false, 'plpgsql'),
             ('grant_configure', 'v', false, 'sql'), ('grant_cycle', 'v', false, 'sql'),
             ('grant_read', 'v', false, 'sql'), ('install_capture', 'v', false, 'plpython3u'),
             ('movers', 's', false, 'plpgsql'), ('pause', 'v', false, 'plpgsql'),
             ('preview', 'v', false, 'plpgsql'), ('recompute', 'v', false, 'plpgsql'),
             ('resume', 'v', false, 'plpgsql'),
             ('revoke_configure', 'v', false, 'sql'), ('revoke_cycle', 'v', false, 'sql'),
             ('revoke_read', 'v', false, 'sql'),
             ('schedule', 'v', false, 'plpgsql'), ('scheduled_recompute', 'v', false, 'plpgsql'),
             ('top_playlists', 's', false, 'plpgsql'), ('top_tracks', 's', false, 'plpgsql'),
             ('underground_tracks', 's', false, 'plpgsql'), ('uninstall_capture', 'v', false, 'plpython3u'),
             ('unschedule', 'v', false, 'plpgsql')$$,
    'volatility, security and language of every function are deliberate (definers: the view triggers, the cycle''s writers and the capture triggers)');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.pronamespace = 'trending'::regnamespace AND p.prosecdef AND l.lanname NOT IN ('plpgsql', 'sql')$$,
    'no SECURITY DEFINER routine is written in anything but plpgsql or SQL (no untrusted code runs as the owner)');
SELECT is_empty(
    $$SELECT d.v[1] FROM pg_proc p,
             regexp_matches(substring(p.prosrc from 'DECLARE(.*?)BEGIN'), '\m(v_[a-z_]+)\s+([^;]*);', 'g') AS d(v)
      WHERE p.oid = 'trending.scheduled_recompute(timestamptz, boolean)'::regprocedure
        AND d.v[2] !~ '^pg_catalog\.'$$,
    'every variable of the procedure has a pg_catalog-qualified type (the caller''s search_path cannot retype it)');
SELECT ok((SELECT proconfig @> ARRAY['TimeZone=UTC'] FROM pg_proc WHERE oid = 'trending._recompute(timestamptz, boolean)'::regprocedure),
          'the cycle runs with TimeZone pinned to UTC, whatever the session says');

CREATE ROLE trending_tap_nobody;
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending.recompute(timestamptz, boolean)', 'EXECUTE'),
          'PUBLIC cannot execute recompute()');
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending._recompute(timestamptz, boolean)', 'EXECUTE'),
          'PUBLIC cannot execute the cycle''s PL/Python body either');
SELECT ok(has_function_privilege('trending_tap_nobody', 'trending.top_tracks(text, text, integer, integer, text)', 'EXECUTE')
          AND has_function_privilege('trending_tap_nobody', 'trending.underground_tracks(text, text, integer, integer)', 'EXECUTE')
          AND has_function_privilege('trending_tap_nobody', 'trending.top_playlists(text, integer, integer)', 'EXECUTE'),
          'PUBLIC can execute the read functions');
SELECT table_privs_are('trending', 'track_trending_scores', 'trending_tap_nobody', ARRAY['SELECT'],
                       'PUBLIC may only read track scores');
SELECT table_privs_are('trending', 'playlist_trending_scores', 'trending_tap_nobody', ARRAY['SELECT'],
                       'PUBLIC may only read playlist scores');
SELECT table_privs_are('trending', 'strategies', 'trending_tap_nobody', ARRAY['SELECT'],
                       'PUBLIC may read but not switch strategies');
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending.scheduled_recompute(timestamptz, boolean)', 'EXECUTE')
          AND NOT has_function_privilege('trending_tap_nobody', 'trending._scheduled_step(bigint, integer)', 'EXECUTE'),
          'PUBLIC cannot run the scheduled procedure or its steps');
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending.schedule(text)', 'EXECUTE')
          AND NOT has_function_privilege('trending_tap_nobody', 'trending.unschedule()', 'EXECUTE'),
          'PUBLIC cannot schedule or unschedule');
SELECT table_privs_are('trending', 'runs', 'trending_tap_nobody', ARRAY[]::text[],
                       'PUBLIC cannot read or write the run history directly');
SELECT table_privs_are('trending', 'status', 'trending_tap_nobody', ARRAY['SELECT'],
                       'PUBLIC may read the status view');
SELECT table_privs_are('trending', '_setting_overrides', 'trending_tap_nobody', ARRAY[]::text[],
                       'PUBLIC has no access to the configuration tables themselves');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang,
             aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) AS a
      WHERE p.pronamespace = 'trending'::regnamespace AND NOT l.lanpltrusted
        AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'$$,
    'PUBLIC may execute nothing of schema trending written in an untrusted language');
SELECT is_empty(
    $$SELECT c.relname || ': ' || a.grantee::regrole::text || ' ' || a.privilege_type
      FROM pg_class c, aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) AS a
      WHERE c.relnamespace = 'trending'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
        AND a.grantee <> c.relowner AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
        AND NOT (c.relname IN ('settings', 'strategies') AND a.privilege_type IN ('UPDATE', 'DELETE'))
        -- the capture triggers run as trending_capture, which may only append to the delta tables
        AND NOT (a.grantee = 'trending_capture'::regrole AND a.privilege_type = 'INSERT'
                 AND c.relname IN ('_capture_changes', '_capture_plays', '_capture_truncates'))$$,
    'no role but the owner may write a table of trending (cycles write through the checked definer functions; the capture triggers append as trending_capture)');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) AS a
      WHERE p.pronamespace = 'trending'::regnamespace AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
        AND p.proname IN ('_raise', '_python_init', '_own_run', '_run_begin', '_lease_take', '_lease_held', '_run_step_done',
                          '_run_finish', '_run_fail', '_apply_slice', '_remove_slice', '_safe_temp_table',
                          '_privileges', 'grant_cycle', 'revoke_cycle', 'grant_read', 'revoke_read',
                          'grant_configure', 'revoke_configure', '_record_top', '_staging_columns',
                          '_staging_own', '_staging_table', '_staging_analyze', '_staging_drop')$$,
    'PUBLIC may not call the cycle''s internals, its writers or the grant functions');

SELECT results_eq(
    $$SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) AS c WHERE e.extname = 'trending' ORDER BY 1$$,
    $$VALUES ('trending._capture_installed'), ('trending._setting_overrides'), ('trending._strategy_overrides')$$,
    'pg_dump keeps the user''s settings and strategy switches (and which sources capture changes), and only those');
SELECT trigger_is('trending', 'strategies', 'strategies_write', 'trending', '_write_strategy',
                  'UPDATE on trending.strategies goes through its INSTEAD OF trigger');
SELECT trigger_is('trending', 'settings', 'settings_write', 'trending', '_write_setting',
                  'UPDATE on trending.settings goes through its INSTEAD OF trigger');

SELECT * FROM finish();
ROLLBACK;
