-- Movers (issue 11): the surface of trending.movers(), the movers_top table,
-- its writer _record_top, the two settings and their privileges. Results
-- against real cycles, the bound on the table and NOTIFY trending are in
-- test_movers.py.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(22);

SELECT has_function('trending', 'movers', ARRAY['text', 'text', 'text'], 'movers(time_range, genre, kind)');
SELECT is(pg_get_function_arguments('trending.movers(text, text, text)'::regprocedure),
          'time_range text DEFAULT ''week''::text, genre text DEFAULT NULL::text, kind text DEFAULT ''track''::text',
          'movers: defaults week, overall, tracks');
SELECT is(pg_get_function_result('trending.movers(text, text, text)'::regprocedure),
          'TABLE(movement text, id integer, previous_rank integer, rank integer, climb integer, '
          'previous_score double precision, score double precision, since timestamp with time zone, '
          'as_of timestamp with time zone)',
          'movers: the movement, the id, both ranks, the climb, both scores and the two cycles'' now');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.provolatile::text, p.prosecdef, l.lanname::text COLLATE "default",
             p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.pronamespace = 'trending'::regnamespace AND p.proname IN ('movers', '_record_top') ORDER BY 1$$,
    $$VALUES ('_record_top'::text, 'v'::text, true, 'plpgsql'::text, true), ('movers', 's', false, 'plpgsql', true)$$,
    'movers is a STABLE SECURITY INVOKER read; _record_top the cycle''s checked writer; both pin search_path');
SELECT has_table('trending', 'movers_top', 'the movers table exists');
SELECT col_is_pk('trending', 'movers_top', ARRAY['kind', 'time_range', 'genre', 'run_id', 'rank'],
                 'one row per list, generation and rank');
SELECT ok(obj_description('trending.movers(text, text, text)'::regprocedure, 'pg_proc') LIKE 'Entries into%'
          AND obj_description('trending._record_top(bigint, integer, integer, boolean)'::regprocedure, 'pg_proc') LIKE 'Internal:%'
          AND obj_description('trending.movers_top'::regclass, 'pg_class') LIKE 'The top movers_top_n%',
          'movers, _record_top and movers_top are documented');

-- settings
SELECT results_eq($$SELECT name, value FROM trending.settings WHERE name LIKE 'movers%' ORDER BY 1$$,
                  $$VALUES ('movers_max_genres', '50'), ('movers_top_n', '100')$$, 'the movers settings and their defaults');
SELECT lives_ok($$UPDATE trending.settings SET value = '1000' WHERE name = 'movers_top_n'$$, 'movers_top_n up to 1000');
SELECT lives_ok($$UPDATE trending.settings SET value = '0' WHERE name = 'movers_max_genres'$$, 'movers_max_genres may be 0');
SELECT throws_ok($$UPDATE trending.settings SET value = '0' WHERE name = 'movers_top_n'$$, '22023', NULL,
                 'movers_top_n at least 1');
SELECT throws_ok($$UPDATE trending.settings SET value = '1001' WHERE name = 'movers_top_n'$$, '22023', NULL,
                 'movers_top_n at most 1000');
SELECT throws_ok($$UPDATE trending.settings SET value = '5x' WHERE name = 'movers_max_genres'$$, '22023', NULL,
                 'movers_max_genres a whole number');

-- arguments; an empty table has no movers
SELECT is_empty($$SELECT * FROM trending.movers()$$, 'no cycle yet: no movers');
SELECT throws_ok($$SELECT * FROM trending.movers('day')$$, '22023', NULL, 'an unknown range is refused');
SELECT throws_ok($$SELECT * FROM trending.movers('year', NULL, 'track')$$, '22023', NULL,
                 'a range of the other kind is refused');
SELECT throws_ok($$SELECT * FROM trending.movers('week', 'Rock', 'playlist')$$, '22023', NULL,
                 'playlists have no genre lists');
SELECT throws_ok($$SELECT trending._record_top(123456, 10, 1, true)$$, '22023', NULL,
                 '_record_top refuses a run that is not the caller''s own');

-- privileges: PUBLIC reads; only the cycle set may write (through _record_top)
CREATE ROLE trending_tap_movers_nobody;
CREATE ROLE trending_tap_movers_job;
CREATE SCHEMA tap_movers;
SELECT format('CREATE TABLE tap_movers.%I (id integer)', t)
FROM unnest(ARRAY['tracks', 'plays', 'saves', 'reposts', 'users', 'aggregate_user', 'aggregate_track',
                  'aggregate_plays', 'aggregate_playlist', 'playlists']) AS t \gexec
UPDATE trending.settings SET value = 'tap_movers' WHERE name = 'source_schema';
SELECT trending.grant_cycle('trending_tap_movers_job');
SELECT ok(has_function_privilege('trending_tap_movers_nobody', 'trending.movers(text, text, text)', 'EXECUTE'),
          'PUBLIC may call movers()');
SELECT table_privs_are('trending', 'movers_top', 'trending_tap_movers_nobody', ARRAY['SELECT'],
                       'PUBLIC may only read the movers table');
SELECT ok(NOT has_function_privilege('trending_tap_movers_nobody', 'trending._record_top(bigint, integer, integer, boolean)', 'EXECUTE')
          AND has_function_privilege('trending_tap_movers_job', 'trending._record_top(bigint, integer, integer, boolean)', 'EXECUTE'),
          'only the cycle set may call _record_top');
SELECT table_privs_are('trending', 'movers_top', 'trending_tap_movers_job', ARRAY['SELECT'],
                       'a cycle role has no write privilege on the movers table');

SELECT * FROM finish();
ROLLBACK;
