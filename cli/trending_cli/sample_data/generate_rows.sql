-- The synthetic generator's statements, one per "-- section: NAME" below.
--
-- Each section is a template for psycopg's sql.SQL.format: {name} is filled
-- with a literal, an expression or an identifier by generate.py (so no other
-- braces may appear outside comments; full-line comments are dropped first).
-- Every random draw is pg_temp.u(row, seed, stream) from
-- generate_functions.sql; distinct stream numbers keep draws independent.
-- The same sections serve generate() (the whole history, written straight
-- into the source tables) and simulate_activity() (one period, written into
-- temporary tables first so that the aggregates can be updated from them).
-- Rows with is_current = false are history rows: earlier versions of the row.

-- section: users
-- One current row per user and, for about 10%, an older version of it.
-- Profile classes: ~30% complete (cover, picture and bio), ~35% partial,
-- the rest empty; a history row draws its own class (track karma reads
-- non-current rows too).
INSERT INTO {target} (txhash, user_id, is_current, handle, name, cover_photo, cover_photo_sizes,
                      profile_picture, profile_picture_sizes, bio, created_at)
SELECT format('user-%s-v%s', p.user_id, p.version), p.user_id, p.version = 0,
       'user_' || p.user_id, 'User ' || p.user_id,
       CASE WHEN p.fields & 1 <> 0 AND p.style & 1 = 0 THEN format('Qm-cover-%s', p.user_id) END,
       CASE WHEN p.fields & 1 <> 0 AND p.style & 1 = 1 THEN format('Qm-cover-sizes-%s', p.user_id) END,
       CASE WHEN p.fields & 2 <> 0 AND p.style & 2 = 0 THEN format('Qm-picture-%s', p.user_id) END,
       CASE WHEN p.fields & 2 <> 0 AND p.style & 2 = 2 THEN format('Qm-picture-sizes-%s', p.user_id) END,
       CASE WHEN p.fields & 4 <> 0 THEN format('Bio of user %s', p.user_id) END,
       p.created_at
FROM (
    SELECT g.i AS user_id, v.version,
           CASE WHEN c.class < 0.30 THEN 7
                WHEN c.class < 0.65 THEN 1 + floor(6 * c.pattern)::integer
                ELSE 0 END AS fields,
           floor(4 * c.style)::integer AS style,
           pg_temp.at({ts_hi}, {span_s}, (g.i - pg_temp.u(g.i, {rseed}, 12)) / {n}, 1)
               AS created_at
    FROM generate_series(1, {n}) AS g(i)
    CROSS JOIN LATERAL (SELECT 0 AS version
                        UNION ALL SELECT 1 WHERE pg_temp.u(g.i, {rseed}, 11) < 0.10) AS v
    CROSS JOIN LATERAL (
        SELECT pg_temp.u(g.i, {rseed}, 13 + 10 * v.version) AS class,
               pg_temp.u(g.i, {rseed}, 14 + 10 * v.version) AS pattern,
               pg_temp.u(g.i, {rseed}, 15 + 10 * v.version) AS style
    ) AS c
    OFFSET 0
) AS p
ORDER BY p.user_id, p.version;

-- section: tracks
-- Ids {id_lo}..{id_hi}, uploaded in id order over (ts_hi - span, ts_hi].
-- Version 0 is the current row; version 1 (~10%) an older, non-current row
-- (often still unlisted, as drafts are); version 2 (~1 in 5,000, and
-- {forced_dup}) a SECOND current row with another genre: an upstream data
-- trap the extension must skip and count.
INSERT INTO {target} (txhash, track_id, owner_id, title, genre, created_at, updated_at, release_date,
                      is_current, is_delete, is_unlisted, stem_of, is_available)
