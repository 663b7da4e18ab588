-- Track scores of one cycle on test/fixtures/hand_worked.sql, worked out by
-- hand. NOW = 2026-03-31 12:00 UTC. decay(age, w) = 1 when age <= w, else
-- max(1e-5, 1e5^(1 - age/w)): for age 36, week gives 1e-5 (the floor) and
-- month gives 1e5^-0.2 = 0.1.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(9);
\ir ../fixtures/hand_worked.sql
UPDATE trending.strategies SET enabled = true;
CREATE TEMP TABLE summary AS SELECT trending.recompute('2026-03-31 12:00:00+00') AS s;

-- TRACKS/pnagD, K = karma.
-- t1: owner u6 has 3 followers (not < 3), age 3. karma = u1 99 (repost) + u2 900
--     (save; *_sizes photos and an empty bio are a complete profile) = 999; the
--     deleted repost of u3, the history repost of u2 and the history row of
--     the track itself (owner u5, Jazz) do not count. Totals R*8 + I*100 = 3.
--     week:  4 listens + 50*1 repost + 0 saves + 3 = 57  -> 57 * 999 = 56943
--     month: 6 listens (the play 40 days ago is before Feb 28) + 50 + 1 + 3 = 60 -> 59940
--     allTime: (7 plays + 3) * 999 = 9990
-- t3: age 36; u7 saved it: three complete users rows (two history) count 3 * 333 = 999.
--     week: 10 + 1 save = 11 -> 1e-5 * 11 * 999 = 0.10989; month 0.1 * 11 * 999 = 1098.9
--     allTime: 10 * 999 = 9990
-- t4: released 2 days ago (later than created_at) -> age 2; karma 99 (u1 repost)
--     week = month: (1 + 50) * 99 = 5049; no aggregate_plays row -> no allTime row
-- t5: release date in the future -> age from created_at = 36; karma 99 (u1 save)
--     week: 1e-5 * (2 + 1) * 99 = 0.00297; month 0.1 * 3 * 99 = 29.7; allTime 2 * 99 = 198
-- t6: release date before created_at -> age from created_at = 2; (1 + 50) * 99 = 5049
-- Absent: t2 (owner has 2 followers), t7 deleted, t8 unlisted, t9 stem,
-- t10 (two current rows), t11 (no karma: u3's profile has no bio), t12 (NULL is_current).
SELECT results_eq(
    $$SELECT track_id, time_range, genre, round(score::numeric, 8) FROM trending.track_trending_scores
      WHERE type = 'TRACKS' AND version = 'pnagD' ORDER BY track_id, time_range$$,
    $$VALUES (1, 'allTime'::varchar, 'Pop'::varchar, 9990::numeric), (1, 'month', 'Pop', 59940), (1, 'week', 'Pop', 56943),
             (3, 'allTime', 'Rock', 9990), (3, 'month', 'Rock', 1098.9), (3, 'week', 'Rock', 0.10989),
             (4, 'month', 'Pop', 5049), (4, 'week', 'Pop', 5049),
             (5, 'allTime', 'Pop', 198), (5, 'month', 'Pop', 29.7), (5, 'week', 'Pop', 0.00297),
             (6, 'month', 'Rock', 5049), (6, 'week', 'Rock', 5049)$$,
    'TRACKS/pnagD scores equal the hand-worked values');

-- TRACKS/AnlGe, K = 1 + log10(1 + karma): karma 999 -> 4, 99 -> 3, 0 -> 1.
-- t1: 57*4, 60*4, 10*4; t3: 1e-5*11*4, 0.1*11*4, 10*4; t4, t6: 51*3; t5: 1e-5*3*3, 0.1*3*3, 2*3;
-- t11: owner without an aggregate_user row is not < 3 followers: 2 listens + 1 save = 3,
--      K = 1, genre NULL; its aggregate_plays count is NULL -> no allTime row.
SELECT results_eq(
    $$SELECT track_id, time_range, genre, round(score::numeric, 8) FROM trending.track_trending_scores
      WHERE type = 'TRACKS' AND version = 'AnlGe' ORDER BY track_id, time_range$$,
    $$VALUES (1, 'allTime'::varchar, 'Pop'::varchar, 40::numeric), (1, 'month', 'Pop', 240), (1, 'week', 'Pop', 228),
             (3, 'allTime', 'Rock', 40), (3, 'month', 'Rock', 4.4), (3, 'week', 'Rock', 0.00044),
             (4, 'month', 'Pop', 153), (4, 'week', 'Pop', 153),
             (5, 'allTime', 'Pop', 6), (5, 'month', 'Pop', 0.9), (5, 'week', 'Pop', 0.00009),
             (6, 'month', 'Rock', 153), (6, 'week', 'Rock', 153),
             (11, 'month', NULL, 3), (11, 'week', NULL, 3)$$,
    'TRACKS/AnlGe scores equal the hand-worked values');

SELECT results_eq(
    $$SELECT track_id, genre, time_range, score FROM trending.track_trending_scores
      WHERE type = 'UNDERGROUND_TRACKS' AND version = 'pnagD' ORDER BY 1, 3$$,
    $$SELECT track_id, genre, time_range, score FROM trending.track_trending_scores
      WHERE type = 'TRACKS' AND version = 'pnagD' ORDER BY 1, 3$$,
    'UNDERGROUND_TRACKS/pnagD stores the TRACKS/pnagD scores under its own type');
SELECT is_empty('SELECT * FROM trending.track_trending_scores WHERE score = 0', 'no zero score is stored');
SELECT is((SELECT count(DISTINCT created_at)::int || ' ' || min(created_at)::text FROM trending.track_trending_scores),
          '1 2026-03-31 12:00:00', 'every written row carries the cycle''s now, in UTC');

SELECT is((SELECT s->'bad_rows'->>'duplicate_current_tracks' FROM summary), '1',
          'the track with two current rows is skipped and counted');
SELECT is((SELECT s->'bad_rows'->>'null_play_counts' FROM summary), '1',
          'the NULL aggregate_plays.count is counted, not fatal');
SELECT is((SELECT s->'strategies'->'TRACKS/pnagD'->'ranges'->'week'->>'inserted' FROM summary), '5',
          'the summary counts the rows a slice inserted');
SELECT is((SELECT s->>'status' FROM summary), 'ok', 'the cycle reports status ok');

SELECT * FROM finish();
ROLLBACK;
