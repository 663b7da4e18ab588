-- Successive cycles on test/fixtures/hand_worked.sql: what a cycle writes,
-- keeps and removes, how the summary counts it, and the errors for sources
-- a cycle cannot read. Track strategy TRACKS/pnagD only (see 04 for values).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(21);
\ir ../fixtures/hand_worked.sql
UPDATE trending.strategies SET enabled = false WHERE type = 'PLAYLISTS';
CREATE TEMP TABLE cycles (n int, s jsonb);
CREATE FUNCTION pg_temp.slice(n int, r text) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s/%s/%s/%s', x->>'inserted', x->>'updated', x->>'deleted', x->>'unchanged')
    FROM (SELECT s->'strategies'->'TRACKS/pnagD'->'ranges'->r AS x FROM pg_temp.cycles WHERE cycles.n = $1) q $$;

INSERT INTO cycles SELECT 1, trending.recompute('2026-03-31 12:00:00+00');
SELECT is(pg_temp.slice(1, 'week') || ' ' || pg_temp.slice(1, 'month') || ' ' || pg_temp.slice(1, 'allTime'),
          '5/0/0/0 5/0/0/0 3/0/0/0', 'a first cycle inserts every slice (inserted/updated/deleted/unchanged)');
SELECT is(ARRAY[(SELECT s->'cycle'->>'kind' || ': ' || (s->'cycle'->>'reason') FROM cycles WHERE n = 1),
                (SELECT r.cycle_kind || ': ' || r.cycle_reason FROM trending.runs r
                 WHERE r.status = 'ok' ORDER BY r.run_id DESC LIMIT 1)],
          array_fill('full: the capture is not installed: a superuser runs SELECT trending.install_capture()'::text,
                     ARRAY[2]),
          'the summary and the run say which kind of cycle ran and why');

INSERT INTO cycles SELECT 2, trending.recompute('2026-03-31 12:01:00+00');
SELECT is((SELECT s->'rows' FROM cycles WHERE n = 2), '{"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 13}'::jsonb,
          'a cycle over unchanged data writes nothing');
SELECT is((SELECT count(*)::int FROM trending.track_trending_scores WHERE created_at = '2026-03-31 12:00:00'), 13,
          'rows whose score and genre did not change keep their created_at');

-- One more play for t1, t4 deleted, t3 moves to another genre.
INSERT INTO tap_src.plays (play_item_id, created_at) VALUES (1, '2026-03-31 11:00:00');
UPDATE tap_src.tracks SET is_delete = true WHERE track_id = 4;
UPDATE tap_src.tracks SET genre = 'Metal' WHERE track_id = 3 AND is_current;
INSERT INTO cycles SELECT 3, trending.recompute('2026-03-31 12:02:00+00');
SELECT is(pg_temp.slice(3, 'week'), '0/2/1/2', 'week: t1 (new play) and t3 (genre) updated, t4 deleted, t5 and t6 unchanged');
SELECT is(pg_temp.slice(3, 'month'), '0/2/1/2', 'month: the same changes');
SELECT is(pg_temp.slice(3, 'allTime'), '0/1/0/2', 'allTime: only t3''s genre changed (the play total is aggregate_plays'')');
SELECT is((SELECT round(score::numeric, 8) FROM trending.track_trending_scores
           WHERE track_id = 1 AND type = 'TRACKS' AND version = 'pnagD' AND time_range = 'week'),
          57942::numeric, 't1''s week score follows the new play: (5 + 50 + 3) * 999');
SELECT is((SELECT created_at FROM trending.track_trending_scores
           WHERE track_id = 1 AND type = 'TRACKS' AND version = 'pnagD' AND time_range = 'week'),
          '2026-03-31 12:02:00'::timestamp, 'an updated row carries the new cycle''s now');
SELECT is((SELECT created_at FROM trending.track_trending_scores
           WHERE track_id = 5 AND type = 'TRACKS' AND version = 'pnagD' AND time_range = 'week'),
          '2026-03-31 12:00:00'::timestamp, 'an unchanged row still carries the first cycle''s now');
SELECT is((SELECT array_agg(DISTINCT genre) FROM trending.track_trending_scores WHERE track_id = 3),
          ARRAY['Metal']::varchar[], 'a genre change is written to every row of the track');
SELECT is_empty('SELECT * FROM trending.track_trending_scores WHERE track_id = 4',
                'a track that left the eligible set loses its rows');

UPDATE trending.strategies SET enabled = false WHERE type = 'TRACKS' AND version = 'pnagD';
INSERT INTO cycles SELECT 4, trending.recompute('2026-03-31 12:03:00+00');
SELECT is((SELECT (s->'rows'->>'deleted')::int FROM cycles WHERE n = 4), 11,
          'switching a strategy off removes its rows at the next cycle, counted in the summary');
SELECT is_empty('SELECT * FROM trending.track_trending_scores', 'no rows of a disabled strategy remain');
SELECT is((SELECT s->'strategies'->'TRACKS/pnagD'->>'enabled' FROM cycles WHERE n = 4), 'false',
          'the summary says which strategies were off');

UPDATE trending.strategies SET enabled = true WHERE type = 'TRACKS' AND version = 'pnagD';
SELECT lives_ok($$SELECT trending.recompute('2026-03-31 12:04:00+00')$$, 'switched back on, the next cycle refills it');
SELECT throws_ok($$ALTER TABLE tap_src.tracks DROP COLUMN stem_of; SELECT trending.recompute('2026-03-31 12:05:00+00')$$,
                 '42703', NULL, 'a missing source column fails the cycle with 42703');
SELECT throws_like($$ALTER TABLE tap_src.tracks ALTER COLUMN created_at TYPE timestamptz; SELECT trending.recompute()$$,
                   '%column tracks.created_at is timestamp with time zone, expected timestamp without time zone%',
                   'a source column of the wrong type is named, with the type trending expects');
SELECT throws_like($$DROP TABLE tap_src.plays; SELECT trending.recompute()$$,
                   'trending: source schema "tap_src" cannot feed a cycle: table tap_src.plays does not exist',
                   'a missing source table fails the cycle with a message naming it');
SELECT throws_ok($$UPDATE trending.settings SET value = 'nowhere' WHERE name = 'source_schema'; SELECT trending.recompute()$$,
                 '3F000', 'trending: source schema "nowhere" does not exist',
                 'a missing source schema fails the cycle with 3F000');
SELECT is((SELECT count(*)::int FROM trending.track_trending_scores), 11,
          'a failed cycle leaves the previous scores as they were');

SELECT * FROM finish();
ROLLBACK;
