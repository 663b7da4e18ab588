-- The synthetic generator's random model, as session-local SQL functions.
--
-- No random()/setseed(): every pseudo-random number is a hash of (seed,
-- stream, row number), so the data does not depend on execution order,
-- parallel workers or how many rows a statement happens to read first.
-- Every function is a single-expression LANGUAGE sql IMMUTABLE function that
-- PostgreSQL inlines into the calling statement, so they cost no function
-- calls. For that, an argument a body uses twice must be cheap at the call
-- site (a column or a constant): PostgreSQL does not inline a function whose
-- repeated argument is an expensive expression.
-- They live in pg_temp (nothing is left in the database; callers write
-- pg_temp.name(...)), and are re-created for each dataset: this file is a
-- template whose {placeholders} (in comments, dropped before formatting)
-- are the dataset's constants: its sizes and seed-derived permutations.

-- A uniform number in [0, 1). hashint8extended folds its input to 32 bits
-- and mixes it only once, which leaves consecutive rows visibly correlated
-- (r ~ -0.08); hashing the hash again removes that.
CREATE OR REPLACE FUNCTION pg_temp.u(i bigint, seed bigint, stream integer)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashint8extended(hashint8extended(i, seed * 1000 + stream), 24301)
            & 9007199254740991)::double precision / 9007199254740992.0
$$;

-- A Zipf-like (s = 1) rank in [1, n] from a uniform u: P(rank = r) ~ 1/r.
CREATE OR REPLACE FUNCTION pg_temp.zipf_rank(u double precision, n bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(n, floor(exp(u * ln(n + 1.0))))::bigint
$$;

-- Rank r of n as a position in [0, n), by a multiplicative permutation: the
-- multiplier is coprime to n and near n times the golden ratio, so that
-- consecutive ranks land far apart and popularity does not follow the id.
CREATE OR REPLACE FUNCTION pg_temp.scatter(r bigint, n bigint, multiplier bigint, shift bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((r - 1) * multiplier + shift) % n
$$;

-- A track from the catalogue's long-lived popularity: Zipf over the
-- generation's {t0} tracks, scattered.
CREATE OR REPLACE FUNCTION pg_temp.catalog_track(rseed bigint, i bigint, stream integer)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (1 + pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream), {t0}),
                                {t0}, {track_multiplier}, {track_shift}))::integer
$$;

-- The newest track id at age_days before the generation's as_of: tracks
-- were uploaded at a constant rate over 730 days, ids in upload order.
CREATE OR REPLACE FUNCTION pg_temp.newest_track(age_days double precision)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor({t0} * (1 - age_days / 730))::bigint
$$;

-- One of the week's hot tracks: Zipf over the {w} tracks (about 60 days of
-- uploads) that were newest at the start of the week, a different
-- permutation every week. After as_of (negative ages) the newest existing
-- id, tmax, caps the window.
CREATE OR REPLACE FUNCTION pg_temp.hot_track(rseed bigint, i bigint, stream integer,
                                             age_days double precision, tmax bigint)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (greatest({w}, least(tmax, pg_temp.newest_track(7 * (floor(age_days / 7) + 1))))
            - pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream), {w}), {w},
                              {hot_multiplier},
                              {hot_shift} + 7919 * (floor(age_days / 7)::bigint + 1000000))
           )::integer
$$;

-- The track a play, save, repost or playlist entry made age_days before the
-- generation's as_of refers to: 60% from the catalogue popularity (when that
-- track was already uploaded), the rest from the week's hot new tracks, so
-- that what trends changes from week to week. age_days is used twice: pass
-- a column.
CREATE OR REPLACE FUNCTION pg_temp.pick_track(rseed bigint, i bigint, stream integer,
                                              age_days double precision, tmax bigint)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN pg_temp.u(i, rseed, stream) < 0.6
             AND pg_temp.catalog_track(rseed, i, stream + 1) <= pg_temp.newest_track(age_days)
        THEN pg_temp.catalog_track(rseed, i, stream + 1)
        ELSE pg_temp.hot_track(rseed, i, stream + 2, age_days, tmax)
    END
$$;

-- A playlist id for a save or repost of type 'album' (album ids are the
-- multiples of 5) or 'playlist' (the other ids), Zipf-popular and scattered
-- over the generation's playlists; (5k)/4 + 1 enumerates the ids that are not
-- multiples of 5.
CREATE OR REPLACE FUNCTION pg_temp.pick_playlist(rseed bigint, i bigint, stream integer,
                                                 album boolean)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN album
        THEN 5 * (1 + pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream), {albums}),
                                      {albums}, {album_multiplier}, {album_shift}))
        ELSE 5 * pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream), {lists}),
                                 {lists}, {list_multiplier}, {list_shift}) / 4 + 1
    END::integer
$$;

-- An active user: a few users account for much of the activity (density
-- ~ 1/sqrt(rank)), scattered over the id range.
CREATE OR REPLACE FUNCTION pg_temp.pick_user(rseed bigint, i bigint, stream integer)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (1 + pg_temp.scatter(1 + floor({users} * pg_temp.u(i, rseed, stream) ^ 2)::bigint,
                                {users}, {user_multiplier}, {user_shift}))::integer
$$;

-- The event time for position f in (0, 1] of a stream of events that ends at
-- ts_hi and spans span_s seconds: power 1 spreads events evenly, power 2
-- crowds them towards ts_hi (density ~ 1/sqrt(age)). Monotone in f, so ids
-- given in f order are in time order, as in the append-only upstream tables.
-- Clamped into (ts_hi - span, ts_hi] against microsecond rounding.
CREATE OR REPLACE FUNCTION pg_temp.at(ts_hi timestamp, span_s double precision,
                                      f double precision, power double precision)
RETURNS timestamp LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(ts_hi - span_s * interval '1 second' + interval '1 microsecond',
                    ts_hi - (span_s * (1 - f) ^ power) * interval '1 second')
$$;

-- A genre, skewed like the real catalogue (about 2% NULL).
CREATE OR REPLACE FUNCTION pg_temp.genre(u double precision)
RETURNS varchar LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (ARRAY['Electronic', 'Hip-Hop/Rap', 'Alternative', 'Pop', 'Rock', 'R&B/Soul',
                  'Experimental', 'Lo-Fi', 'Ambient', 'House', 'Techno', 'Jazz', 'Dubstep',
                  'Folk', 'Classical', NULL]::varchar[])
           [width_bucket(u, ARRAY[0, 0.20, 0.37, 0.46, 0.54, 0.61, 0.67, 0.72, 0.77, 0.81, 0.85,
                                  0.88, 0.91, 0.94, 0.96, 0.98]::double precision[])]
$$;
