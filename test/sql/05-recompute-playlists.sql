-- Playlist scores of one cycle on test/fixtures/hand_worked.sql, worked out by
-- hand. NOW = 2026-03-31 12:00 UTC; windows 7, 30, 365 days; counts take
-- created_at > bound, karma created_at >= bound (as upstream).
-- S = 1 + 50*reposts + 1*saves + 0.25*repost_count + 0.01*save_count;
-- score = decay * S * coalesce(karma, 1), 0 when the owner has < 3 followers.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(6);
\ir ../fixtures/hand_worked.sql
CREATE TEMP TABLE summary AS SELECT trending.recompute('2026-03-31 12:00:00+00') AS s;

-- p101 (age 3, totals 0.25*4 + 0.01*100 = 2):
--   week:  reposts u1, u3 (u3 has no bio: counted, no karma) -> S = 1 + 100 + 2 = 103;
--          karma u1 99 -> 10197
--   month: + u2 repost (20 days) and u1 save (25 days) -> S = 1 + 150 + 1 + 2 = 154;
--          karma 99 + 900 + 99 = 1098 -> 169092
--   year:  + u7 repost (100 days) -> S = 204; karma 1098 + 333 (u7's one current row) = 1431 -> 291924
--   (u1's album repost is not a playlist repost)
-- p109 (age 36, nothing): week 1e-5 * 1 * 1; month 0.1 * 1; year 1
-- p110: u9 (3e9 followers) reposted: S = 51 -> 51 * 3e9 = 153e9 in every window
--       (karma above 2^31: exact, no overflow)
-- p113: the only reposter (u4) has no aggregate_user row: karma NULL -> factor 1: 51
-- p114: u1 saved exactly 7 days ago: not a weekly save (> bound) but weekly karma (>= bound):
--       week 1 * 99 = 99; month and year (1 + 1) * 99 = 198
-- Absent: p102 (2 tracks), p103/p104/p105 (track_ids not an array / missing / no contents),
-- p106 (owner without aggregate_user), p107 (owner with 2 followers), p108 (private),
-- p111 (two current rows), p112 (history row only).
SELECT results_eq(
    $$SELECT playlist_id, time_range, round(score::numeric, 8) FROM trending.playlist_trending_scores
      WHERE type = 'PLAYLISTS' AND version = 'pnagD' ORDER BY playlist_id, time_range$$,
    $$VALUES (101, 'month'::varchar, 169092::numeric), (101, 'week', 10197), (101, 'year', 291924),
             (109, 'month', 0.1), (109, 'week', 0.00001), (109, 'year', 1),
             (110, 'month', 153000000000), (110, 'week', 153000000000), (110, 'year', 153000000000),
             (113, 'month', 51), (113, 'week', 51), (113, 'year', 51),
             (114, 'month', 198), (114, 'week', 99), (114, 'year', 198)$$,
    'PLAYLISTS/pnagD scores equal the hand-worked values');
SELECT is((SELECT s->'bad_rows'->>'playlists_track_ids_not_array' FROM summary), '3',
          'playlists whose track_ids is not an array are counted, not fatal');
SELECT is((SELECT s->'bad_rows'->>'duplicate_current_playlists' FROM summary), '1',
          'the playlist with two current rows is skipped and counted');
SELECT is((SELECT s->'bad_rows'->>'playlist_karma_over_int4' FROM summary), '1',
          'karma above 2^31 is counted (and computed exactly)');
SELECT is((SELECT s->'strategies'->'PLAYLISTS/pnagD'->'ranges'->'year'->>'inserted' FROM summary), '5',
          'the summary counts the playlist rows a slice inserted');
SELECT is_empty($$SELECT * FROM trending.playlist_trending_scores WHERE time_range NOT IN ('week', 'month', 'year')$$,
                'playlists are scored for week, month and year only');

SELECT * FROM finish();
ROLLBACK;