SELECT format('track-%s-v%s', t.track_id, v.version), t.track_id, t.owner_id,
       'Track ' || t.track_id,
       CASE WHEN v.version = 2 THEN pg_temp.genre(pg_temp.u(t.track_id, {rseed}, 49)) ELSE t.genre END,
       t.created_at, t.created_at,
       CASE WHEN t.r_release < 0.50 THEN NULL
            -- ~2% of all tracks: released in the future
            WHEN t.r_release < 0.52 THEN {ts_hi} + (1 + 89 * t.r_offset) * interval '1 day'
            -- released (elsewhere) before the upload
            WHEN t.r_release < 0.60 THEN t.created_at - (1 + 364 * t.r_offset) * interval '1 day'
            -- released around the upload, mostly just after it
            ELSE t.created_at + (2.2 * t.r_offset - 0.2) * interval '1 day'
       END,
       v.version <> 1,
       CASE WHEN v.version = 0 THEN t.is_delete ELSE false END,
       CASE WHEN v.version = 0 THEN t.is_unlisted
            WHEN v.version = 1 THEN pg_temp.u(t.track_id, {rseed}, 48) < 0.5
            ELSE false END,
       CASE WHEN v.version = 0 THEN t.stem_of END,
       t.is_available
FROM (
    SELECT g.i AS track_id,
           -- heavy-tailed owners: small user ids own many tracks
           (1 + floor({users} * pg_temp.u(g.i, {rseed}, 30) ^ 2))::integer AS owner_id,
           pg_temp.genre(pg_temp.u(g.i, {rseed}, 31)) AS genre,
           pg_temp.at({ts_hi}, {span_s}, (g.i - {id_lo} + 1 - pg_temp.u(g.i, {rseed}, 32)) / {n}, 1)
               AS created_at,
           pg_temp.u(g.i, {rseed}, 33) AS r_release,
           pg_temp.u(g.i, {rseed}, 34) AS r_offset,
           pg_temp.u(g.i, {rseed}, 35) < 0.10 AS has_history,
           pg_temp.u(g.i, {rseed}, 36) < 0.0002 OR g.i = {forced_dup} AS is_duplicate,
           pg_temp.u(g.i, {rseed}, 37) < 0.03 AS is_delete,
           -- about 1 in 2,000 NULL flags: docs/reference.md says the row is then not eligible
           CASE WHEN pg_temp.u(g.i, {rseed}, 38) < 0.0005 THEN NULL
                ELSE pg_temp.u(g.i, {rseed}, 39) < 0.03 END AS is_unlisted,
           CASE WHEN pg_temp.u(g.i, {rseed}, 40) < 0.02 AND g.i > 1
                THEN jsonb_build_object(
                         'parent_track_id', greatest(1, g.i - 1 - floor(50 * pg_temp.u(g.i, {rseed}, 41))::integer),
                         'category', (ARRAY['bass', 'drums', 'vocals', 'melody', 'lead', 'other'])
                                     [1 + floor(6 * pg_temp.u(g.i, {rseed}, 42))::integer])
           END AS stem_of,
           pg_temp.u(g.i, {rseed}, 43) >= 0.005 AS is_available
    FROM generate_series({id_lo}, {id_hi}) AS g(i)
    OFFSET 0
) AS t
CROSS JOIN LATERAL (SELECT 0 AS version UNION ALL SELECT 1 WHERE t.has_history
                    UNION ALL SELECT 2 WHERE t.is_duplicate) AS v
ORDER BY t.track_id, v.version;

-- section: playlists
-- Ids {id_lo}..{id_hi}; multiples of 5 are albums (20%). 0..50 entries
-- (P(n < 3) ~ 23%), each a track picked as of the playlist's creation.
-- Traps: ~1 in 1,000 (and {trap_missing}, {trap_object}, {trap_string})
-- have 'track_ids' missing, an object or a string; those are current,
-- public and not deleted, so only the trap makes them ineligible. ~1 in
-- 5,000 (and {forced_dup}) have a second current row.
INSERT INTO {target} (txhash, playlist_id, playlist_owner_id, playlist_name, is_album, is_private,
                      is_current, is_delete, playlist_contents, created_at, updated_at, release_date)
