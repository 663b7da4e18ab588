-- The read functions on hand-written score rows: the reference's order, ties, paging,
-- genre filter, underground rules, and 22023 for every bad argument.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset tuples_only on
\pset format unaligned
BEGIN;
SELECT plan(22);

-- 25 weekly TRACKS/pnagD rows: track i scores 100 - i, except track 3 which
-- ties track 2 at 98; every third track is Pop, the rest Rock.
INSERT INTO trending.track_trending_scores (track_id, type, genre, version, time_range, score, created_at)
SELECT i, 'TRACKS', CASE WHEN i % 3 = 0 THEN 'Pop' ELSE 'Rock' END, 'pnagD', 'week',
       CASE WHEN i = 3 THEN 98 ELSE 100 - i END, '2026-01-01'
FROM generate_series(1, 25) AS i;
INSERT INTO trending.track_trending_scores (track_id, type, genre, version, time_range, score, created_at) VALUES
    (100, 'TRACKS', 'Pop', 'pnagD', 'month', 5, '2026-01-01'),
    (200, 'TRACKS', 'Jazz', 'AnlGe', 'week', 1000, '2026-01-01'),
    (300, 'UNDERGROUND_TRACKS', 'Rock', 'pnagD', 'week', 5000, '2026-01-01');
INSERT INTO trending.playlist_trending_scores (playlist_id, type, version, time_range, score, created_at) VALUES
    (10, 'PLAYLISTS', 'pnagD', 'week', 5, '2026-01-01'),
    (11, 'PLAYLISTS', 'pnagD', 'week', 5, '2026-01-01'),
    (12, 'PLAYLISTS', 'pnagD', 'week', 7, '2026-01-01'),
    (13, 'PLAYLISTS', 'pnagD', 'year', 1, '2026-01-01');

-- underground needs the owners: track i is owned by user i; odd users are
-- small (< 1500 followers and followings), even users are not.
CREATE SCHEMA tap_read;
SET LOCAL search_path = tap_read, public;
\ir ../../cli/trending_cli/sample_data/source_schema.sql
INSERT INTO tracks (track_id, owner_id, created_at, is_current, is_delete, is_unlisted)
SELECT i, i, '2025-01-01', true, false, false FROM generate_series(1, 25) AS i;
INSERT INTO aggregate_user (user_id, follower_count, following_count)
SELECT i, CASE WHEN i % 2 = 1 THEN 1499 ELSE 1500 END, 10 FROM generate_series(1, 25) AS i;
UPDATE trending.settings SET value = 'tap_read' WHERE name = 'source_schema';

SELECT results_eq('SELECT * FROM trending.top_tracks(lim => 5)',
    $$VALUES (1::bigint, 1, 99::float8, 'Rock'::varchar), (2, 3, 98, 'Pop'), (3, 2, 98, 'Rock'),
             (4, 4, 96, 'Rock'), (5, 5, 95, 'Rock')$$,
    'top_tracks(): score descending, ties by track_id descending, ranked from 1');
SELECT is((SELECT count(*)::int FROM trending.top_tracks()), 25,
          'the default read is TRACKS/pnagD week only: other ranges, versions and types stay out');
SELECT results_eq('SELECT rank, track_id FROM trending.top_tracks(lim => 2, off => 3)',
                  $$VALUES (4::bigint, 4), (5, 5)$$, 'paging: rank is the absolute position');
SELECT results_eq($$SELECT rank, track_id FROM trending.top_tracks(genre => 'Pop', lim => 3)$$,
                  $$VALUES (1::bigint, 3), (2, 6), (3, 9)$$, 'a genre filters the list and ranks within it');
SELECT results_eq($$SELECT * FROM trending.top_tracks(genre => '')$$, 'SELECT * FROM trending.top_tracks()',
                  'an empty genre means all genres, like NULL');
SELECT results_eq($$SELECT track_id, score FROM trending.top_tracks(version => 'AnlGe')$$,
                  $$VALUES (200, 1000::float8)$$, 'version selects the strategy version');
SELECT results_eq($$SELECT track_id FROM trending.top_tracks('month')$$, $$VALUES (100)$$,
                  'time_range selects the slice');
SELECT is_empty($$SELECT * FROM trending.top_tracks('allTime')$$, 'an empty slice reads as no rows');
SELECT lives_ok($$SELECT * FROM trending.top_tracks(lim => 1000)$$, 'lim may be 1000');

SELECT results_eq('SELECT * FROM trending.top_playlists()',
                  $$VALUES (1::bigint, 12, 7::float8), (2, 11, 5), (3, 10, 5)$$,
                  'top_playlists(): score descending, ties by playlist_id descending');
SELECT results_eq($$SELECT playlist_id FROM trending.top_playlists('year', lim => 1)$$, $$VALUES (13)$$,
                  'top_playlists reads the year range');

SELECT results_eq('SELECT * FROM trending.underground_tracks()',
    $$VALUES (1::bigint, 21, 79::float8, 'Pop'::varchar), (2, 23, 77, 'Rock'), (3, 25, 75, 'Rock')$$,
    'underground: the top 20 dropped, then only owners under 1500 followers and followings');
SELECT is_empty($$SELECT * FROM trending.underground_tracks(genre => 'Rock')$$,
                'underground drops the top 20 of the genre''s own list (17 Rock tracks: none left)');

SELECT throws_ok($$SELECT * FROM trending.top_tracks('day')$$, '22023',
                 'invalid time_range ''day'': valid values are week, month, allTime',
                 'an unknown range raises 22023 naming the valid ranges');
SELECT throws_ok($$SELECT * FROM trending.top_tracks(NULL)$$, '22023',
                 'invalid time_range NULL: valid values are week, month, allTime', 'a NULL range raises 22023');
SELECT throws_ok($$SELECT * FROM trending.top_tracks(version => 'nope')$$, '22023',
                 'invalid version ''nope'': valid values are pnagD, AnlGe',
                 'an unknown version raises 22023 naming the valid versions');
SELECT throws_ok($$SELECT * FROM trending.top_tracks(lim => 0)$$, '22023',
                 'invalid lim 0: valid values are 1 to 1000', 'lim below 1 raises 22023');
SELECT throws_ok($$SELECT * FROM trending.top_tracks(lim => 1001)$$, '22023',
                 'invalid lim 1001: valid values are 1 to 1000', 'lim above 1000 raises 22023');
SELECT throws_ok($$SELECT * FROM trending.top_tracks(off => -1)$$, '22023',
                 'invalid off -1: valid values are 0 or more', 'a negative offset raises 22023');
SELECT throws_ok($$SELECT * FROM trending.underground_tracks('year')$$, '22023',
                 'invalid time_range ''year'': valid values are week, month, allTime',
                 'underground_tracks validates its range');
SELECT throws_ok($$SELECT * FROM trending.top_playlists('allTime')$$, '22023',
                 'invalid time_range ''allTime'': valid values are week, month, year',
                 'top_playlists validates its range');
SELECT throws_ok($$SELECT * FROM trending.top_playlists(lim => 1001)$$, '22023',
                 'invalid lim 1001: valid values are 1 to 1000', 'top_playlists validates lim');

SELECT * FROM finish();
ROLLBACK;
