-- The score tables the service's API reads, in the shape it already reads
-- (docs/reference.md, "Strategies and the score tables"). Rows are derived data: pg_dump does not keep them; the
-- first cycle after a restore rebuilds them.
--
-- Indexes: the key, plus one ranking index per read so that the API's
-- "ORDER BY score DESC, id DESC LIMIT n" is a top-N index scan with no Sort,
-- overall and per genre. Nothing else: every index is paid for by every
-- changed row.
--
-- Storage: a changed score moves in the ranking indexes, so its update can
-- never be HOT; fillfactor 90 keeps the new version on the old version's
-- page (one heap page dirtied per change instead of two). A cycle rewrites a
-- few percent of the rows, so autovacuum is told to come at 2% dead rather
-- than the default 20%, keeping the tables at their first cycle's size.
CREATE TABLE trending.track_trending_scores (
    track_id   integer          NOT NULL,
    type       varchar          NOT NULL,
    genre      varchar,
    version    varchar          NOT NULL,
    time_range varchar          NOT NULL,
    score      double precision NOT NULL,
    created_at timestamp        NOT NULL,
    CONSTRAINT track_trending_scores_pkey PRIMARY KEY (track_id, type, version, time_range)
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

CREATE INDEX track_trending_scores_ranking_idx
    ON trending.track_trending_scores (type, version, time_range, score DESC, track_id DESC);
CREATE INDEX track_trending_scores_genre_ranking_idx
    ON trending.track_trending_scores (type, version, time_range, genre, score DESC, track_id DESC);

CREATE TABLE trending.playlist_trending_scores (
    playlist_id integer          NOT NULL,
    type        varchar          NOT NULL,
    version     varchar          NOT NULL,
    time_range  varchar          NOT NULL,
    score       double precision NOT NULL,
    created_at  timestamp        NOT NULL,
    CONSTRAINT playlist_trending_scores_pkey PRIMARY KEY (playlist_id, type, version, time_range)
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

CREATE INDEX playlist_trending_scores_ranking_idx
    ON trending.playlist_trending_scores (type, version, time_range, score DESC, playlist_id DESC);
