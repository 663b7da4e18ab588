-- The upstream service's source tables, as docs/reference.md describes them, for
-- development, tests, the demo and the benchmark.
--
-- Unqualified on purpose: run it with search_path set to the target schema
-- (trending_cli.sample_data.create_source_schema does exactly that).
-- Only the columns trending reads matter; a few others are here so that
-- nothing depends on column positions. Boolean flags are nullable: docs/reference.md says a
-- NULL flag makes a row ineligible, and the tests need to store one.

CREATE TYPE savetype AS ENUM ('track', 'playlist', 'album');
CREATE TYPE reposttype AS ENUM ('track', 'playlist', 'album');

CREATE TABLE users (
    blockhash             varchar,
    blocknumber           integer,
    txhash                varchar   NOT NULL DEFAULT '',
    user_id               integer   NOT NULL,
    is_current            boolean,
    handle                varchar,
    name                  text,
    cover_photo           varchar,
    cover_photo_sizes     varchar,
    profile_picture       varchar,
    profile_picture_sizes varchar,
    bio                   varchar,
    created_at            timestamp NOT NULL DEFAULT '2020-01-01',
    PRIMARY KEY (user_id, txhash)
);

CREATE TABLE tracks (
    blockhash    varchar,
    blocknumber  integer,
    txhash       varchar   NOT NULL DEFAULT '',
    track_id     integer   NOT NULL,
    owner_id     integer   NOT NULL,
    title        text,
    genre        varchar,
    created_at   timestamp NOT NULL,
    updated_at   timestamp,
    release_date timestamp,
    is_current   boolean,
    is_delete    boolean,
    is_unlisted  boolean,
    stem_of      jsonb,
    is_available boolean   DEFAULT true,
    PRIMARY KEY (track_id, txhash)
);

CREATE TABLE playlists (
    blockhash         varchar,
    blocknumber       integer,
    txhash            varchar   NOT NULL DEFAULT '',
    playlist_id       integer   NOT NULL,
    playlist_owner_id integer   NOT NULL,
    playlist_name     varchar,
    is_album          boolean,
    is_private        boolean,
    is_current        boolean,
    is_delete         boolean,
    playlist_contents jsonb,
    created_at        timestamp NOT NULL,
    updated_at        timestamp,
    release_date      timestamp,
    PRIMARY KEY (playlist_id, txhash)
);

CREATE TABLE plays (
    id           serial    PRIMARY KEY,
    user_id      integer,
    source       varchar,
    play_item_id integer   NOT NULL,
    created_at   timestamp NOT NULL,
    updated_at   timestamp
);

CREATE TABLE saves (
    blockhash    varchar,
    blocknumber  integer,
    txhash       varchar   NOT NULL DEFAULT '',
    user_id      integer   NOT NULL,
    save_item_id integer   NOT NULL,
    save_type    savetype  NOT NULL,
    is_current   boolean,
    is_delete    boolean,
    created_at   timestamp NOT NULL,
    PRIMARY KEY (user_id, save_item_id, save_type, txhash)
);

CREATE TABLE reposts (
    blockhash      varchar,
    blocknumber    integer,
    txhash         varchar    NOT NULL DEFAULT '',
    user_id        integer    NOT NULL,
    repost_item_id integer    NOT NULL,
    repost_type    reposttype NOT NULL,
    is_current     boolean,
    is_delete      boolean,
    created_at     timestamp  NOT NULL,
    PRIMARY KEY (user_id, repost_item_id, repost_type, txhash)
);

CREATE TABLE aggregate_user (
    user_id         integer PRIMARY KEY,
    track_count     bigint  DEFAULT 0,
    playlist_count  bigint  DEFAULT 0,
    follower_count  bigint,
    following_count bigint,
    repost_count    bigint  DEFAULT 0
);

CREATE TABLE aggregate_track (
    track_id     integer PRIMARY KEY,
    repost_count integer NOT NULL DEFAULT 0,
    save_count   integer NOT NULL DEFAULT 0
);

CREATE TABLE aggregate_plays (
    play_item_id integer PRIMARY KEY,
    count        bigint
);

CREATE TABLE aggregate_playlist (
    playlist_id  integer PRIMARY KEY,
    is_album     boolean,
    repost_count integer NOT NULL DEFAULT 0,
    save_count   integer NOT NULL DEFAULT 0
);
