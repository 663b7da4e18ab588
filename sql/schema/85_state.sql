-- The incremental cycles' state (docs/incremental.md, "The state"): what a
-- full cycle computed per item, kept so that the next cycle rescores only
-- the items that changed. All of it is derived from the source tables, and a
-- full cycle rebuilds it whole, so it is UNLOGGED: no WAL, nothing shipped to
-- replicas, emptied by a crash restart; not dumped (no config_dump). A
-- missing or invalid _state_meta row makes the next cycle full and say why.
--
-- Only the cycles write it, through trending._state_write, _state_advance
-- and _state_finish (SECURITY DEFINER, checked: the caller's own run), all
-- in the transaction of a cycle's last step, the one that also moves the
-- capture's watermark: the state moves from one watermark and now to the
-- next in one commit, or not at all. Roles that run cycles read it.

-- Per eligible track: the inputs of its last scoring (the columns of
-- pg_temp.trending_track_inputs, wide types) plus the dates its age is
-- computed from, indexed to find the tracks whose age in days crossed a
-- decay step, and its owner, to find the tracks of a user who changed.
CREATE UNLOGGED TABLE trending._state_tracks (
    track_id              bigint    PRIMARY KEY,
    owner_id              bigint,
    created_at            timestamp,
    released_base         timestamp,  -- greatest(release_date, created_at): the age's base once released
    release_date          timestamp,
    genre                 text,
    genre_too_long        boolean,
    owner_followers       numeric,
    release_date_infinite boolean,
    infinite_events       bigint,
    negative_contributors bigint[],
    listens_week          bigint,
    listens_month         bigint,
    reposts_week          bigint,
    reposts_month         bigint,
    saves_week            bigint,
    saves_month           bigint,
    repost_total          bigint,
    save_total            bigint,
    play_total            numeric,
    null_play_count       boolean,
    karma                 numeric,
    -- the plays of the whole hours after the hour that holds each window's
    -- start (as of the state's watermark and now), and at -infinity: an
    -- incremental cycle moves them by the hours the windows left and the
    -- plays added, never re-reading a track's month of buckets
    week_hours            bigint,
    month_hours           bigint,
    infinite_plays        bigint,
    infinite_actions      bigint   -- saves and reposts dated +-infinity (in infinite_events with the plays)
) WITH (fillfactor = 80);  -- room for in-place (HOT) updates of the rescored items' rows
CREATE INDEX _state_tracks_owner_idx ON trending._state_tracks (owner_id);
CREATE INDEX _state_tracks_created_idx ON trending._state_tracks (created_at);
CREATE INDEX _state_tracks_released_idx ON trending._state_tracks (released_base);
CREATE INDEX _state_tracks_release_date_idx ON trending._state_tracks (release_date);

-- Per eligible playlist, as for tracks.
CREATE UNLOGGED TABLE trending._state_playlists (
    playlist_id           bigint    PRIMARY KEY,
    owner_id              bigint,
    created_at            timestamp,
    released_base         timestamp,
    release_date          timestamp,
    owner_followers       numeric,
    release_date_infinite boolean,
    infinite_events       bigint,
    negative_contributors bigint[],
    reposts_week          bigint,
    reposts_month         bigint,
    reposts_year          bigint,
    saves_week            bigint,
    saves_month           bigint,
    saves_year            bigint,
    karma_week            numeric,
    karma_month           numeric,
    karma_year            numeric,
    repost_total          bigint,
    save_total            bigint
) WITH (fillfactor = 80);
CREATE INDEX _state_playlists_created_idx ON trending._state_playlists (created_at);
CREATE INDEX _state_playlists_released_idx ON trending._state_playlists (released_base);
CREATE INDEX _state_playlists_release_date_idx ON trending._state_playlists (release_date);

-- The owner of every playlist with one current row, eligible or not: a
-- playlist becomes eligible when its owner gets an aggregate_user row.
CREATE UNLOGGED TABLE trending._state_playlist_owners (
    playlist_id bigint PRIMARY KEY,
    owner_id    bigint
);
CREATE INDEX _state_playlist_owners_owner_idx ON trending._state_playlist_owners (owner_id);

-- Per user with a karma weight (extension/trending_pl/inputs.py, user_weights):
-- the follower_count summed once per users row with a complete profile (for
-- tracks every row, for playlists the current ones), and whether that count
-- is negative. Every item's karma in the state is the sum of these over its
-- live saves and reposts, so a user whose weight changes moves the karma of
-- the items they engaged by the difference (incremental.py), and an item
-- whose engagements are read again sums these weights: never a weight newer
-- than the state's. Users without a weight (no complete profile, no
-- aggregate_user row, a NULL count) have no row.
CREATE UNLOGGED TABLE trending._state_track_users (
    user_id  bigint  PRIMARY KEY,
    weight   numeric,
    negative boolean NOT NULL
);
CREATE UNLOGGED TABLE trending._state_playlist_users (
    user_id  bigint  PRIMARY KEY,
    weight   numeric,
    negative boolean NOT NULL
);

-- Plays per track and hour (UTC), from the start of the hour that holds the
-- month window's start on; the hour of -infinity keeps the plays no window
-- holds (counted). A window's partial first hour is counted from plays'
-- created_at index when a cycle needs it, never from here.
CREATE UNLOGGED TABLE trending._state_play_buckets (
    track_id bigint    NOT NULL,
    hour     timestamp NOT NULL,
    plays    bigint    NOT NULL,
    PRIMARY KEY (track_id, hour)
);
CREATE INDEX _state_play_buckets_hour_idx ON trending._state_play_buckets (hour);

-- Every live save and repost of a track (tracks' karma has no window: all
-- of them count), one row each, as the last cycle that read it found it in
-- the sources: a changed one applies as a difference (incremental.py,
-- stage_action_delta): the rows of each (track, user, kind of action) the
-- capture names are read again and replace the stored ones, and the
-- track's counts and karma move by what left and what came. By pair: those
-- reads; by user: the rows whose karma weight changed; by created_at: the
-- rows a moving window leaves (or, the calendar month, takes back).
CREATE UNLOGGED TABLE trending._state_track_actions (
    track_id   bigint    NOT NULL,
    is_repost  boolean   NOT NULL,
    user_id    bigint,
    created_at timestamp
);
CREATE INDEX _state_track_actions_pair_idx ON trending._state_track_actions (track_id, user_id, is_repost);
CREATE INDEX _state_track_actions_user_idx ON trending._state_track_actions (user_id);
CREATE INDEX _state_track_actions_created_idx ON trending._state_track_actions (created_at);

-- The hours that hold a live save or repost of a playlist, from the first
-- hour of the year window on: the playlists whose engagements leave a
-- window between two cycles (their saves and reposts are read again: a
-- playlist's karma is NULL without a contributor, which a difference
-- cannot say). By item too (covering): an incremental cycle adds its
-- items' new hours.
CREATE UNLOGGED TABLE trending._state_playlist_hours (
    hour    timestamp NOT NULL,
    item_id bigint    NOT NULL,
    PRIMARY KEY (hour, item_id)
);
CREATE INDEX _state_playlist_hours_item_idx ON trending._state_playlist_hours (item_id, hour);

-- One row: what the state holds and up to when. valid is false after a full
-- cycle at an earlier now than the state's (its scores are not the state's)
-- or when the capture could not be armed, until a full cycle rebuilds it.
CREATE UNLOGGED TABLE trending._state_meta (
    one           boolean   PRIMARY KEY DEFAULT true CHECK (one),
    valid         boolean   NOT NULL,
    cycle_now     timestamp,           -- UTC now of the last cycle that finished with this state
    since         bigint,              -- the capture watermark the play buckets are counted up to
    fingerprint   text,                -- source schema and strategies switched on (cycle.plan)
    built_at      timestamp,           -- UTC now of the full cycle that built it
    reconciled_at timestamp,           -- UTC now of the last full or reconciling cycle: the round's start
    run_id        bigint,
    -- how far this round of reconciliation got (incremental.Rotation): the
    -- last id checked of each table, the counts it paces by, the drift
    -- found so far; NULL: a round starts at the next cycle
    rotation      jsonb
);
