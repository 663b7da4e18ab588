-- Movers (issue 11): the top N (setting movers_top_n) of every list the API
-- reads, as the last two successful cycles left them: TRACKS/pnagD per time
-- range, overall (genre '') and per genre (the movers_max_genres genres
-- with the most scored tracks), and PLAYLISTS/pnagD per time range.
-- trending._record_top writes it at the end of each successful cycle and
-- keeps only its own run's rows and the previous generation's, so it holds
-- at most 2 x lists x N rows; trending.movers() compares the two.
-- Derived data like the score tables: not dumped.
CREATE TABLE trending.movers_top (
    run_id     bigint           NOT NULL,  -- the cycle that recorded the row
    as_of      timestamptz      NOT NULL,  -- that cycle's now
    kind       text             NOT NULL CHECK (kind IN ('track', 'playlist')),
    time_range text             NOT NULL,
    genre      text             NOT NULL,  -- '' for the overall list (as the API's genre NULL or '')
    rank       integer          NOT NULL CHECK (rank > 0),
    id         integer          NOT NULL,
    score      double precision NOT NULL,
    CONSTRAINT movers_top_pkey PRIMARY KEY (kind, time_range, genre, run_id, rank)
);
