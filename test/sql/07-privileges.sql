-- Least privilege: what trending.grant_cycle, grant_read and grant_configure
-- give a role, and nothing more (issue 8, items 12 and 13). Behaviour (a
-- cycle actually run by such a role) is tested in test_trust_cycle.py.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(23);

CREATE ROLE trending_tap_job;
CREATE ROLE trending_tap_reader;
CREATE ROLE trending_tap_dba;
CREATE SCHEMA tap_music;
SELECT format('CREATE TABLE tap_music.%I (id integer)', t)
FROM unnest(ARRAY['tracks', 'plays', 'saves', 'reposts', 'users', 'aggregate_user', 'aggregate_track',
                  'aggregate_plays', 'aggregate_playlist', 'playlists', 'secrets']) AS t \gexec
UPDATE trending.settings SET value = 'tap_music' WHERE name = 'source_schema';

SELECT throws_ok($$SELECT trending.grant_cycle('trending_tap_nobody_at_all')$$, '42704',
                 'trending: role "trending_tap_nobody_at_all" does not exist',
                 'grant_cycle names a missing role');
SELECT throws_ok($$SELECT trending.grant_read('trending_tap_nobody_at_all')$$, '42704', NULL,
                 'grant_read refuses a missing role');
SELECT throws_ok($$SELECT trending.grant_configure('public')$$, '42704', NULL,
                 'grant_configure refuses PUBLIC (not a role)');

SELECT lives_ok($$SELECT trending.grant_cycle('trending_tap_job'); SELECT trending.grant_cycle('trending_tap_job')$$,
                'grant_cycle is idempotent');
SELECT ok(has_function_privilege('trending_tap_job', 'trending.recompute(timestamptz, boolean)', 'EXECUTE')
          AND has_function_privilege('trending_tap_job', 'trending.scheduled_recompute(timestamptz, boolean)', 'EXECUTE'),
          'grant_cycle: the two entry points');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                WHERE p.pronamespace = 'trending'::regnamespace AND NOT l.lanpltrusted
                  AND has_function_privilege('trending_tap_job', p.oid, 'EXECUTE') ORDER BY 1),
          ARRAY['_explain', '_preview', '_python_init', '_recompute', '_scheduled_start', '_scheduled_step'],
          'grant_cycle: of the plpython3u routines, only those the entry points (and preview, explain_*) call as the invoker');
SELECT is_empty(
    $$SELECT c.relname || ' ' || p FROM pg_class c, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p
      WHERE c.relnamespace = 'trending'::regnamespace AND c.relkind IN ('r', 'v')
        AND has_table_privilege('trending_tap_job', c.oid, p)$$,
    'grant_cycle: no write privilege on any table or view of trending (runs and scores included)');
SELECT is_empty(
    $$SELECT n.nspname || ' ' || a.privilege_type FROM pg_namespace n, aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) AS a
      WHERE n.nspname = 'trending_private' AND a.grantee <> n.nspowner
      UNION ALL
      SELECT c.relname || ' ' || a.privilege_type FROM pg_class c, aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) AS a
      WHERE c.relnamespace = 'trending_private'::regnamespace AND a.grantee <> c.relowner$$,
    'no role but the owner has any privilege on schema trending_private or its cycle lease (issue 17), a cycle role included');
SELECT ok(has_function_privilege('trending_tap_job', 'trending._apply_slice(bigint, text, text, text, text, timestamp, oid)', 'EXECUTE')
          AND has_function_privilege('trending_tap_job', 'trending._run_begin(text, timestamptz, name, jsonb)', 'EXECUTE'),
          'grant_cycle: the checked writer functions');
SELECT ok(NOT has_function_privilege('trending_tap_job', 'trending._safe_temp_table(text, text[], regtype[])', 'EXECUTE')
          AND NOT has_function_privilege('trending_tap_job', 'trending.grant_cycle(name)', 'EXECUTE')
          AND NOT has_function_privilege('trending_tap_job', 'trending.schedule(text)', 'EXECUTE'),
          'grant_cycle: not the writers'' internals, the grant functions nor scheduling');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                WHERE c.relnamespace = 'tap_music'::regnamespace AND c.relkind = 'r'
                  AND has_table_privilege('trending_tap_job', c.oid, 'SELECT') ORDER BY 1),
          ARRAY['aggregate_playlist', 'aggregate_plays', 'aggregate_track', 'aggregate_user', 'playlists',
                'plays', 'reposts', 'saves', 'tracks', 'users'],
          'grant_cycle: SELECT on exactly the source tables, not on the schema''s other tables');
