-- trending.settings and trending.strategies: defaults, plain UPDATEs, what is
-- stored for pg_dump, and the errors for what cannot be changed.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(37);

SELECT results_eq(
    $$SELECT type, version, enabled, time_ranges FROM trending.strategies ORDER BY type, version$$,
    $$VALUES ('PLAYLISTS', 'pnagD', true, '{week,month,year}'::text[]),
             ('TRACKS', 'AnlGe', false, '{week,month,allTime}'::text[]),
             ('TRACKS', 'pnagD', true, '{week,month,allTime}'::text[]),
             ('UNDERGROUND_TRACKS', 'pnagD', false, '{week,month,allTime}'::text[])$$,
    'TRACKS/pnagD and PLAYLISTS/pnagD are enabled by default, the other two registered but off');
SELECT is_empty('SELECT * FROM trending._strategy_overrides', 'a fresh install stores no strategy choice');

UPDATE trending.strategies SET enabled = true WHERE type = 'TRACKS' AND version = 'AnlGe';
SELECT is((SELECT enabled FROM trending.strategies WHERE type = 'TRACKS' AND version = 'AnlGe'), true,
          'a plain UPDATE switches a strategy on');
SELECT results_eq('SELECT type, version, enabled FROM trending._strategy_overrides',
                  $$VALUES ('TRACKS', 'AnlGe', true)$$,
                  'the switch is stored as a user override, the table pg_dump keeps');
UPDATE trending.strategies SET enabled = false WHERE type = 'PLAYLISTS';
SELECT is((SELECT count(*)::int FROM trending._strategy_overrides), 2, 'switching a default-on strategy off is stored too');
UPDATE trending.strategies SET enabled = true WHERE type = 'PLAYLISTS';
UPDATE trending.strategies SET enabled = NULL WHERE type = 'TRACKS' AND version = 'AnlGe';
SELECT is_empty('SELECT * FROM trending._strategy_overrides',
                'switching back to the default (or to NULL) leaves no override behind');
SELECT is((SELECT enabled FROM trending.strategies WHERE type = 'TRACKS' AND version = 'AnlGe'), false,
          'NULL restores the shipped default');

SELECT throws_ok($$UPDATE trending.strategies SET time_ranges = '{week}' WHERE type = 'TRACKS'$$,
                 '0A000', 'only "enabled" of a strategy can be changed',
                 'a strategy''s ranges cannot be edited');
SELECT throws_ok($$INSERT INTO trending.strategies (type, version, enabled) VALUES ('X', 'y', true)$$,
                 '0A000', NULL, 'strategies cannot be added');
SELECT throws_ok($$DELETE FROM trending.strategies WHERE type = 'TRACKS'$$,
                 '0A000', NULL, 'strategies cannot be deleted (they are switched off instead)');

SELECT results_eq($$SELECT name, value, is_default FROM trending.settings ORDER BY name$$,
                  $$VALUES ('capture_max_pause', '1 day', true), ('lease_idle_timeout', '10 minutes', true),
                           ('lock_timeout', '5s', true), ('movers_max_genres', '50', true), ('movers_top_n', '100', true),
                           ('parallel_workers', '2', true), ('reconcile_every', '1 day', true),
                           ('run_retention', '30 days', true),
                           ('source_schema', 'public', true), ('stale_after', '2 hours', true),
                           ('work_mem', '128MB', true)$$,
                  'settings start at their defaults: source schema public');
UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema';
SELECT results_eq($$SELECT value, is_default FROM trending.settings WHERE name = 'source_schema'$$,
                  $$VALUES ('music', false)$$, 'a plain UPDATE sets the source schema');
SELECT results_eq('SELECT name, value FROM trending._setting_overrides',
                  $$VALUES ('source_schema', 'music')$$, 'the setting is stored as a dumped override');
DELETE FROM trending.settings WHERE name = 'source_schema';
SELECT results_eq($$SELECT value, is_default FROM trending.settings WHERE name = 'source_schema'$$,
                  $$VALUES ('public', true)$$, 'DELETE restores the default');
UPDATE trending.settings SET value = '256MB' WHERE name = 'work_mem';
SELECT is((SELECT value FROM trending.settings WHERE name = 'work_mem'), '256MB', 'work_mem accepts a size');