SELECT format('playlist-%s-v%s', p.playlist_id, v.version), p.playlist_id, p.owner_id,
       CASE WHEN p.is_album THEN 'Album ' ELSE 'Playlist ' END || p.playlist_id,
       p.is_album,
       CASE WHEN p.trap > 0 THEN false ELSE p.is_private END,
       v.version <> 1,
       CASE WHEN v.version = 0 AND p.trap = 0 THEN p.is_delete ELSE false END,
       CASE p.trap
            WHEN 1 THEN jsonb_build_object('tracks', p.entries)
            WHEN 2 THEN jsonb_build_object('track_ids', jsonb_build_object('track', 1, 'time', 0))
            WHEN 3 THEN jsonb_build_object('track_ids', 'not an array'::text)
            -- an older version had fewer entries
            WHEN 0 THEN jsonb_build_object('track_ids', CASE WHEN v.version = 1
                THEN coalesce(jsonb_path_query_array(p.entries, '$[0 to last - 1]'), '[]'::jsonb)
                ELSE p.entries END)
       END,
       p.created_at, p.created_at, r.release_date
FROM (
    SELECT q.*,
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'track', pg_temp.pick_track({rseed}, q.playlist_id * 64 + k, 70,
                                                   q.age_days, {tmax}),
                       'time', floor(date_part('epoch', q.created_at))::bigint + 60 * k)
                       ORDER BY k), '[]'::jsonb)
            FROM generate_series(1, q.entry_count) AS k) AS entries
    FROM (
        SELECT g.i AS playlist_id,
               (1 + floor({users} * pg_temp.u(g.i, {rseed}, 50) ^ 2))::integer AS owner_id,
               g.i % 5 = 0 AS is_album,
               pg_temp.u(g.i, {rseed}, 51) < 0.10 AS is_private,
               pg_temp.u(g.i, {rseed}, 52) < 0.03 AS is_delete,
               least(50, floor(55 * pg_temp.u(g.i, {rseed}, 53) ^ 2))::integer AS entry_count,
               c.created_at,
               date_part('epoch', {origin} - c.created_at) / 86400 AS age_days,
               pg_temp.u(g.i, {rseed}, 55) < 0.10 AS has_history,
               pg_temp.u(g.i, {rseed}, 56) < 0.0002 OR g.i = {forced_dup} AS is_duplicate,
               CASE WHEN g.i = {trap_missing} THEN 1
                    WHEN g.i = {trap_object} THEN 2
                    WHEN g.i = {trap_string} THEN 3
                    WHEN pg_temp.u(g.i, {rseed}, 57) < 0.001
                    THEN 1 + floor(3 * pg_temp.u(g.i, {rseed}, 58))::integer
                    ELSE 0 END AS trap,
               pg_temp.u(g.i, {rseed}, 59) AS r_release,
               pg_temp.u(g.i, {rseed}, 60) AS r_offset
        FROM generate_series({id_lo}, {id_hi}) AS g(i)
        CROSS JOIN LATERAL (
            SELECT pg_temp.at({ts_hi}, {span_s},
                              (g.i - {id_lo} + 1 - pg_temp.u(g.i, {rseed}, 54)) / {n}, 1) AS created_at
        ) AS c
        OFFSET 0
    ) AS q
    OFFSET 0
) AS p
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.r_release < 0.01 THEN {ts_hi} + (1 + 59 * p.r_offset) * interval '1 day'
                WHEN p.r_release < CASE WHEN p.is_album THEN 0.70 ELSE 0.05 END
                THEN p.created_at + (3 * p.r_offset - 1) * interval '1 day'
           END AS release_date
) AS r
CROSS JOIN LATERAL (SELECT 0 AS version UNION ALL SELECT 1 WHERE p.has_history
                    UNION ALL SELECT 2 WHERE p.is_duplicate) AS v
ORDER BY p.playlist_id, v.version;

