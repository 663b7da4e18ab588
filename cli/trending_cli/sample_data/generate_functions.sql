-- The synthetic generator's random model, as session-local SQL functions.
--
-- No random()/setseed(): every pseudo-random number is a hash of (seed,
-- stream, row number), so the data does not depend on execution order,
-- parallel workers or how many rows a statement happens to read first.
-- Every function is a single-expression LANGUAGE sql IMMUTABLE function that
-- PostgreSQL inlines into the calling statement (each argument is used once,
-- or is a constant or a plain column), so they cost no function calls.
-- They live in pg_temp: nothing is left in the database, and callers must
-- write pg_temp.name(...) explicitly.

-- A uniform number in [0, 1): the low 53 bits of a seeded 64-bit hash.
CREATE OR REPLACE FUNCTION pg_temp.u(i bigint, seed bigint, stream integer)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashint8extended(i, seed * 1000 + stream) & 9007199254740991)::double precision
           / 9007199254740992.0
$$;

-- A non-negative per-seed offset, to shift the permutations below.
CREATE OR REPLACE FUNCTION pg_temp.offset_of(seed bigint, salt integer)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashint8extended(seed, salt) & 1073741823
$$;

-- A Zipf-like (s = 1) rank in [1, n] from a uniform u: P(rank = r) ~ 1/r.
CREATE OR REPLACE FUNCTION pg_temp.zipf_rank(u double precision, n bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(n, floor(exp(u * ln(n + 1.0))))::bigint
$$;

-- Rank r of n mapped to an id in [1, n] by a multiplicative permutation
-- (15485863 is prime and larger than any n here), so that popular ids are
-- scattered over the id range instead of being the smallest ones.
CREATE OR REPLACE FUNCTION pg_temp.scatter(r bigint, n bigint, pseed bigint, salt integer)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((r - 1) * 15485863 + pg_temp.offset_of(pseed, salt)) % n
$$;

-- The "hot" tracks of week b (b = whole weeks before the data's as_of;
-- negative after it): rank r among the w tracks uploaded in the ~60 days
-- before that week. Tracks are uploaded at a constant rate over two years,
-- with ids in upload order, so the newest id at week b is about
-- t0 * (1 - 7b/730); tmax caps it at the newest id that exists.
CREATE OR REPLACE FUNCTION pg_temp.hot_id(r bigint, b integer, w bigint, t0 bigint, tmax bigint,
                                          pseed bigint)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (greatest(w, least(tmax, floor(t0 * (1 - 7.0 * b / 730))::bigint))
            - ((r - 1) * 15485863 + (b + 1000000)::bigint * 7919 + pg_temp.offset_of(pseed, 2)) % w
           )::integer
$$;

-- The track a play, save, repost or playlist entry made `age_days` before
-- the data's as_of refers to: 60% from the long-lived catalog popularity
-- (Zipf over all t0 original tracks, scattered), 40% from that week's hot
-- new tracks, so that what trends changes from week to week.
-- rseed drives the row's own randomness, pseed the dataset's permutations
-- (the generation seed, kept by simulate_activity so popularity persists).
CREATE OR REPLACE FUNCTION pg_temp.pick_track(rseed bigint, pseed bigint, i bigint, stream integer,
                                              age_days double precision, t0 bigint, w bigint,
                                              tmax bigint)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN pg_temp.u(i, rseed, stream) < 0.6
        THEN (1 + pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream + 1), t0),
                                  t0, pseed, 1))::integer
        ELSE pg_temp.hot_id(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream + 1), w),
                            floor(age_days / 7)::integer, w, t0, tmax, pseed)
    END
$$;

-- A playlist id for a save or repost of type 'album' (album ids are the
-- multiples of 5) or 'playlist' (the other ids), Zipf-popular and scattered.
-- (5k)/4 + 1 enumerates the ids that are not multiples of 5.
CREATE OR REPLACE FUNCTION pg_temp.pick_playlist(rseed bigint, pseed bigint, i bigint,
                                                 stream integer, album boolean, pl bigint)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN album
        THEN 5 * (1 + pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream), pl / 5),
                                      pl / 5, pseed, 3))
        ELSE 5 * pg_temp.scatter(pg_temp.zipf_rank(pg_temp.u(i, rseed, stream), pl - pl / 5),
                                 pl - pl / 5, pseed, 4) / 4 + 1
    END::integer
$$;

-- A user id in [1, users]: heavy users (a few users account for much of the
-- activity), scattered over the id range.
CREATE OR REPLACE FUNCTION pg_temp.pick_user(rseed bigint, pseed bigint, i bigint, stream integer,
                                             users bigint)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (1 + ((floor(users * pg_temp.u(i, rseed, stream) ^ 2)::bigint * 15485863
                  + pg_temp.offset_of(pseed, 5)) % users))::integer
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