SELECT throws_ok($$UPDATE trending.settings SET value = 'lots' WHERE name = 'work_mem'$$,
                 '22023', NULL, 'a malformed size is refused');
UPDATE trending.settings SET value = '200ms' WHERE name = 'lock_timeout';
SELECT is((SELECT value FROM trending.settings WHERE name = 'lock_timeout'), '200ms', 'lock_timeout accepts a duration');
SELECT throws_ok($$UPDATE trending.settings SET value = '0s' WHERE name = 'lock_timeout'$$,
                 '22023', NULL, 'a zero lock_timeout (wait forever) is refused');
SELECT throws_ok($$UPDATE trending.settings SET value = 'soon' WHERE name = 'lock_timeout'$$,
                 '22023', NULL, 'a malformed lock_timeout is refused');
UPDATE trending.settings SET value = '0' WHERE name = 'parallel_workers';
SELECT is((SELECT value FROM trending.settings WHERE name = 'parallel_workers'), '0', 'parallel_workers accepts 0');
SELECT throws_ok($$UPDATE trending.settings SET value = '-1' WHERE name = 'parallel_workers'$$,
                 '22023', NULL, 'a negative parallel_workers is refused');
UPDATE trending.settings SET value = '7 days' WHERE name = 'run_retention';
SELECT is((SELECT value FROM trending.settings WHERE name = 'run_retention'), '7 days', 'run_retention accepts an interval');
SELECT throws_ok($$UPDATE trending.settings SET value = 'forever' WHERE name = 'run_retention'$$,
                 '22023', NULL, 'a malformed run_retention is refused');
-- Each value is checked by what a cycle does with it (set_config, now() - interval):
SELECT throws_ok($$UPDATE trending.settings SET value = '99999999min' WHERE name = 'lock_timeout'$$,
                 '22023', NULL, 'a lock_timeout past the server''s INT_MAX ms is refused');
SELECT lives_ok($$UPDATE trending.settings SET value = '35791min' WHERE name = 'lock_timeout'$$,
                'the longest lock_timeout the server takes is accepted');
SELECT throws_ok($$UPDATE trending.settings SET value = '0999' WHERE name = 'parallel_workers'$$,
                 '22023', NULL, 'a parallel_workers with a leading zero (octal to the server) is refused');
SELECT lives_ok($$UPDATE trending.settings SET value = '1024' WHERE name = 'parallel_workers'$$,
                'the server''s largest max_parallel_workers_per_gather is accepted');
SELECT throws_ok($$UPDATE trending.settings SET value = '999999999 years' WHERE name = 'run_retention'$$,
                 '22023', NULL, 'a run_retention now() - retention cannot compute is refused');
SELECT throws_ok($$UPDATE trending.settings SET value = '0days' WHERE name = 'run_retention'$$,
                 '22023', NULL, 'a run_retention that would delete the whole history is refused');
SELECT lives_ok($$UPDATE trending.settings SET value = '1 day' WHERE name = 'run_retention'$$,
                'the shortest run_retention, 1 day, is accepted');
SELECT throws_ok($$UPDATE trending.settings SET value = '0128MB' WHERE name = 'work_mem'$$,
                 '22023', NULL, 'a work_mem with a leading zero (octal to the server) is refused');
SELECT lives_ok($$UPDATE trending.settings SET value = '64kB' WHERE name = 'work_mem'$$,
                'the server''s smallest work_mem is accepted');
SELECT throws_ok($$UPDATE trending.settings SET value = '0min' WHERE name = 'stale_after'$$,
                 '22023', NULL, 'a zero stale_after is refused');
SELECT lives_ok($$UPDATE trending.settings SET value = '1 min' WHERE name = 'stale_after'$$,
                'stale_after accepts a minute');
SELECT throws_ok($$UPDATE trending.settings SET value = '' WHERE name = 'source_schema'$$,
                 '22023', NULL, 'an empty source schema is refused');
SELECT throws_ok($$INSERT INTO trending.settings (name, value) VALUES ('nope', 'x')$$,
                 '22023', 'unknown setting ''nope''', 'unknown settings are refused by name');
SELECT throws_ok($$UPDATE trending.settings SET default_value = 'x' WHERE name = 'source_schema'$$,
                 '0A000', 'only the value of a setting can be changed', 'defaults cannot be edited');

SELECT * FROM finish();
ROLLBACK;