-- section: plays
-- Ids {id_lo}..{id_hi} in time order over (ts_hi - span, ts_hi]; with
-- power 2 the density grows towards ts_hi (28% in the last 30 of 365 days).
-- ~20% anonymous (NULL user_id); ~0.1% on track ids that never existed.
INSERT INTO {target} (id, user_id, play_item_id, created_at)
SELECT p.id,
       CASE WHEN pg_temp.u(p.id, {rseed}, 61) >= 0.2
            THEN pg_temp.pick_user({rseed}, p.id, 62) END,
       CASE WHEN pg_temp.u(p.id, {rseed}, 63) < 0.001
            THEN 2000000000 + floor(1000 * pg_temp.u(p.id, {rseed}, 64))::integer
            ELSE pg_temp.pick_track({rseed}, p.id, 65, p.age_days, {tmax})
       END,
       p.created_at
FROM (
    SELECT g.i AS id, c.created_at,
           date_part('epoch', {origin} - c.created_at) / 86400 AS age_days
    FROM generate_series({id_lo}::bigint, {id_hi}) AS g(i)
    CROSS JOIN LATERAL (
        SELECT pg_temp.at({ts_hi}, {span_s},
                          (g.i - {id_lo} + 1 - pg_temp.u(g.i, {rseed}, 60)) / {n}, {power}) AS created_at
    ) AS c
    OFFSET 0
) AS p;

-- section: engagements
-- A SELECT (no INSERT): {n} save or repost events numbered {idx_lo}+1..,
-- in time order over (ts_hi - span, ts_hi]. 90% tracks, 8% playlists, 2%
-- albums. ~5% are un-done (the current row has is_delete, and the original
-- save/repost stays as a history row); ~2% more have a history row. The
-- txhash is unique per event and version, so the key is always unique.
SELECT format('%s-%s-v%s', {tag}, e.idx, v.version) AS txhash,
       e.user_id, e.item_id, e.item_type,
       v.version = 0 AS is_current,
       v.version = 0 AND e.is_delete AS is_delete,
       CASE WHEN v.version = 0 THEN e.created_at
            ELSE e.created_at - date_part('epoch', e.created_at - {ts_lo}) * 0.5
                                * pg_temp.u(e.idx, {rseed}, {stream} + 9) * interval '1 second'
       END AS created_at
FROM (
    SELECT d.idx, d.created_at, d.is_delete, d.has_history,
           pg_temp.pick_user({rseed}, d.idx, {stream} + 2) AS user_id,
           CASE WHEN d.kind < 0.90
                THEN pg_temp.pick_track({rseed}, d.idx, {stream} + 3, d.age_days, {tmax})
                ELSE pg_temp.pick_playlist({rseed}, d.idx, {stream} + 5, d.kind >= 0.98)
           END AS item_id,
           CASE WHEN d.kind < 0.90 THEN 'track' WHEN d.kind < 0.98 THEN 'playlist' ELSE 'album' END
               AS item_type
    FROM (
        SELECT g.k + {idx_lo} AS idx, c.created_at,
               date_part('epoch', {origin} - c.created_at) / 86400 AS age_days,
               pg_temp.u(g.k + {idx_lo}, {rseed}, {stream} + 1) AS kind,
               pg_temp.u(g.k + {idx_lo}, {rseed}, {stream} + 6) < 0.05 AS is_delete,
               pg_temp.u(g.k + {idx_lo}, {rseed}, {stream} + 7) < 0.02 AS has_history
        FROM generate_series(1::bigint, {n}) AS g(k)
        CROSS JOIN LATERAL (
            SELECT pg_temp.at({ts_hi}, {span_s},
                              (g.k - pg_temp.u(g.k + {idx_lo}, {rseed}, {stream})) / {n}, {power})
                       AS created_at
        ) AS c
        OFFSET 0
    ) AS d
    OFFSET 0
) AS e
CROSS JOIN LATERAL (SELECT 0 AS version
                    UNION ALL SELECT 1 WHERE e.is_delete OR e.has_history) AS v

-- section: repost_copies
-- A SELECT (no INSERT): reposts by users who also saved the item (a share
-- {fraction} of the current, non-deleted saves in {source}), a little later.
SELECT format('%s-of-%s', {tag}, s.txhash) AS txhash,
       s.user_id, s.save_item_id AS item_id, s.save_type::text AS item_type,
       true AS is_current, false AS is_delete,
       s.created_at + least(interval '48 hours', {ts_hi} - s.created_at)
                      * pg_temp.u(hashtext(s.txhash), {rseed}, {stream} + 1) AS created_at
