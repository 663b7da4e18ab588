-- Insight (issue 11): the surface of preview() and explain_track() /
-- explain_playlist(): signatures, volatility, security, pinned settings,
-- comments and privileges. Their results are tested against real cycles in
-- test_preview.py and test_explain.py.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(21);

SELECT has_function('trending', 'preview', ARRAY['timestamp with time zone'], 'preview(now timestamptz)');
SELECT has_function('trending', 'explain_track', ARRAY['integer', 'text', 'text', 'timestamp with time zone'],
                    'explain_track(track_id, time_range, version, now)');
SELECT has_function('trending', 'explain_playlist', ARRAY['integer', 'text', 'timestamp with time zone'],
                    'explain_playlist(playlist_id, time_range, now)');

SELECT is(pg_get_function_arguments('trending.preview(timestamptz)'::regprocedure),
          'now timestamp with time zone DEFAULT now()', 'preview: now defaults to the transaction''s start');
SELECT is(pg_get_function_result('trending.preview(timestamptz)'::regprocedure),
          'TABLE(kind text, type text, version text, time_range text, id integer, action text, '
          'old_score double precision, new_score double precision, old_rank bigint, new_rank bigint, '
          'old_genre text, new_genre text)',
          'preview: the slice, the id, the action, old and new score, rank and genre');
SELECT is(pg_get_function_arguments('trending.explain_track(integer, text, text, timestamptz)'::regprocedure),
          'track_id integer, time_range text DEFAULT ''week''::text, version text DEFAULT ''pnagD''::text, '
          'now timestamp with time zone DEFAULT NULL::timestamp with time zone',
          'explain_track: defaults week, pnagD, NULL now (the stored scores'' now)');
SELECT is(pg_get_function_arguments('trending.explain_playlist(integer, text, timestamptz)'::regprocedure),
          'playlist_id integer, time_range text DEFAULT ''week''::text, '
          'now timestamp with time zone DEFAULT NULL::timestamp with time zone',
          'explain_playlist: defaults week, NULL now');
SELECT is(pg_get_function_result('trending.explain_track(integer, text, text, timestamptz)'::regprocedure)
          || ' ' || pg_get_function_result('trending.explain_playlist(integer, text, timestamptz)'::regprocedure),
          'jsonb jsonb', 'both explain functions return one jsonb document');

SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.provolatile::text, p.prosecdef, l.lanname::text COLLATE "default"
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.pronamespace = 'trending'::regnamespace
        AND p.proname IN ('preview', '_preview', 'explain_track', 'explain_playlist', '_explain')
      ORDER BY 1$$,
    $$VALUES ('_explain'::text, 'v'::text, false, 'plpython3u'::text), ('_preview', 'v', false, 'plpython3u'),
             ('explain_playlist', 'v', false, 'plpgsql'), ('explain_track', 'v', false, 'plpgsql'),
             ('preview', 'v', false, 'plpgsql')$$,
    'volatile (they lock and read the sources, stage temp tables), SECURITY INVOKER (they read as the caller)');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace
        AND p.proname IN ('preview', '_preview', 'explain_track', 'explain_playlist', '_explain')
        AND NOT COALESCE(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every one pins search_path = pg_catalog, pg_temp');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.proconfig FROM pg_proc p
      WHERE p.oid IN ('trending._preview(timestamptz)'::regprocedure,
                      'trending._explain(text, integer, text, text, timestamptz)'::regprocedure) ORDER BY 1$$,
    $$SELECT v.name COLLATE "default", (SELECT proconfig FROM pg_proc WHERE oid = 'trending._recompute(timestamptz, boolean)'::regprocedure)
      FROM (VALUES ('_explain'::text), ('_preview')) AS v(name)$$,
    'the PL/Python bodies have the cycle''s SET clauses (TimeZone, DateStyle, work_mem, lock_timeout, parallelism)');

SELECT ok(obj_description('trending.preview(timestamptz)'::regprocedure, 'pg_proc') LIKE 'A dry run:%',
          'preview is documented');
SELECT ok(obj_description('trending.explain_track(integer, text, text, timestamptz)'::regprocedure, 'pg_proc') LIKE 'Explain one track%'
          AND obj_description('trending.explain_playlist(integer, text, timestamptz)'::regprocedure, 'pg_proc') LIKE 'Explain one playlist%',
          'explain_track and explain_playlist are documented');
SELECT ok(obj_description('trending._preview(timestamptz)'::regprocedure, 'pg_proc') LIKE 'Internal:%'
          AND obj_description('trending._explain(text, integer, text, text, timestamptz)'::regprocedure, 'pg_proc') LIKE 'Internal:%',
          'their PL/Python bodies are documented as internal');

-- privileges: not PUBLIC (they read the sources as the caller and run PL/Python);
-- the cycle set (grant_cycle) has them, the read set does not
CREATE ROLE trending_tap_insight_nobody;
CREATE ROLE trending_tap_insight_job;
CREATE ROLE trending_tap_insight_reader;
CREATE SCHEMA tap_insight;
SELECT format('CREATE TABLE tap_insight.%I (id integer)', t)
FROM unnest(ARRAY['tracks', 'plays', 'saves', 'reposts', 'users', 'aggregate_user', 'aggregate_track',
                  'aggregate_plays', 'aggregate_playlist', 'playlists']) AS t \gexec
UPDATE trending.settings SET value = 'tap_insight' WHERE name = 'source_schema';
SELECT lives_ok($$SELECT trending.grant_cycle('trending_tap_insight_job')$$, 'grant_cycle');
SELECT lives_ok($$SELECT trending.grant_read('trending_tap_insight_reader')$$, 'grant_read');

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace
        AND p.proname IN ('preview', '_preview', 'explain_track', 'explain_playlist', '_explain')
        AND has_function_privilege('trending_tap_insight_nobody', p.oid, 'EXECUTE')$$,
    'PUBLIC may execute none of them');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace
        AND p.proname IN ('preview', '_preview', 'explain_track', 'explain_playlist', '_explain')
        AND NOT has_function_privilege('trending_tap_insight_job', p.oid, 'EXECUTE')$$,
    'grant_cycle gives all of them (a preview and an explanation read what a cycle reads)');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace
        AND p.proname IN ('preview', '_preview', 'explain_track', 'explain_playlist', '_explain')
        AND has_function_privilege('trending_tap_insight_reader', p.oid, 'EXECUTE')$$,
    'grant_read gives none of them (a reader has no SELECT on the sources)');
SELECT lives_ok($$SELECT trending.revoke_cycle('trending_tap_insight_job')$$, 'revoke_cycle');
SELECT ok(NOT has_function_privilege('trending_tap_insight_job', 'trending.preview(timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('trending_tap_insight_job', 'trending._explain(text, integer, text, text, timestamptz)', 'EXECUTE'),
          'revoke_cycle takes them back');

SELECT * FROM finish();
ROLLBACK;
