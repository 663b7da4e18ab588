-- Every SECURITY DEFINER routine pins the settings that decide what its
-- statements run (issue 17, item 2): search_path = pg_catalog, pg_temp (no
-- name resolves to a caller's object) and constraint_exclusion = off (the
-- planner never evaluates a CHECK constraint of a table it reads). Checked
-- generically, so a definer added later is held to it too. Then the staging
-- functions (issue 17, item 1): what the writers read is made by the owner.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(9);

SELECT cmp_ok((SELECT count(*)::integer FROM pg_proc p
               WHERE p.pronamespace = 'trending'::regnamespace AND p.prosecdef), '>=', 20,
              'the check below covers the definers (not vacuous)');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace AND p.prosecdef
        AND NOT COALESCE(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every SECURITY DEFINER routine pins search_path = pg_catalog, pg_temp');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text || ': ' || COALESCE(array_to_string(p.proconfig, ', '), 'no SET clause')
      FROM pg_proc p
      WHERE p.pronamespace = 'trending'::regnamespace AND p.prosecdef
        AND NOT COALESCE(p.proconfig @> ARRAY['constraint_exclusion=off'], false)$$,
    'every SECURITY DEFINER routine pins constraint_exclusion = off');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p, pg_extension e
      WHERE p.pronamespace = 'trending'::regnamespace AND p.prosecdef AND e.extname = 'trending'
        AND p.proowner <> CASE WHEN p.proname LIKE '\_capture\_%' AND p.prorettype = 'trigger'::regtype
                               THEN 'trending_capture'::regrole ELSE e.extowner END$$,
    'every SECURITY DEFINER routine is owned by the extension''s owner, but the capture triggers, by trending_capture');

-- the staging functions, as the extension's owner here (the job role's view
-- of them is test_definer_planting.py's)
SELECT throws_ok($$SELECT trending._staging_table('trending_track_inputs')$$, '22023', NULL,
                 'a name outside the catalogue is not staged');
CREATE TEMP TABLE trending_track_affected (id bigint);
ALTER TABLE trending_track_affected OWNER TO pg_database_owner;
SELECT throws_ok($$SELECT trending._staging_table('trending_track_affected')$$, '55000', NULL,
                 'a relation of a staging name that someone else made is refused');
DROP TABLE trending_track_affected;
SELECT is(trending._staging_table('trending_track_affected')::oid, to_regclass('pg_temp.trending_track_affected')::oid,
          'a staging table is made');
SELECT results_eq(
    $$SELECT pg_get_userbyid(c.relowner)::text, array_to_string(c.relacl, ',') ~ '(^|,)=ar/'
      FROM pg_class c WHERE c.oid = 'pg_temp.trending_track_affected'::regclass$$,
    $$SELECT pg_get_userbyid(e.extowner)::text, true FROM pg_extension e WHERE e.extname = 'trending'$$,
    'owned by the extension''s owner; the session may INSERT and SELECT');
SELECT is(trending._staging_drop(), 1, 'the session''s staging tables are dropped');

SELECT * FROM finish();
ROLLBACK;