FROM {source} AS s
WHERE s.is_current AND NOT s.is_delete AND s.created_at > {ts_lo}
  AND pg_temp.u(hashtext(s.txhash), {rseed}, {stream}) < {fraction}

-- section: aggregate_track
-- One row for every track id (zero counts included), as upstream keeps.
INSERT INTO {s}.aggregate_track (track_id, repost_count, save_count)
SELECT t.track_id, coalesce(r.n, 0), coalesce(v.n, 0)
FROM (SELECT DISTINCT track_id FROM {s}.tracks) AS t
LEFT JOIN (SELECT repost_item_id AS id, count(*) AS n FROM {s}.reposts
           WHERE repost_type = 'track' AND is_current AND NOT is_delete GROUP BY 1) AS r
       ON r.id = t.track_id
LEFT JOIN (SELECT save_item_id AS id, count(*) AS n FROM {s}.saves
           WHERE save_type = 'track' AND is_current AND NOT is_delete GROUP BY 1) AS v
       ON v.id = t.track_id
ORDER BY 1;

-- section: aggregate_playlist
-- One row for every playlist id; counts cover both types 'playlist' and 'album'.
INSERT INTO {s}.aggregate_playlist (playlist_id, is_album, repost_count, save_count)
SELECT p.playlist_id, p.is_album, coalesce(r.n, 0), coalesce(v.n, 0)
FROM (SELECT playlist_id, bool_or(is_album) AS is_album FROM {s}.playlists GROUP BY 1) AS p
LEFT JOIN (SELECT repost_item_id AS id, count(*) AS n FROM {s}.reposts
           WHERE repost_type IN ('playlist', 'album') AND is_current AND NOT is_delete GROUP BY 1) AS r
       ON r.id = p.playlist_id
LEFT JOIN (SELECT save_item_id AS id, count(*) AS n FROM {s}.saves
           WHERE save_type IN ('playlist', 'album') AND is_current AND NOT is_delete GROUP BY 1) AS v
       ON v.id = p.playlist_id
ORDER BY 1;

-- section: aggregate_plays
-- One row per played id; about 1 in 2,000 (and {forced_null}) has a NULL
-- count, a trap upstream chokes on.
INSERT INTO {s}.aggregate_plays (play_item_id, count)
SELECT play_item_id,
       CASE WHEN pg_temp.u(play_item_id, {rseed}, 80) < 0.0005 OR play_item_id = {forced_null}
            THEN NULL ELSE count(*) END
FROM {s}.plays
GROUP BY play_item_id
ORDER BY 1;

-- section: aggregate_user
-- ~2% of users have no row, ~1% a NULL follower_count. follower_count is
-- Pareto-like (alpha 1/2: ~30% below 3, a few in 1e5..1e7, small ids more
-- followed); following_count log-uniform over 0..5000 (~14% at 1500 or more).
-- The other counts follow the raw rows (current, not deleted).
INSERT INTO {s}.aggregate_user (user_id, track_count, playlist_count, follower_count,
                                following_count, repost_count)
SELECT g.i, coalesce(t.n, 0), coalesce(p.n, 0),
       CASE WHEN pg_temp.u(g.i, {rseed}, 21) >= 0.01
            THEN least(10000000, floor(((1 - pg_temp.u(g.i, {rseed}, 22)) * (0.5 + 0.5 * g.i / {n}::double precision)) ^ -2) - 1)::bigint
       END,
       CASE WHEN pg_temp.u(g.i, {rseed}, 23) >= 0.005
            THEN (floor(exp(pg_temp.u(g.i, {rseed}, 24) * ln(5001))) - 1)::bigint
       END,
       coalesce(r.n, 0)
FROM generate_series(1, {n}) AS g(i)
LEFT JOIN (SELECT owner_id AS id, count(*) AS n FROM {s}.tracks
           WHERE is_current AND NOT is_delete GROUP BY 1) AS t ON t.id = g.i
