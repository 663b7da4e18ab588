-- Row types of the read functions. Composite types rather than RETURNS TABLE:
-- an OUT column named "genre" would clash with the "genre" parameter.
CREATE TYPE trending.ranked_track AS (
    rank     bigint,
    track_id integer,
    score    double precision,
    genre    varchar
);

CREATE TYPE trending.ranked_playlist AS (
    rank        bigint,
    playlist_id integer,
    score       double precision
);
