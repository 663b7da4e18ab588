-- The installed surface of CREATE EXTENSION trending: objects, shapes,
-- function properties and privileges.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(31);

SELECT has_extension('trending', 'the trending extension is installed');
SELECT is((SELECT requires FROM pg_available_extension_versions WHERE name = 'trending' AND version = '1.1'),
          ARRAY['plpython3u']::name[], 'trending requires plpython3u and nothing else (pg_cron stays optional)');
SELECT is((SELECT e.extversion || ':' || n.nspname || ':' || e.extrelocatable
           FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'trending'),
          '1.1:trending:false', 'version 1.1 lives in the fixed, non-relocatable schema trending');

SELECT tables_are('trending', ARRAY['track_trending_scores', 'playlist_trending_scores',
                                    '_setting_defaults', '_setting_overrides',
                                    '_strategy_defaults', '_strategy_overrides', 'runs'],
                  'the schema holds the two score tables, the configuration tables and the run history');
SELECT views_are('trending', ARRAY['settings', 'strategies', 'status'], 'settings, strategies and status are views');
SELECT functions_are('trending', ARRAY['recompute', '_recompute', '_python_init', 'top_tracks',
                                       'underground_tracks', 'top_playlists', '_validate_choice',
                                       '_validate_page', '_validate_setting', '_write_setting',
                                       '_write_strategy', '_scheduled_start', '_scheduled_step',
                                       'scheduled_recompute', 'schedule', 'unschedule',
                                       '_require_local_pg_cron', '_raise'],
                     'the routines are exactly the public API and its private helpers');

SELECT results_eq(
    $$SELECT column_name::text COLLATE "default", data_type::text COLLATE "default", is_nullable::text COLLATE "default" FROM information_schema.columns
      WHERE table_schema = 'trending' AND table_name = 'track_trending_scores' ORDER BY ordinal_position$$,
    $$VALUES ('track_id', 'integer', 'NO'), ('type', 'character varying', 'NO'),
             ('genre', 'character varying', 'YES'), ('version', 'character varying', 'NO'),
             ('time_range', 'character varying', 'NO'), ('score', 'double precision', 'NO'),
             ('created_at', 'timestamp without time zone', 'NO')$$,
    'track_trending_scores has the columns the API reads, in SPEC order');
SELECT results_eq(
    $$SELECT column_name::text COLLATE "default", data_type::text COLLATE "default", is_nullable::text COLLATE "default" FROM information_schema.columns
      WHERE table_schema = 'trending' AND table_name = 'playlist_trending_scores' ORDER BY ordinal_position$$,
    $$VALUES ('playlist_id', 'integer', 'NO'), ('type', 'character varying', 'NO'),
             ('version', 'character varying', 'NO'), ('time_range', 'character varying', 'NO'),
             ('score', 'double precision', 'NO'), ('created_at', 'timestamp without time zone', 'NO')$$,
    'playlist_trending_scores has the columns the API reads, in SPEC order');
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
        (SELECT prosrc FROM pg_proc WHERE oid = 'trending.scheduled_recompute(timestamptz)'::regprocedure),
        '(?:^|[^.a-z_])((?:[a-z_]+)\()', 'g') AS m
      WHERE m[1] NOT IN ('COALESCE(')$$,
    'the procedure calls no function without a schema (it cannot pin its search_path)');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.provolatile::text, p.prosecdef, l.lanname::text COLLATE "default"
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.pronamespace = 'trending'::regnamespace ORDER BY 1$$,
    $$VALUES ('_python_init', 'v', false, 'plpython3u'), ('_raise', 'v', false, 'plpgsql'),
             ('_recompute', 'v', false, 'plpython3u'),
             ('_require_local_pg_cron', 's', false, 'plpgsql'),
             ('_scheduled_start', 'v', false, 'plpython3u'), ('_scheduled_step', 'v', false, 'plpython3u'),
             ('_validate_choice', 'i', false, 'plpgsql'), ('_validate_page', 'i', false, 'plpgsql'),
             ('_validate_setting', 'i', false, 'plpgsql'), ('_write_setting', 'v', true, 'plpgsql'),
             ('_write_strategy', 'v', true, 'plpgsql'), ('recompute', 'v', false, 'plpgsql'),
             ('schedule', 'v', false, 'plpgsql'), ('scheduled_recompute', 'v', false, 'plpgsql'),
             ('top_playlists', 's', false, 'plpgsql'), ('top_tracks', 's', false, 'plpgsql'),
             ('underground_tracks', 's', false, 'plpgsql'), ('unschedule', 'v', false, 'plpgsql')$$,
    'volatility, security and language of every function are deliberate (only the view triggers are definers)');
SELECT ok((SELECT proconfig @> ARRAY['TimeZone=UTC'] FROM pg_proc WHERE oid = 'trending._recompute(timestamptz)'::regprocedure),
          'the cycle runs with TimeZone pinned to UTC, whatever the session says');

CREATE ROLE trending_tap_nobody;
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending.recompute(timestamptz)', 'EXECUTE'),
          'PUBLIC cannot execute recompute()');
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending._recompute(timestamptz)', 'EXECUTE'),
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
SELECT ok(NOT has_function_privilege('trending_tap_nobody', 'trending.scheduled_recompute(timestamptz)', 'EXECUTE')
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

SELECT results_eq(
    $$SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) AS c WHERE e.extname = 'trending' ORDER BY 1$$,
    $$VALUES ('trending._setting_overrides'), ('trending._strategy_overrides')$$,
    'pg_dump keeps the user''s settings and strategy switches, and only those');
SELECT trigger_is('trending', 'strategies', 'strategies_write', 'trending', '_write_strategy',
                  'UPDATE on trending.strategies goes through its INSTEAD OF trigger');
SELECT trigger_is('trending', 'settings', 'settings_write', 'trending', '_write_setting',
                  'UPDATE on trending.settings goes through its INSTEAD OF trigger');

SELECT * FROM finish();
ROLLBACK;