LEFT JOIN (SELECT playlist_owner_id AS id, count(*) AS n FROM {s}.playlists
           WHERE is_current AND NOT is_delete GROUP BY 1) AS p ON p.id = g.i
LEFT JOIN (SELECT user_id AS id, count(*) AS n FROM {s}.reposts
           WHERE is_current AND NOT is_delete GROUP BY 1) AS r ON r.id = g.i
WHERE pg_temp.u(g.i, {rseed}, 20) >= 0.02
ORDER BY 1;

-- section: add_plays
-- simulate_activity: fold new plays into aggregate_plays (a NULL count stays NULL).
INSERT INTO {s}.aggregate_plays AS a (play_item_id, count)
SELECT play_item_id, count(*) FROM pg_temp.new_plays GROUP BY 1 ORDER BY 1
ON CONFLICT (play_item_id) DO UPDATE SET count = a.count + excluded.count;

-- section: add_tracks
-- simulate_activity: zero rows for the new tracks, then the new track saves
-- and reposts; the owners' track_count.
INSERT INTO {s}.aggregate_track (track_id)
SELECT DISTINCT track_id FROM pg_temp.new_tracks ORDER BY 1
ON CONFLICT (track_id) DO NOTHING;
INSERT INTO {s}.aggregate_track AS a (track_id, repost_count, save_count)
SELECT id, sum(reposts), sum(saves)
FROM (SELECT repost_item_id AS id, 1 AS reposts, 0 AS saves FROM pg_temp.new_reposts
      WHERE repost_type = 'track' AND is_current AND NOT is_delete
      UNION ALL
      SELECT save_item_id, 0, 1 FROM pg_temp.new_saves
      WHERE save_type = 'track' AND is_current AND NOT is_delete) AS e
GROUP BY id ORDER BY id
ON CONFLICT (track_id) DO UPDATE SET repost_count = a.repost_count + excluded.repost_count,
                                     save_count = a.save_count + excluded.save_count;
UPDATE {s}.aggregate_user AS a SET track_count = a.track_count + d.n
FROM (SELECT owner_id, count(*) AS n FROM pg_temp.new_tracks
      WHERE is_current AND NOT is_delete GROUP BY 1) AS d
WHERE a.user_id = d.owner_id;

-- section: add_playlists
-- simulate_activity: the same for playlists and albums.
INSERT INTO {s}.aggregate_playlist (playlist_id, is_album)
SELECT playlist_id, bool_or(is_album) FROM pg_temp.new_playlists GROUP BY 1 ORDER BY 1
ON CONFLICT (playlist_id) DO NOTHING;
INSERT INTO {s}.aggregate_playlist AS a (playlist_id, repost_count, save_count)
SELECT id, sum(reposts), sum(saves)
FROM (SELECT repost_item_id AS id, 1 AS reposts, 0 AS saves FROM pg_temp.new_reposts
      WHERE repost_type IN ('playlist', 'album') AND is_current AND NOT is_delete
      UNION ALL
      SELECT save_item_id, 0, 1 FROM pg_temp.new_saves
      WHERE save_type IN ('playlist', 'album') AND is_current AND NOT is_delete) AS e
GROUP BY id ORDER BY id
ON CONFLICT (playlist_id) DO UPDATE SET repost_count = a.repost_count + excluded.repost_count,
                                        save_count = a.save_count + excluded.save_count;
UPDATE {s}.aggregate_user AS a SET playlist_count = a.playlist_count + d.n
FROM (SELECT playlist_owner_id, count(*) AS n FROM pg_temp.new_playlists
      WHERE is_current AND NOT is_delete GROUP BY 1) AS d
WHERE a.user_id = d.playlist_owner_id;

-- section: add_user_reposts
-- simulate_activity: the reposters' repost_count.
UPDATE {s}.aggregate_user AS a SET repost_count = a.repost_count + d.n
FROM (SELECT user_id, count(*) AS n FROM pg_temp.new_reposts
      WHERE is_current AND NOT is_delete GROUP BY 1) AS d
WHERE a.user_id = d.user_id;