SELECT ok(has_schema_privilege('trending_tap_job', 'tap_music', 'USAGE')
          AND NOT has_schema_privilege('trending_tap_job', 'tap_music', 'CREATE'),
          'grant_cycle: USAGE on the source schema, no CREATE');
SELECT ok(has_database_privilege('trending_tap_job', current_database(), 'TEMPORARY'),
          'grant_cycle: TEMP on this database (the cycle stages in temp tables)');
SELECT ok(NOT has_table_privilege('trending_tap_job', 'trending.settings', 'UPDATE')
          AND NOT has_table_privilege('trending_tap_job', 'trending.strategies', 'UPDATE'),
          'grant_cycle: cannot change settings or strategies');

DROP TABLE tap_music.users;
SELECT throws_ok($$SELECT trending.grant_cycle('trending_tap_reader')$$, '42P01',
                 'trending: source table(s) users missing in schema "tap_music"',
                 'grant_cycle names the missing source tables');
CREATE TABLE tap_music.users (id integer);

SELECT lives_ok($$SELECT trending.revoke_cycle('trending_tap_job')$$, 'revoke_cycle');
SELECT ok(NOT has_function_privilege('trending_tap_job', 'trending.recompute(timestamptz, boolean)', 'EXECUTE')
          AND NOT has_function_privilege('trending_tap_job', 'trending._python_init()', 'EXECUTE')
          AND NOT has_table_privilege('trending_tap_job', 'tap_music.tracks', 'SELECT'),
          'revoke_cycle takes the entry points, the routines and the sources back');

SELECT lives_ok($$SELECT trending.grant_read('trending_tap_reader'); SELECT trending.grant_read('trending_tap_reader')$$,
                'grant_read is idempotent');
SELECT ok(has_function_privilege('trending_tap_reader', 'trending.top_tracks(text, text, integer, integer, text)', 'EXECUTE')
          AND has_table_privilege('trending_tap_reader', 'trending.track_trending_scores', 'SELECT')
          AND has_table_privilege('trending_tap_reader', 'trending.status', 'SELECT')
          AND NOT has_function_privilege('trending_tap_reader', 'trending.recompute(timestamptz, boolean)', 'EXECUTE')
          AND NOT has_table_privilege('trending_tap_reader', 'trending.settings', 'UPDATE'),
          'grant_read: the scores, status and read functions; no cycle, no configuration');

SELECT lives_ok($$SELECT trending.grant_configure('trending_tap_dba')$$, 'grant_configure');
SELECT ok(has_table_privilege('trending_tap_dba', 'trending.settings', 'UPDATE')
          AND has_table_privilege('trending_tap_dba', 'trending.strategies', 'UPDATE')
          AND NOT has_table_privilege('trending_tap_dba', 'trending.runs', 'UPDATE')
          AND NOT has_table_privilege('trending_tap_dba', 'trending._setting_overrides', 'UPDATE')
          AND NOT has_function_privilege('trending_tap_dba', 'trending.recompute(timestamptz, boolean)', 'EXECUTE'),
          'grant_configure: UPDATE on the settings and strategies views only');

SET LOCAL ROLE trending_tap_dba;
SELECT throws_ok($$SELECT trending.grant_cycle('trending_tap_dba')$$, '42501', NULL,
                 'a role that does not own the extension cannot grant itself a cycle');
RESET ROLE;

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang,
             aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) AS a
      WHERE p.pronamespace = 'trending'::regnamespace AND NOT l.lanpltrusted
        AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'$$,
    'after all the grants, PUBLIC still may execute nothing written in an untrusted language');

SELECT * FROM finish();
ROLLBACK;
