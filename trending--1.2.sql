-- source: sql/header.sql
-- trending: install script. Generated from sql/ and extension/ by
-- tools/build_install_script.py (see the Makefile); edit the parts, not this file.
\echo Use "CREATE EXTENSION trending" to load this file. \quit

-- Nothing here may reference the source tables: pg_restore creates extensions
-- before it creates tables. A cycle checks the sources when it runs.

-- Every name below is schema-qualified; pin the path anyway so nothing planted
-- in another schema can capture an unqualified function or operator.
SET LOCAL search_path = pg_catalog, pg_temp;

-- source: sql/schema/10_types.sql
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

-- source: sql/schema/20_settings.sql
-- Settings: shipped defaults in a member table, user overrides in a config
-- table that pg_dump keeps (pg_extension_config_dump). CREATE EXTENSION inserts
-- only defaults, so a restore never collides with the dumped overrides. Users
-- read and edit the merged view trending.settings (see sql/triggers.sql).
CREATE TABLE trending._setting_defaults (
    name          text PRIMARY KEY,
    default_value text NOT NULL,
    description   text NOT NULL
);

INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('source_schema', 'public',
     'Schema that holds the source tables (tracks, plays, saves, reposts, users, playlists, aggregate_*).'),
    ('work_mem', '128MB',
     'work_mem for the duration of a cycle (hash aggregates over plays and engagements).'),
    ('lock_timeout', '5s',
     'Longest wait for any lock a cycle needs; past it the cycle fails cleanly (55P03) and the previous scores stay.'),
    ('parallel_workers', '2',
     'max_parallel_workers_per_gather for a cycle: more makes the inputs step faster, fewer leaves CPUs to the API''s reads (0: none).'),
    ('run_retention', '30 days',
     'How long trending.runs keeps finished runs; older ones are deleted when a run starts.'),
    ('stale_after', '2 hours',
     'trending.status reports the scores stale (and not healthy) when no cycle has succeeded for this long.'),
    ('movers_top_n', '100',
     'How many of the top of each list trending.movers() compares between the last two cycles (1 to 1000).'),
    ('reconcile_every', '1 day',
     'How long reconciling the whole incremental state with the sources takes: every cycle checks a share of it, records any drift in trending.runs and repairs it, and the cycle that completes the round is a reconcile (1 hour to 7 days).'),
    ('movers_max_genres', '50',
     'How many genres (those with the most scored tracks) get their own movers list per range (0 to 1000; 0: none).'),
    ('lease_idle_timeout', '10 minutes',
     'A cycle that runs no step for longer than this (its session idle, or busy with anything else; a recompute() left idle in transaction) loses the cycle lease to the next cycle, which records the break in trending.status (1 second to 1 day).'),
    ('capture_max_pause', '1 day',
     'How long the change capture records with no cycle consuming it (1 minute to 30 days); past it the triggers record nothing and the next cycle runs full.');

CREATE TABLE trending._setting_overrides (
    name       text        PRIMARY KEY REFERENCES trending._setting_defaults (name) ON DELETE CASCADE,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('trending._setting_overrides', '');

CREATE VIEW trending.settings AS
SELECT d.name,
       COALESCE(o.value, d.default_value) AS value,
       d.default_value,
       o.name IS NULL                     AS is_default,
       d.description
FROM trending._setting_defaults d
LEFT JOIN trending._setting_overrides o ON o.name = d.name;

-- source: sql/schema/30_strategies.sql
-- Strategies: the registered (type, version) pairs, each with its time ranges.
-- Same pattern as settings: shipped rows in a member table, the user's on/off
-- choices in a dumped config table, merged in the view trending.strategies
-- that a plain UPDATE switches (see sql/triggers.sql).
CREATE TABLE trending._strategy_defaults (
    type               text    NOT NULL,
    version            text    NOT NULL,
    kind               text    NOT NULL CHECK (kind IN ('track', 'playlist')),
    time_ranges        text[]  NOT NULL,
    enabled_by_default boolean NOT NULL,
    description        text    NOT NULL,
    PRIMARY KEY (type, version)
);

INSERT INTO trending._strategy_defaults
    (type, version, kind, time_ranges, enabled_by_default, description) VALUES
    ('TRACKS', 'pnagD', 'track', '{week,month,allTime}', true,
     'Tracks: plays, reposts, saves and totals, age decay, times follower karma.'),
    ('TRACKS', 'AnlGe', 'track', '{week,month,allTime}', false,
     'Tracks: as pnagD with a damped karma factor 1 + log10(1 + karma).'),
    ('UNDERGROUND_TRACKS', 'pnagD', 'track', '{week,month,allTime}', false,
     'Tracks: the pnagD formula stored under the UNDERGROUND_TRACKS type (compatibility rows).'),
    ('PLAYLISTS', 'pnagD', 'playlist', '{week,month,year}', true,
     'Playlists: windowed reposts and saves, totals, age decay, times windowed karma.');

CREATE TABLE trending._strategy_overrides (
    type       text        NOT NULL,
    version    text        NOT NULL,
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (type, version),
    FOREIGN KEY (type, version) REFERENCES trending._strategy_defaults (type, version) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('trending._strategy_overrides', '');

CREATE VIEW trending.strategies AS
SELECT d.type,
       d.version,
       COALESCE(o.enabled, d.enabled_by_default) AS enabled,
       d.kind,
       d.time_ranges,
       d.enabled_by_default,
       d.description
FROM trending._strategy_defaults d
LEFT JOIN trending._strategy_overrides o
       ON o.type = d.type AND o.version = d.version;

-- source: sql/schema/40_scores.sql
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

-- source: sql/schema/50_runs.sql
-- Run history: one row per cycle (see extension/trending_pl/runs.py).
-- A scheduled run commits its 'running' row first and its steps as they
-- finish, so a failure or a dead backend leaves a trace; recompute() writes
-- its row in the caller's transaction, so only its successes remain.
-- Pruned by the run_retention setting when a run starts. Not dumped: history.
CREATE TABLE trending.runs (
    run_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger       text        NOT NULL CHECK (trigger IN ('recompute', 'scheduled')),
    status        text        NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'aborted', 'skipped')),
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at   timestamptz,
    cycle_now     timestamptz NOT NULL,
    pid           integer     NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    run_by        name        NOT NULL DEFAULT CURRENT_USER,
    source_schema text,
    plan          jsonb,
    step_ms       jsonb       NOT NULL DEFAULT '{}',
    slice_rows    jsonb       NOT NULL DEFAULT '{}',
    bad_rows      jsonb       NOT NULL DEFAULT '{}',
    wal_start_lsn pg_lsn,
    wal_bytes     numeric,
    sqlstate      text,
    message       text,
    detail        text,
    hint          text,
    -- which kind of cycle ran and why (set by its check_sources step; NULL
    -- for a skipped call): every cycle is 'full' until incremental cycles
    -- exist, and the reason says what kept it from being incremental
    cycle_kind    text,
    cycle_reason  text
);
-- added after the primary key, as the upgrade from 1.0 adds it (same catalog)
ALTER TABLE trending.runs ADD CONSTRAINT runs_cycle_kind_check CHECK (cycle_kind IN ('full', 'incremental', 'reconcile'));
-- Incremental and reconciling cycles: how many items of each kind they
-- rescored (affected) and the drift their share of the reconciliation found
-- (items whose stored inputs differed from the sources', users' karma
-- weights, hourly play buckets that did; a reconciling run's: its round's).
ALTER TABLE trending.runs
    ADD COLUMN affected jsonb,
    ADD COLUMN drift jsonb;

CREATE INDEX runs_started_at_idx ON trending.runs (started_at);
CREATE INDEX runs_status_idx ON trending.runs (status, run_id);

-- source: sql/schema/55_cycle_lease.sql
-- The cycle lease (issue 17): which run holds the right to run a cycle, by
-- backend. One row, always there; free while run_id is NULL.
--
-- It lives in its own schema, trending_private, on which no role but the
-- extension's owner has USAGE: a role cannot even name the table, so no
-- statement of its own can lock it. (In a schema it may use, the parser
-- takes a lock on any relation a statement names before the privilege
-- check: a prepared INSERT holds ROW EXCLUSIVE until its transaction ends,
-- and a CREATE TRIGGER queued behind it blocks a SHARE UPDATE EXCLUSIVE
-- request. test/pytest/test_cycle_lease.py shows both fail here.) A few
-- functions lock a relation by OID before their privilege check
-- (brin_summarize_range takes SHARE UPDATE EXCLUSIVE on an index's table):
-- only for an instant, since they fail at once, so a cycle waits up to
-- 200 ms for the lock rather than giving up at once. No role has any
-- privilege on the table either. Only the SECURITY DEFINER
-- functions take the lease (trending._lease_take), renew it
-- (_run_step_done), check it (_own_run, _lease_held) and free it
-- (_run_finish, _run_fail). Mutual exclusion is two-fold:
--   - within a transaction, the table lock SHARE UPDATE EXCLUSIVE, which
--     conflicts with itself: recompute() holds it until its caller's commit,
--     each step of the scheduled procedure until the step's commit;
--   - between the scheduled procedure's transactions, the committed row: the
--     run, its backend (pid and backend_start, so a reused pid is not taken
--     for the holder) and its role, renewed at each step's end. A holder
--     whose backend is gone, or that ran no step for longer than the
--     lease_idle_timeout setting, loses it to the next cycle, which records
--     the break in broken_*.
-- autovacuum stays off: its SHARE UPDATE EXCLUSIVE would make a cycle's
-- NOWAIT fail, and the one row's updates are HOT (pruned in place).
-- Not dumped: CREATE EXTENSION recreates the schema and the free row.
CREATE SCHEMA trending_private;
CREATE TABLE trending_private.cycle_lease (
    one           boolean     PRIMARY KEY DEFAULT true CHECK (one),
    run_id        bigint,
    pid           integer,
    backend_start timestamptz,
    role          name,
    taken_at      timestamptz,
    taken_xact    xid8,
    renewed_at    timestamptz,
    broken_pid    integer,
    broken_role   name,
    broken_at     timestamptz,
    broken_reason text
) WITH (autovacuum_enabled = false);
INSERT INTO trending_private.cycle_lease DEFAULT VALUES;

-- source: sql/schema/80_capture.sql
-- Change capture (docs/incremental.md): statement-level AFTER triggers on the
-- service's source tables append the ids of what changed to the delta tables
-- below, in the writer's own transaction, so a delta row is visible exactly
-- when the change it describes is. Nothing here touches the source tables:
-- the triggers come only from trending.install_capture() (superuser).
--
-- Persistence: the delta tables, their sequence and the armed watermark are
-- UNLOGGED. The writers then add no WAL for the capture, and a crash restart,
-- a failover (a standby's unlogged tables are empty) or a restore (not
-- dumped) loses them all together: the armed row disappears with them, and
-- capture_status says a full cycle is needed, never a wrong incremental one.

-- One sequence orders every delta table, so one watermark covers them all.
-- CACHE 1: its last_value is the highest number drawn by any session, the
-- top of what is captured (capture_status.captured_upto). Which rows a cycle
-- consumes is decided by their writer's transaction (tx), not by seq: see
-- _capture_snapshot.
CREATE UNLOGGED SEQUENCE trending._capture_seq AS bigint CACHE 1;

-- What install_capture() set up and what the last full cycle verified, per
-- table. Dumped (pg_extension_config_dump): after a restore the relation
-- OIDs differ, so capture_status asks for a full cycle, which re-arms the
-- capture when the restored triggers are intact (no DBA step).
CREATE TABLE trending._capture_installed (
    source          smallint    PRIMARY KEY,  -- the code of the table (see trending._capture_catalog)
    source_schema   text        NOT NULL,
    relid           oid         NOT NULL,  -- the relation the triggers were put on
    installed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    installed_by    name        NOT NULL DEFAULT CURRENT_USER,
    -- set by _capture_arm: the relation, its storage and its triggers as a
    -- full cycle verified them; any difference later means a change may
    -- have escaped the triggers
    armed_relid     oid,
    armed_filenode  oid,
    armed_triggers  text,
    -- also set by _capture_arm (issue 16): what a cycle reads of the table
    -- (per column: number, type, enum labels) and its partitions (per
    -- partition: name, bound, kind, storage, triggers), as in
    -- trending._capture_catalog; the event trigger _capture_follow_ddl
    -- updates armed_partitions when it proves a partition change empty
    armed_columns    jsonb,
    armed_partitions jsonb
);
SELECT pg_catalog.pg_extension_config_dump('trending._capture_installed', '');

-- One row while the capture records: written only by _capture_snapshot,
-- _capture_arm (a full cycle) and _capture_advance (an incremental one),
-- never deleted by them (uninstall and a crash restart remove it).
-- Recording: the capture triggers record a write only while this row
-- exists and record_until is after the writer's transaction start.
-- Consuming: a cycle takes its snapshot S_now and consumes the delta rows
-- of the transactions visible in S_now and not in `snapshot` (pgq's
-- method): a writer's transaction still open stays for a later cycle and
-- is applied when it commits, whatever order the writers commit in.
CREATE UNLOGGED TABLE trending._capture_armed (
    one         boolean     PRIMARY KEY DEFAULT true CHECK (one),
    since       bigint      NOT NULL,  -- the watermark's number: +1 at every arm and advance (the state keeps it)
    fingerprint text        NOT NULL,
    armed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    advanced_at timestamptz NOT NULL DEFAULT pg_catalog.now(),  -- when a cycle last consumed the capture
    -- the triggers record nothing once this has passed (no cycle consumed
    -- the capture for longer than the capture_max_pause setting): the next
    -- cycle runs full
    record_until timestamptz NOT NULL DEFAULT 'infinity',
    -- the snapshot of the last cycle that consumed the capture: every delta
    -- row of a transaction visible in it is reflected in the state. NULL:
    -- recording but not armed (the next cycle runs full and arms it)
    snapshot    pg_snapshot,
    -- the snapshot of the cycle in progress (_capture_snapshot), which the
    -- cycle's arm or advance makes `snapshot`; NULL when it may not be armed
    next_snapshot pg_snapshot,
    -- every transaction that started after this records all its writes
    -- (NULL: recording (re)started and not yet seen by a cycle); a
    -- transaction of a source table's writer started before it may have
    -- written unrecorded, and holds back arming until it ends
    recording_from timestamptz
);

-- Delta tables: append-only for the writers (INSERT only), integers and
-- timestamps only, no index (a cycle reads them whole and prunes them).
-- One row per trigger firing, numbered by seq (drawn after the INSERT's
-- lock), with the ids as parallel arrays: one row costs the writer far less
-- than one row per id. The arrays are stored uncompressed (EXTERNAL; and
-- inline up to a page, toast_tuple_target): compressing an array of ids
-- costs more than the whole rest of the trigger.

-- Every source but plays: per statement, the rows inserted, deleted, or
-- updated (old and new versions), as the item (item_ids), its kind (kinds:
-- 1 track, 2 playlist; NULL when the source has one kind) and/or the user
-- (user_ids) each row names. Candidates: a cycle compares them with its
-- state. trending._capture_changed has them one per row.
CREATE UNLOGGED TABLE trending._capture_changes (
    seq      bigint     NOT NULL,
    source   smallint   NOT NULL,
    kinds    smallint[],
    item_ids bigint[],
    user_ids bigint[],
    tx       xid8       NOT NULL DEFAULT pg_catalog.pg_current_xact_id()  -- the writer's transaction
) WITH (toast_tuple_target = 8160);
ALTER TABLE trending._capture_changes
    ALTER COLUMN kinds SET STORAGE EXTERNAL,
    ALTER COLUMN item_ids SET STORAGE EXTERNAL,
    ALTER COLUMN user_ids SET STORAGE EXTERNAL;

-- plays: per statement, the play_item_id and created_at of the rows added
-- (n = 1) or removed (n = -1); an UPDATE appends both, or nothing when it
-- changed neither column. Late plays keep their own created_at.
-- trending._capture_play_hours buckets them by hour.
CREATE UNLOGGED TABLE trending._capture_plays (
    seq         bigint      NOT NULL,
    n           smallint    NOT NULL CHECK (n IN (1, -1)),
    item_ids    bigint[]    NOT NULL,
    created_ats timestamp[] NOT NULL,
    tx          xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id()  -- the writer's transaction
) WITH (toast_tuple_target = 8160);
ALTER TABLE trending._capture_plays
    ALTER COLUMN item_ids SET STORAGE EXTERNAL,
    ALTER COLUMN created_ats SET STORAGE EXTERNAL;

-- TRUNCATE of a source table: the next cycle must run full.
CREATE UNLOGGED TABLE trending._capture_truncates (
    seq         bigint      NOT NULL,
    source      smallint    NOT NULL,
    truncated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    tx          xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id()  -- the writer's transaction
);

-- source: sql/schema/81_capture_views.sql
-- Change capture, the views over the catalog (docs/incremental.md): what
-- the catalog says of each source table next to what the last full cycle
-- verified, and whether the next cycle may be incremental. Views only, so
-- that an upgrade replaces them in place (Makefile VIEW_PARTS).

-- The delta rows one id per row, for a cycle, which takes those of the
-- transactions (tx) visible in its snapshot and not in the last cycle's.
-- kind: 1 track, 2 playlist (from the source when it has one kind).
CREATE VIEW trending._capture_changed AS
SELECT c.seq, c.source,
       COALESCE(u.kind, CASE WHEN c.source IN (1, 7, 8) THEN 1 WHEN c.source IN (9, 10) THEN 2 END)::smallint AS kind,
       u.item_id, u.user_id, c.tx
FROM trending._capture_changes c
CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(c.kinds), pg_catalog.unnest(c.item_ids), pg_catalog.unnest(c.user_ids))
    AS u (kind, item_id, user_id);

-- plays per (statement, item, hour of created_at), net of removals
CREATE VIEW trending._capture_play_hours AS
SELECT p.seq, u.item_id, pg_catalog.date_trunc('hour', u.created_at) AS hour, pg_catalog.sum(p.n)::bigint AS n,
       p.tx
FROM trending._capture_plays p
CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(p.item_ids), pg_catalog.unnest(p.created_ats))
    AS u (item_id, created_at)
GROUP BY p.seq, p.tx, u.item_id, pg_catalog.date_trunc('hour', u.created_at);

-- What a cycle reads of each source table (extension/trending_pl/sources.py
-- REQUIRED_COLUMNS; test_capture_ddl.py checks they agree): the column, the
-- types accepted (pg_catalog names), and for an enum column the labels it
-- must have. The capture fingerprints these columns, and its triggers stay
-- only on tables where every one of them exists with an accepted type
-- (_capture_catalog.readable; _capture_follow_ddl).
CREATE VIEW trending._capture_read_columns AS
SELECT v.source, v.column_name, v.type_names, v.enum_labels
FROM (VALUES
    (1::smallint, 'track_id', '{int2,int4,int8}'::text[], NULL::text[]),
    (1::smallint, 'owner_id', '{int2,int4,int8}', NULL), (1::smallint, 'genre', '{text,varchar,bpchar}', NULL),
    (1::smallint, 'created_at', '{timestamp}', NULL), (1::smallint, 'release_date', '{timestamp}', NULL),
    (1::smallint, 'is_current', '{bool}', NULL), (1::smallint, 'is_delete', '{bool}', NULL),
    (1::smallint, 'is_unlisted', '{bool}', NULL), (1::smallint, 'stem_of', '{jsonb}', NULL),
    (2::smallint, 'play_item_id', '{int2,int4,int8}', NULL), (2::smallint, 'created_at', '{timestamp}', NULL),
    (3::smallint, 'user_id', '{int2,int4,int8}', NULL), (3::smallint, 'save_item_id', '{int2,int4,int8}', NULL),
    (3::smallint, 'save_type', NULL, '{track,playlist}'), (3::smallint, 'is_current', '{bool}', NULL),
    (3::smallint, 'is_delete', '{bool}', NULL), (3::smallint, 'created_at', '{timestamp}', NULL),
    (4::smallint, 'user_id', '{int2,int4,int8}', NULL), (4::smallint, 'repost_item_id', '{int2,int4,int8}', NULL),
    (4::smallint, 'repost_type', NULL, '{track,playlist}'), (4::smallint, 'is_current', '{bool}', NULL),
    (4::smallint, 'is_delete', '{bool}', NULL), (4::smallint, 'created_at', '{timestamp}', NULL),
    (5::smallint, 'user_id', '{int2,int4,int8}', NULL), (5::smallint, 'is_current', '{bool}', NULL),
    (5::smallint, 'cover_photo', '{text,varchar,bpchar}', NULL),
    (5::smallint, 'cover_photo_sizes', '{text,varchar,bpchar}', NULL),
    (5::smallint, 'profile_picture', '{text,varchar,bpchar}', NULL),
    (5::smallint, 'profile_picture_sizes', '{text,varchar,bpchar}', NULL),
    (5::smallint, 'bio', '{text,varchar,bpchar}', NULL),
    (6::smallint, 'user_id', '{int2,int4,int8}', NULL), (6::smallint, 'follower_count', '{int2,int4,int8}', NULL),
    (6::smallint, 'following_count', '{int2,int4,int8}', NULL),
    (7::smallint, 'track_id', '{int2,int4,int8}', NULL), (7::smallint, 'repost_count', '{int2,int4,int8}', NULL),
    (7::smallint, 'save_count', '{int2,int4,int8}', NULL),
    (8::smallint, 'play_item_id', '{int2,int4,int8}', NULL), (8::smallint, 'count', '{int2,int4,int8}', NULL),
    (9::smallint, 'playlist_id', '{int2,int4,int8}', NULL), (9::smallint, 'repost_count', '{int2,int4,int8}', NULL),
    (9::smallint, 'save_count', '{int2,int4,int8}', NULL),
    (10::smallint, 'playlist_id', '{int2,int4,int8}', NULL), (10::smallint, 'playlist_owner_id', '{int2,int4,int8}', NULL),
    (10::smallint, 'is_current', '{bool}', NULL), (10::smallint, 'is_delete', '{bool}', NULL),
    (10::smallint, 'is_private', '{bool}', NULL), (10::smallint, 'playlist_contents', '{jsonb}', NULL),
    (10::smallint, 'created_at', '{timestamp}', NULL), (10::smallint, 'release_date', '{timestamp}', NULL)
) AS v (source, column_name, type_names, enum_labels);

-- Per source table: what the catalog says now, next to what was installed
-- and armed, and the first reason (if any) the capture cannot be trusted.
-- The capture triggers are the ones calling trending._capture_<table>(). A
-- partitioned source carries them on itself and on every partition, at
-- every level: a statement trigger fires only for the table a statement
-- names, so a write through the parent and one straight into a partition
-- are each captured once. What is compared with the last full cycle
-- (issue 16): the relation, its storage, its triggers, each column a cycle
-- reads (number, type, enum labels: a rename, a drop and re-add, a retype,
-- an enum label renamed or added all change it) and the partitions (name,
-- bound, kind, storage, triggers of each).
CREATE VIEW trending._capture_catalog AS
WITH setting AS (
    SELECT s.value AS source_schema FROM trending.settings s WHERE s.name = 'source_schema'
), sources (source, table_name) AS (
    -- the code stored in the delta tables for each source table
    -- (extension/trending_pl/capture.py SOURCES); VALUES, so that the
    -- planner knows there are ten (a misestimate here made it JIT-compile
    -- this small catalog query for seconds)
    VALUES (1::smallint, 'tracks'), (2::smallint, 'plays'), (3::smallint, 'saves'), (4::smallint, 'reposts'),
           (5::smallint, 'users'), (6::smallint, 'aggregate_user'), (7::smallint, 'aggregate_track'),
           (8::smallint, 'aggregate_plays'), (9::smallint, 'aggregate_playlist'), (10::smallint, 'playlists')
), t AS (
    SELECT src.source, src.table_name, st.source_schema,
           pg_catalog.to_regclass(pg_catalog.format('%I.%I', st.source_schema, src.table_name))::oid AS relid,
           (SELECT p.oid FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'trending'::pg_catalog.regnamespace
              AND p.proname = '_capture_' || src.table_name AND p.pronargs = 0) AS funcid,
           i.source IS NOT NULL AS installed, i.source_schema AS installed_schema, i.relid AS installed_relid,
           i.installed_at, i.armed_relid, i.armed_filenode, i.armed_triggers, i.armed_columns, i.armed_partitions
    FROM sources src
    CROSS JOIN setting st
    LEFT JOIN trending._capture_installed i ON i.source = src.source
), rels AS (
    -- the relations that must carry the capture triggers: the table (level
    -- 0, NULL when it does not exist) and every partition under it
    SELECT t.source, t.relid, 0 AS level FROM t
    UNION ALL
    SELECT t.source, p.relid::oid, p.level
    FROM t CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.relid::pg_catalog.regclass) p
    WHERE p.level > 0
), expected (tgname, tgtype, oldtable, newtable) AS (
    VALUES ('trending_capture_insert', 4::smallint, NULL, 'capture_new'),
           ('trending_capture_update', 16::smallint, 'capture_old', 'capture_new'),
           ('trending_capture_delete', 8::smallint, 'capture_old', NULL),
           ('trending_capture_truncate', 32::smallint, NULL, NULL)
), trig AS (
    -- every expected trigger of every relation, with what the catalog has under its name
    SELECT r.source, r.relid, r.level, e.tgname, g.oid AS tgoid, g.xmin::text AS tgxmin, g.tgenabled,
           g.oid IS NOT NULL AS present,
           g.tgfoid = t.funcid AND g.tgtype = e.tgtype AND g.tgnargs = 0
               AND g.tgqual IS NULL AND COALESCE(pg_catalog.cardinality(g.tgattr::smallint[]), 0) = 0
               AND g.tgoldtable IS NOT DISTINCT FROM e.oldtable
               AND g.tgnewtable IS NOT DISTINCT FROM e.newtable AS shaped
    FROM rels r
    JOIN t ON t.source = r.source
    CROSS JOIN expected e
    LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = r.relid AND g.tgname = e.tgname
), rel_agg AS (
    SELECT tr.source, tr.relid, tr.level,
           pg_catalog.string_agg(pg_catalog.format('%s:%s:%s:%s', tr.tgname, tr.tgoid, tr.tgxmin, tr.tgenabled),
                                 ',' ORDER BY tr.tgname) FILTER (WHERE tr.present) AS triggers,
           pg_catalog.string_agg(tr.tgname, ', ' ORDER BY tr.tgname) FILTER (WHERE NOT tr.present) AS missing,
           pg_catalog.string_agg(tr.tgname, ', ' ORDER BY tr.tgname)
               FILTER (WHERE tr.present AND NOT tr.shaped) AS misshaped,
           pg_catalog.string_agg(tr.tgname, ', ' ORDER BY tr.tgname)
               FILTER (WHERE tr.present AND tr.shaped AND tr.tgenabled <> 'A') AS disabled
    FROM trig tr
    GROUP BY tr.source, tr.relid, tr.level
), parts AS (
    -- per source: its partitions as the fingerprint keeps them, and those
    -- that do not carry the capture triggers as they should
    SELECT ra.source,
           pg_catalog.jsonb_object_agg(ra.relid::text, pg_catalog.format('%s|%s|%s|%s|%s',
               ra.name, pg_catalog.pg_get_expr(c.relpartbound, c.oid),
               c.relkind, c.relfilenode, ra.triggers)) AS partitions,
           pg_catalog.string_agg(ra.name, ', ' ORDER BY ra.name)
               FILTER (WHERE c.relkind NOT IN ('r', 'p')) AS not_tables,
           pg_catalog.string_agg(ra.name, ', ' ORDER BY ra.name)
               FILTER (WHERE c.relkind IN ('r', 'p') AND ra.triggers IS NULL) AS bare,
           pg_catalog.string_agg(ra.name, ', ' ORDER BY ra.name)
               FILTER (WHERE c.relkind IN ('r', 'p') AND ra.triggers IS NOT NULL
                       AND (ra.missing IS NOT NULL OR ra.misshaped IS NOT NULL OR ra.disabled IS NOT NULL)) AS broken
    FROM (SELECT a.*, (SELECT pg_catalog.format('%I.%I', n.nspname::text, k.relname::text) COLLATE pg_catalog."default"
                       FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
                       WHERE k.oid = a.relid) AS name
          FROM rel_agg a WHERE a.level > 0) ra
    JOIN pg_catalog.pg_class c ON c.oid = ra.relid
    GROUP BY ra.source
), cols AS (
    -- per source: each column a cycle reads as the catalog has it now
    -- (number/type/enum labels; '' when it is gone), and whether the
    -- capture triggers can read them all (each of an accepted type)
    SELECT t.source,
           pg_catalog.jsonb_object_agg(rc.column_name, pg_catalog.concat_ws('/', a.attnum, a.atttypid,
               (SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s:%s', e.oid, e.enumsortorder, e.enumlabel),
                                             ',' ORDER BY e.enumsortorder)
                FROM pg_catalog.pg_enum e WHERE e.enumtypid = a.atttypid))) AS columns,
           pg_catalog.bool_and(a.attnum IS NOT NULL AND CASE
               WHEN rc.enum_labels IS NOT NULL THEN ty.typtype = 'e' AND rc.enum_labels OPERATOR(pg_catalog.<@)
                   ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = ty.oid)
               ELSE ty.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
                   AND ty.typname::text OPERATOR(pg_catalog.=) ANY (rc.type_names)
           END) AS readable
    FROM t
    JOIN trending._capture_read_columns rc ON rc.source = t.source
    LEFT JOIN pg_catalog.pg_attribute a
        ON a.attrelid = t.relid AND a.attname = rc.column_name AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
    GROUP BY t.source
), facts AS (
    SELECT t.*, c.relkind, c.relfilenode,
           -- inheritance children (not partitions): writes to them bypass the capture
           EXISTS (SELECT FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class k ON k.oid = h.inhrelid
                   WHERE h.inhparent = t.relid AND NOT k.relispartition) AS has_children,
           a.triggers, a.missing, a.misshaped, a.disabled,
           p.partitions, p.not_tables, p.bare, p.broken, cl.columns, cl.readable,
           -- capture triggers on relations that are neither the table nor
           -- one of its partitions (a renamed or detached table keeps them)
           (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger g
            WHERE g.tgfoid = t.funcid
              AND NOT EXISTS (SELECT FROM rels r WHERE r.source = t.source AND r.relid = g.tgrelid)) AS elsewhere
    FROM t
    JOIN rel_agg a ON a.source = t.source AND a.level = 0
    JOIN cols cl ON cl.source = t.source
    LEFT JOIN parts p ON p.source = t.source
    LEFT JOIN pg_catalog.pg_class c ON c.oid = t.relid
)
SELECT f.source, f.table_name, f.source_schema, f.relid, f.relfilenode, f.triggers,
       f.installed, f.installed_at, f.armed_relid,
       CASE
           WHEN NOT f.installed THEN
               pg_catalog.format('the capture is not installed on %I.%I', f.source_schema, f.table_name)
           WHEN f.installed_schema <> f.source_schema THEN
               pg_catalog.format('source_schema is %I but the capture was installed on schema %I',
                                 f.source_schema, f.installed_schema)
           WHEN f.relid IS NULL THEN
               pg_catalog.format('table %I.%I does not exist', f.source_schema, f.table_name)
           WHEN f.relkind NOT IN ('r', 'p') THEN
               pg_catalog.format('%I.%I is not a plain or partitioned table', f.source_schema, f.table_name)
           WHEN f.has_children THEN
               pg_catalog.format('%I.%I has inheritance children: writes to them bypass the capture',
                                 f.source_schema, f.table_name)
           WHEN f.not_tables IS NOT NULL THEN
               pg_catalog.format('%I.%I has partitions that cannot carry the capture triggers (not plain tables): %s',
                                 f.source_schema, f.table_name, f.not_tables)
           WHEN f.triggers IS NULL AND NOT f.readable THEN
               pg_catalog.format('%I.%I has no capture triggers: a column a cycle reads is gone or of a type the capture does not read',
                                 f.source_schema, f.table_name)
           WHEN f.missing IS NOT NULL THEN
               pg_catalog.format('capture trigger(s) %s missing on %I.%I', f.missing, f.source_schema, f.table_name)
           WHEN f.misshaped IS NOT NULL THEN
               pg_catalog.format('capture trigger(s) %s on %I.%I were replaced by others of the same name',
                                 f.misshaped, f.source_schema, f.table_name)
           WHEN f.disabled IS NOT NULL THEN
               pg_catalog.format('capture trigger(s) %s on %I.%I are disabled (they must be ENABLE ALWAYS)',
                                 f.disabled, f.source_schema, f.table_name)
           WHEN f.bare IS NOT NULL THEN
               pg_catalog.format('%s has no capture triggers: run SELECT trending.install_capture()', f.bare)
           WHEN f.broken IS NOT NULL THEN
               pg_catalog.format('capture triggers on %s are missing, replaced or disabled: run SELECT trending.install_capture()',
                                 f.broken)
           -- their writes would be counted as writes to the source table
           WHEN f.elsewhere > 0 THEN
               pg_catalog.format('capture triggers of %I.%I are also on %s relation(s) that are neither it nor its partitions (renamed, moved or detached): run SELECT trending.install_capture()',
                                 f.source_schema, f.table_name, f.elsewhere)
       END AS problem,
       -- reasons for a full cycle that a full cycle itself clears (_capture_arm
       -- re-arms when the triggers are intact, e.g. after a restore; a table
       -- swapped by its owner has no capture triggers: a problem above)
       CASE
           WHEN NOT f.installed THEN NULL
           WHEN f.relid IS DISTINCT FROM COALESCE(f.armed_relid, f.installed_relid) THEN
               pg_catalog.format('%I.%I was replaced since the capture was %s (relation OID changed: renamed, moved to another schema, or dropped and created)',
                                 f.source_schema, f.table_name,
                                 CASE WHEN f.armed_relid IS NULL THEN 'installed' ELSE 'last armed by a full cycle' END)
           WHEN f.armed_relid IS NULL THEN NULL  -- never armed: said by capture_status
           WHEN f.armed_columns IS NULL THEN
               pg_catalog.format('%I.%I: the columns a cycle reads were not recorded when the capture was armed (by 1.1)',
                                 f.source_schema, f.table_name)
           WHEN f.columns IS DISTINCT FROM f.armed_columns THEN
               pg_catalog.format('%I.%I: column %s changed (renamed, dropped, retyped or re-added, or its enum labels renamed or added) since the last full cycle',
                                 f.source_schema, f.table_name,
                                 (SELECT pg_catalog.string_agg(k.key, ', ' ORDER BY k.key)
                                  FROM pg_catalog.jsonb_each_text(f.columns) k
                                  WHERE k.value IS DISTINCT FROM f.armed_columns OPERATOR(pg_catalog.->>) k.key))
           WHEN f.partitions IS DISTINCT FROM f.armed_partitions THEN
               pg_catalog.format('%I.%I: its partitions changed since the last full cycle (attached, detached, created, dropped or rewritten): %s',
                                 f.source_schema, f.table_name,
                                 (SELECT pg_catalog.string_agg(d.what, ', ' ORDER BY d.what)
                                  FROM (SELECT CASE WHEN o.value IS NULL THEN pg_catalog.split_part(n.value, '|', 1) || ' added'
                                                    WHEN n.value IS NULL THEN pg_catalog.split_part(o.value, '|', 1) || ' removed'
                                                    ELSE pg_catalog.split_part(n.value, '|', 1) || ' changed' END AS what
                                        FROM pg_catalog.jsonb_each_text(COALESCE(f.partitions, '{}')) n
                                        FULL JOIN pg_catalog.jsonb_each_text(COALESCE(f.armed_partitions, '{}')) o
                                            ON o.key = n.key
                                        WHERE n.value IS DISTINCT FROM o.value) d))
           WHEN f.relfilenode IS DISTINCT FROM f.armed_filenode THEN
               pg_catalog.format('%I.%I was rewritten since the last full cycle (TRUNCATE, VACUUM FULL, CLUSTER or ALTER TABLE: rows can change without firing triggers)',
                                 f.source_schema, f.table_name)
           WHEN f.triggers IS DISTINCT FROM f.armed_triggers THEN
               pg_catalog.format('capture triggers on %I.%I were altered since the last full cycle (disabled, dropped or re-created)',
                                 f.source_schema, f.table_name)
       END AS drift,
       f.elsewhere,
       f.installed_schema, f.columns, f.partitions, f.readable
FROM facts f;

-- One row: the capture's backlog against its bound, from its own tables
-- only (no catalog), so that trending.status can show it cheaply: the ids
-- and plays not yet consumed (of transactions not visible in the last
-- consuming cycle's snapshot; all of them when not armed), how long since
-- a cycle consumed it, the bound (capture_max_pause), until when and
-- whether it records, and the open or prepared transactions that wrote
-- delta rows not yet committed (pg_locks and pg_prepared_xacts are
-- readable by every role).
CREATE VIEW trending._capture_backlog AS
WITH armed AS (
    SELECT a.advanced_at, a.record_until, a.snapshot FROM trending._capture_armed a
), held AS (
    SELECT pg_catalog.array_agg(DISTINCT CASE
               WHEN l.pid IS NOT NULL THEN 'pid ' || l.pid::text
               -- a prepared transaction's locks have no pid and keep its
               -- virtual transaction, whose transactionid lock names its xid
               ELSE pg_catalog.format('prepared transaction %L', COALESCE(
                   (SELECT px.gid FROM pg_catalog.pg_locks x
                    JOIN pg_catalog.pg_prepared_xacts px ON px.transaction = x.transactionid
                    WHERE x.locktype = 'transactionid' AND x.pid IS NULL
                      AND x.virtualtransaction = l.virtualtransaction LIMIT 1),
                   l.virtualtransaction)) END) AS list
    FROM pg_catalog.pg_locks l
    WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'RowExclusiveLock'
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
      AND l.relation = ANY (ARRAY['trending._capture_changes'::pg_catalog.regclass,
                                  'trending._capture_plays'::pg_catalog.regclass,
                                  'trending._capture_truncates'::pg_catalog.regclass]::oid[])
      AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
)
SELECT (SELECT COALESCE(pg_catalog.sum(pg_catalog.cardinality(COALESCE(d.item_ids, d.user_ids))), 0)
        FROM trending._capture_changes d
        WHERE NOT COALESCE(pg_catalog.pg_visible_in_snapshot(d.tx, (SELECT armed.snapshot FROM armed)), false))
           AS pending_changes,
       (SELECT COALESCE(pg_catalog.sum(pg_catalog.cardinality(d.item_ids)), 0)
        FROM trending._capture_plays d
        WHERE NOT COALESCE(pg_catalog.pg_visible_in_snapshot(d.tx, (SELECT armed.snapshot FROM armed)), false))
           AS pending_plays,
       pg_catalog.now() - (SELECT armed.advanced_at FROM armed)          AS unconsumed_for,
       (SELECT s.value::pg_catalog.interval FROM trending.settings s
        WHERE s.name = 'capture_max_pause')                              AS max_pause,
       (SELECT armed.record_until FROM armed)                            AS record_until,
       EXISTS (SELECT FROM armed WHERE armed.record_until > pg_catalog.now()) AS recording,
       COALESCE(held.list, '{}')                                         AS held_by
FROM held;

-- One row: is the capture installed, recording and armed, may the next
-- cycle be incremental, and if not why; how much is waiting to be consumed,
-- for how long, and which open transactions hold changes back.
CREATE VIEW trending.capture_status AS
WITH cat AS (
    SELECT * FROM trending._capture_catalog
), armed AS (
    SELECT a.since, a.fingerprint, a.armed_at, a.advanced_at, a.record_until, a.snapshot, a.recording_from
    FROM trending._capture_armed a
), fp AS (
    SELECT pg_catalog.md5(pg_catalog.string_agg(
               pg_catalog.format('%s=%s/%s/%s/%s/%s', c.source, c.relid, c.relfilenode, c.triggers, c.columns,
                                 c.partitions), ';' ORDER BY c.source))
           AS fingerprint
    FROM cat c
), truncated AS (
    -- every delta row not yet consumed: of a transaction not visible in the
    -- last consuming cycle's snapshot (all of them when not armed)
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%I.%I', c.source_schema, c.table_name), ', ') AS tables
    FROM trending._capture_truncates x
    JOIN cat c ON c.source = x.source
    WHERE NOT COALESCE(pg_catalog.pg_visible_in_snapshot(x.tx, (SELECT armed.snapshot FROM armed)), false)
), backlog AS (
    SELECT * FROM trending._capture_backlog
), reasons AS (
    SELECT pg_catalog.array_agg(r ORDER BY o) AS list
    FROM (
        SELECT 1 AS o, 'the capture is not installed: a superuser runs SELECT trending.install_capture()' AS r
        WHERE NOT EXISTS (SELECT FROM cat WHERE cat.installed)
        UNION ALL
        SELECT 2, c.problem FROM cat c
        WHERE c.problem IS NOT NULL AND EXISTS (SELECT FROM cat WHERE cat.installed)
        UNION ALL
        SELECT 3, c.drift FROM cat c WHERE c.drift IS NOT NULL
        UNION ALL
        SELECT 4, 'a source table was truncated since the last cycle: ' || truncated.tables
        FROM truncated WHERE truncated.tables IS NOT NULL
        UNION ALL
        SELECT 5, 'the capture is not recording: no cycle since it was installed, or its unlogged state was lost (crash restart, failover or restore); a full cycle starts it, the cycle after arms it'
        WHERE NOT EXISTS (SELECT FROM armed) AND EXISTS (SELECT FROM cat WHERE cat.installed)
        UNION ALL
        SELECT 5, pg_catalog.format('the capture stopped recording at %s because no cycle consumed it for longer than %s (capture_max_pause): writes since then may be unrecorded',
                                    armed.record_until, armed.record_until - armed.advanced_at)
        FROM armed WHERE armed.record_until <= pg_catalog.now()
        UNION ALL
        SELECT 6, 'the capture is not armed: a full cycle arms it'
        FROM armed WHERE armed.snapshot IS NULL AND armed.record_until > pg_catalog.now()
        UNION ALL
        SELECT 7, 'the capture''s catalog fingerprint changed since the last cycle'
        WHERE EXISTS (SELECT FROM armed) AND (SELECT armed.fingerprint FROM armed) <> (SELECT fp.fingerprint FROM fp)
          AND NOT EXISTS (SELECT FROM cat c WHERE c.problem IS NOT NULL OR c.drift IS NOT NULL)
    ) x (o, r)
)
SELECT EXISTS (SELECT FROM cat WHERE cat.installed)            AS installed,
       (SELECT pg_catalog.min(c.installed_at) FROM cat c)       AS installed_at,
       (SELECT pg_catalog.min(c.source_schema) FROM cat c)      AS source_schema,
       EXISTS (SELECT FROM armed WHERE armed.snapshot IS NOT NULL) AS armed,
       reasons.list IS NULL                                     AS incremental_ok,
       reasons.list[1]                                          AS full_cycle_reason,
       COALESCE(reasons.list, '{}')                             AS full_cycle_reasons,
       (SELECT armed.since FROM armed WHERE armed.snapshot IS NOT NULL) AS consumed_upto,
       (SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END FROM trending._capture_seq q) AS captured_upto,
       backlog.pending_changes                                  AS pending_changes,
       backlog.pending_plays                                    AS pending_plays,
       (SELECT armed.armed_at FROM armed WHERE armed.snapshot IS NOT NULL) AS armed_at,
       (SELECT armed.advanced_at FROM armed)                    AS advanced_at,
       (SELECT pg_catalog.count(*) FROM cat c WHERE c.triggers IS NOT NULL) AS tables_with_triggers,
       fp.fingerprint                                           AS fingerprint,
       -- tables and partitions the capture does not cover (issue 16):
       -- doctor fails on them; a superuser's install_capture() fixes them
       (SELECT COALESCE(pg_catalog.array_agg(c.problem ORDER BY c.source), '{}') FROM cat c
        WHERE c.problem IS NOT NULL AND c.installed)            AS not_covered,
       backlog.recording                                        AS recording,
       backlog.record_until                                     AS record_until,
       backlog.max_pause                                        AS max_pause,
       backlog.unconsumed_for                                   AS unconsumed_for,
       backlog.held_by                                          AS held_by
FROM fp, backlog, reasons;

-- source: sql/schema/85_state.sql
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

-- source: sql/schema/86_status.sql
-- _cycle_holder: the cycle holding the lease now, if any, and the last
-- broken lease (sql/schema/55_cycle_lease.sql). SECURITY DEFINER, because
-- telling a live holder from a reused pid needs pg_stat_activity's
-- backend_start and state of every role's sessions, which only a superuser
-- or pg_read_all_stats sees; it returns nothing else. Defined here, before
-- the view that reads it.
--   a backend holding the lease's table lock: a cycle transaction
--     (recompute(), or one step of the scheduled procedure);
--   else the committed lease row, if its backend is alive (same pid and
--     backend_start): a scheduled run between steps, or one left idle
--     (it keeps the lease until lease_idle_timeout, then the next cycle
--     breaks it).
CREATE FUNCTION trending._cycle_holder()
RETURNS TABLE (pid integer, run_id bigint, role name, since timestamptz,
               broken_pid integer, broken_role name, broken_at timestamptz, broken_reason text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_lease record;
BEGIN
    SELECT * INTO v_lease FROM trending_private.cycle_lease;
    SELECT l.pid, pg_catalog.pg_get_userbyid(a.usesysid) AS usename, a.xact_start INTO pid, role, since
    FROM pg_catalog.pg_locks l
    JOIN pg_catalog.pg_stat_get_activity(l.pid) a ON true
    WHERE l.locktype = 'relation' AND l.relation = 'trending_private.cycle_lease'::pg_catalog.regclass
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
      AND l.mode = 'ShareUpdateExclusiveLock' AND l.granted
    LIMIT 1;
    IF pid IS NULL AND v_lease.run_id IS NOT NULL
       AND EXISTS (SELECT FROM pg_catalog.pg_stat_get_activity(v_lease.pid) a
                   WHERE a.backend_start = v_lease.backend_start) THEN
        pid := v_lease.pid;
    END IF;
    IF pid IS NOT NULL AND pid = v_lease.pid THEN
        run_id := v_lease.run_id;
        role := v_lease.role;
        since := v_lease.taken_at;
    END IF;
    broken_pid := v_lease.broken_pid;
    broken_role := v_lease.broken_role;
    broken_at := v_lease.broken_at;
    broken_reason := v_lease.broken_reason;
    RETURN NEXT;
END;
$function$;

-- One row that answers "are the scores fresh, did anything fail, is a cycle
-- running now?". A running cycle is the one holding the cycle lease
-- (trending._cycle_holder above), since recompute()'s run row is invisible to
-- other sessions until it commits.
--
-- stale: the scores are older than the stale_after setting: the now of the
-- last successful run (not when it finished: a cycle at a past now does not
-- make them fresh) against the wall clock; or there are none.
-- healthy: not stale, and the last run that finished neither failed nor was
-- aborted. A running or skipped run changes neither: a skip is not a fault
-- (only a cycle can make another skip), and a run in progress has not
-- finished yet. unhealthy_reason says why not (NULL when healthy): the
-- failure, or how stale, with the skips since the last success and who
-- they named.
-- last_cycle_kind, last_cycle_reason: of the last successful run (full or
-- incremental, and why). The change capture's own state is
-- trending.capture_status (created before this view); capture_*: its backlog, for monitoring (NULL
-- when the capture is not installed): the changed ids and plays waiting to
-- be consumed, how long since a cycle last consumed it, its bound (the
-- capture_max_pause setting: past it the triggers stop recording and the
-- next cycle runs full), whether it records, and the open or prepared
-- transactions whose captured changes wait for their commit.
-- lease_broken_*: the last cycle lease broken (its holder idle for longer
-- than lease_idle_timeout, or gone), by pid and role, when and why.
CREATE VIEW trending.status AS
WITH last_ok AS (
    SELECT r.run_id, r.finished_at, r.cycle_now, r.trigger, r.cycle_kind, r.cycle_reason,
           pg_catalog.round(EXTRACT(epoch FROM r.finished_at - r.started_at)::numeric, 1) AS seconds
    FROM trending.runs r WHERE r.status = 'ok' ORDER BY r.run_id DESC LIMIT 1
), last_reconcile AS (
    SELECT r.finished_at, r.drift
    FROM trending.runs r WHERE r.status = 'ok' AND r.cycle_kind = 'reconcile' ORDER BY r.run_id DESC LIMIT 1
), last_failure AS (
    SELECT r.run_id, r.status, r.finished_at, r.sqlstate, r.message
    FROM trending.runs r WHERE r.status IN ('failed', 'aborted') ORDER BY r.run_id DESC LIMIT 1
), last_finished AS (
    SELECT r.status
    FROM trending.runs r WHERE r.status IN ('ok', 'failed', 'aborted') ORDER BY r.run_id DESC LIMIT 1
), stale_after AS (
    SELECT s.value::interval AS value FROM trending.settings s WHERE s.name = 'stale_after'
), running AS (
    SELECT h.* FROM trending._cycle_holder() h
), skips AS (
    -- the skipped calls since the last success, and the last one's message
    SELECT pg_catalog.count(*) AS n,
           (pg_catalog.array_agg(r.message ORDER BY r.run_id DESC))[1] AS last_message
    FROM trending.runs r
    WHERE r.status = 'skipped' AND r.run_id > COALESCE((SELECT last_ok.run_id FROM last_ok), 0)
), capture AS (
    -- the backlog alone (trending._capture_backlog reads no catalog; the
    -- capture's full state is trending.capture_status)
    SELECT b.pending_changes, b.pending_plays, b.unconsumed_for, b.max_pause, b.recording, b.held_by
    FROM trending._capture_backlog b WHERE EXISTS (SELECT FROM trending._capture_installed)
), freshness AS (
    SELECT COALESCE(last_ok.cycle_now < pg_catalog.now() - stale_after.value, true) AS stale
    FROM stale_after LEFT JOIN last_ok ON true
)
SELECT last_ok.finished_at                         AS last_success_at,
       last_ok.run_id                              AS last_success_run_id,
       last_ok.seconds                             AS last_success_seconds,
       last_ok.cycle_now                           AS scores_as_of,
       pg_catalog.now() - last_ok.cycle_now        AS scores_age,
       last_failure.finished_at                    AS last_failure_at,
       last_failure.run_id                         AS last_failure_run_id,
       last_failure.status                         AS last_failure_status,
       last_failure.sqlstate                       AS last_failure_sqlstate,
       last_failure.message                        AS last_failure_message,
       running.pid                                 AS running_pid,
       running.since                               AS running_since,
       freshness.stale                             AS stale,
       NOT freshness.stale AND COALESCE(last_finished.status = 'ok', false) AS healthy,
       stale_after.value                           AS stale_after,
       last_ok.cycle_kind                          AS last_cycle_kind,
       last_ok.cycle_reason                        AS last_cycle_reason,
       last_reconcile.finished_at                  AS last_reconcile_at,
       last_reconcile.drift                        AS last_reconcile_drift,
       EXISTS (SELECT FROM pg_catalog.jsonb_each_text(last_reconcile.drift) AS d(key, value)
               WHERE d.value::numeric <> 0)        AS drift_found,
       CASE WHEN freshness.stale OR COALESCE(last_finished.status <> 'ok', true) THEN
           pg_catalog.concat_ws('; ',
               CASE WHEN last_finished.status IN ('failed', 'aborted') THEN
                   pg_catalog.format('the last finished run (%s) %s: %s', last_failure.run_id, last_failure.status,
                                     pg_catalog.concat_ws(': ', last_failure.sqlstate, last_failure.message)) END,
               CASE WHEN last_ok.run_id IS NULL THEN 'no cycle has succeeded yet'
                    WHEN freshness.stale THEN
                   pg_catalog.format('stale: the scores are as of %s, older than stale_after (%s)',
                                     last_ok.cycle_now, stale_after.value) END,
               CASE WHEN freshness.stale AND skips.n > 0 THEN
                   pg_catalog.format('%s call(s) skipped since, the last: %s', skips.n, skips.last_message) END)
       END                                         AS unhealthy_reason,
       running.role                                AS running_role,
       running.run_id                              AS running_run_id,
       running.broken_pid                          AS lease_broken_pid,
       running.broken_role                         AS lease_broken_role,
       running.broken_at                           AS lease_broken_at,
       running.broken_reason                       AS lease_broken_reason,
       capture.pending_changes                     AS capture_pending_changes,
       capture.pending_plays                       AS capture_pending_plays,
       capture.unconsumed_for                      AS capture_unconsumed_for,
       capture.max_pause                           AS capture_max_pause,
       capture.recording                           AS capture_recording,
       capture.held_by                             AS capture_held_by
FROM (SELECT) AS one_row
LEFT JOIN last_ok ON true
LEFT JOIN last_reconcile ON true
LEFT JOIN last_failure ON true
LEFT JOIN last_finished ON true
LEFT JOIN stale_after ON true
LEFT JOIN freshness ON true
LEFT JOIN running ON true
LEFT JOIN skips ON true
LEFT JOIN capture ON true;

-- source: sql/schema/87_metrics.sql
-- One row per figure a monitoring system scrapes, with labels, so that an
-- exporter can expose the view as it is (docs/monitoring/queries.yaml for
-- prometheus-postgres-exporter). Figures describe the last successful run
-- unless their name says otherwise; labels are '' where they do not apply
-- (exporters turn NULL labels into errors or empty strings inconsistently).
CREATE VIEW trending.metrics AS
WITH last_ok AS (
    SELECT r.run_id, r.started_at, r.finished_at, r.slice_rows, r.bad_rows, r.wal_bytes
    FROM trending.runs r WHERE r.status = 'ok' ORDER BY r.run_id DESC LIMIT 1
), last_ok_detail AS (
    SELECT r.affected FROM trending.runs r WHERE r.status = 'ok' ORDER BY r.run_id DESC LIMIT 1
), last_counted AS (
    -- incremental and reconciling cycles count no absurd rows (they read
    -- only the affected items and a share): the last full run's counts
    SELECT r.bad_rows FROM trending.runs r
    WHERE r.status = 'ok' AND r.bad_rows IS NOT NULL ORDER BY r.run_id DESC LIMIT 1
), status AS (
    SELECT s.* FROM trending.status s
), slice_rows AS (
    -- slice names are TYPE/version/range; the strategy says which kind of item
    SELECT d.kind, c.key AS action, sum(c.value::numeric) AS n
    FROM last_ok,
         pg_catalog.jsonb_each(last_ok.slice_rows) AS s(slice, result),
         pg_catalog.jsonb_each_text(s.result) AS c(key, value)
    JOIN trending._strategy_defaults d ON true
    WHERE d.type = pg_catalog.split_part(s.slice, '/', 1) AND d.version = pg_catalog.split_part(s.slice, '/', 2)
      AND c.key IN ('inserted', 'updated', 'deleted', 'unchanged')
    GROUP BY d.kind, c.key
)
SELECT 'scores_age_seconds'::text AS metric, ''::text AS kind, ''::text AS counter,
       EXTRACT(epoch FROM status.scores_age)::float8 AS value,
       'Seconds since the now of the stored scores (NULL: no successful run yet).'::text AS help
FROM status
UNION ALL
SELECT 'last_success_age_seconds', '', '', EXTRACT(epoch FROM pg_catalog.now() - status.last_success_at)::float8,
       'Seconds since the last successful run finished.'
FROM status
UNION ALL
SELECT 'last_run_seconds', '', '', EXTRACT(epoch FROM last_ok.finished_at - last_ok.started_at)::float8,
       'Duration of the last successful run.'
FROM last_ok
UNION ALL
SELECT 'last_run_wal_bytes', '', '', last_ok.wal_bytes::float8,
       'WAL written in the cluster during the last successful run.'
FROM last_ok
UNION ALL
SELECT 'last_run_rows', slice_rows.kind, slice_rows.action, slice_rows.n::float8,
       'Score rows of the last successful run, per kind (track, playlist) and action (counter label).'
FROM slice_rows
UNION ALL
SELECT 'last_run_bad_rows', '', b.key, b.value::float8,
       'Source rows the last successful full or reconciling run skipped or adjusted, per counter.'
FROM last_counted, pg_catalog.jsonb_each_text(last_counted.bad_rows) AS b(key, value)
WHERE b.value IS NOT NULL
UNION ALL
SELECT 'last_run_affected', a.key, '', a.value::float8,
       'Items the last successful run rescored, per kind (incremental and reconciling runs).'
FROM last_ok_detail, pg_catalog.jsonb_each_text(last_ok_detail.affected) AS a(key, value)
UNION ALL
SELECT 'last_reconcile_drift', '', d.key, d.value::float8,
       'Drift the last round of reconciliation found and repaired, per counter (0 when incremental cycles were exact).'
FROM status, pg_catalog.jsonb_each_text(status.last_reconcile_drift) AS d(key, value)
UNION ALL
SELECT 'last_reconcile_age_seconds', '', '', EXTRACT(epoch FROM pg_catalog.now() - status.last_reconcile_at)::float8,
       'Seconds since the last round of reconciliation completed (its reconciling run finished; NULL: none yet).'
FROM status
UNION ALL
SELECT 'run_in_progress', '', '', (status.running_pid IS NOT NULL)::integer::float8,
       '1 while a cycle holds the cycle lease.'
FROM status
UNION ALL
SELECT 'stale', '', '', status.stale::integer::float8,
       '1 when the scores are older than the stale_after setting (the last successful run''s now against the clock), or there are none.'
FROM status
UNION ALL
SELECT 'healthy', '', '', status.healthy::integer::float8,
       '1 when not stale and the last finished run succeeded (trending.status.unhealthy_reason says why not).'
FROM status
UNION ALL
-- the change capture's backlog (only when it is installed)
SELECT 'capture_pending', p.kind, '', p.n::float8,
       'Captured changes waiting to be consumed by a cycle, per kind (changes: changed ids; plays).'
FROM status, LATERAL (VALUES ('changes', status.capture_pending_changes),
                             ('plays', status.capture_pending_plays)) AS p (kind, n)
WHERE status.capture_recording IS NOT NULL
UNION ALL
SELECT 'capture_unconsumed_seconds', '', '', EXTRACT(epoch FROM status.capture_unconsumed_for)::float8,
       'Seconds since a cycle last consumed the change capture; at capture_max_seconds it stops recording.'
FROM status WHERE status.capture_recording IS NOT NULL
UNION ALL
SELECT 'capture_max_seconds', '', '', EXTRACT(epoch FROM status.capture_max_pause)::float8,
       'The capture_max_pause setting in seconds: how long the change capture records with no cycle consuming it.'
FROM status WHERE status.capture_recording IS NOT NULL
UNION ALL
SELECT 'capture_recording', '', '', status.capture_recording::integer::float8,
       '1 while the change capture records; 0 once no cycle consumed it for capture_max_pause (the next cycle runs full).'
FROM status WHERE status.capture_recording IS NOT NULL
UNION ALL
SELECT 'capture_held_back', '', '', pg_catalog.cardinality(status.capture_held_by)::float8,
       'Open or prepared transactions whose captured changes wait for their commit (trending.capture_status.held_by names them).'
FROM status WHERE status.capture_recording IS NOT NULL;

-- source: sql/schema/90_movers.sql
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

-- source: sql/functions/_apply_slice.sql
-------------------------------------------------------------------------------
-- _apply_slice
-- Write one slice's staged changes (pg_temp.trending_<kind>_changes, see
-- extension/trending_pl/slices.py) for the caller's own running run, in one
-- statement: updates and deletes of the stored rows by ctid, inserts of new
-- rows in score order. SECURITY DEFINER, so that roles that run cycles need
-- no write privilege on the score tables; it reads the caller's temp table
-- only once _safe_temp_table has found it plain.
--
-- Never writes a row it did not mean: a stored row is updated or deleted only
-- if the row at the staged ctid still has the staged key (id, type, version,
-- time_range). If the score table was rewritten since the changes were
-- staged (VACUUM FULL, CLUSTER, pg_repack give it a new filenode), nothing is
-- written and {"restage": true} asks the caller to stage again. Otherwise
-- {"updated", "inserted", "deleted", "missed"}: missed counts staged updates
-- and deletes whose row was no longer at its ctid (the caller re-stages).
CREATE FUNCTION trending._apply_slice(p_run_id bigint, p_kind text, p_type text, p_version text,
                                      p_time_range text, p_now timestamp, p_filenode oid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_table regclass;
    v_id text;
    v_changes regclass;
    v_columns text[] := ARRAY['stored_tid', 'stored_id', 'type', 'version', 'time_range', 'id', 'score'];
    v_types regtype[] := ARRAY['pg_catalog.tid', 'pg_catalog.int4', 'pg_catalog.text', 'pg_catalog.text',
                               'pg_catalog.text', 'pg_catalog.int4', 'pg_catalog.float8']::pg_catalog.regtype[];
    v_set_genre text := '';
    v_genre_col text := '';
    v_genre_val text := '';
    v_updated bigint;
    v_inserted bigint;
    v_deleted bigint;
    v_expected bigint;
    v_wal_compression text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    IF p_kind = 'track' THEN
        v_table := 'trending.track_trending_scores';
        v_id := 'track_id';
        v_columns := v_columns || 'genre'::text;
        v_types := v_types || 'pg_catalog.varchar'::pg_catalog.regtype;
        v_set_genre := ', genre = c.genre';
        v_genre_col := ', genre';
        v_genre_val := ', c.genre';
    ELSIF p_kind = 'playlist' THEN
        v_table := 'trending.playlist_trending_scores';
        v_id := 'playlist_id';
    ELSE
        RAISE EXCEPTION 'trending: unknown kind %', p_kind USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format('LOCK TABLE %s IN ROW EXCLUSIVE MODE', v_table);
    IF pg_catalog.pg_relation_filenode(v_table) IS DISTINCT FROM p_filenode THEN
        RETURN '{"restage": true}'::jsonb;  -- rewritten since staged: the staged ctids mean nothing now
    END IF;
    v_changes := trending._safe_temp_table('trending_' || p_kind || '_changes', v_columns, v_types);
    v_wal_compression := trending._wal_compress();
    -- The ctids to touch come from the slice's rows of the changes table;
    -- the join to the changes table is by ctid alone (each stored ctid is
    -- staged once), as in 1.0, so the planner keeps its shape: a TID scan of
    -- exactly those rows, the changes hashed or probed by ctid, never a scan
    -- per row. The key comparison is a join filter.
    EXECUTE pg_catalog.format($sql$
WITH updated AS (
    UPDATE %1$s t
    SET score = c.score%3$s, created_at = $4
    FROM %2$s c
    WHERE t.ctid = ANY (ARRAY(SELECT u.stored_tid FROM %2$s u
                              WHERE u.type = $1 AND u.version = $2 AND u.time_range = $3
                                AND u.stored_tid IS NOT NULL AND u.id IS NOT NULL))
      AND t.ctid = c.stored_tid
      AND t.%4$I = c.stored_id AND t.type = c.type AND t.version = c.version AND t.time_range = c.time_range
    RETURNING t.type, t.version, t.time_range
), deleted AS (
    DELETE FROM %1$s t USING %2$s c
    WHERE t.ctid = ANY (ARRAY(SELECT u.stored_tid FROM %2$s u
                              WHERE u.type = $1 AND u.version = $2 AND u.time_range = $3 AND u.id IS NULL))
      AND t.ctid = c.stored_tid
      AND t.%4$I = c.stored_id AND t.type = c.type AND t.version = c.version AND t.time_range = c.time_range
    RETURNING t.type, t.version, t.time_range
), inserted AS (
    INSERT INTO %1$s (%4$I, type, version, time_range, score, created_at%5$s)
    SELECT c.id, c.type, c.version, c.time_range, c.score, $4%6$s
    FROM %2$s c
    WHERE c.type = $1 AND c.version = $2 AND c.time_range = $3 AND c.stored_tid IS NULL
    ORDER BY c.score DESC
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM updated u WHERE u.type = $1 AND u.version = $2 AND u.time_range = $3),
       (SELECT pg_catalog.count(*) FROM inserted),
       (SELECT pg_catalog.count(*) FROM deleted d WHERE d.type = $1 AND d.version = $2 AND d.time_range = $3),
       (SELECT pg_catalog.count(*) FROM %2$s c
        WHERE c.type = $1 AND c.version = $2 AND c.time_range = $3 AND c.stored_tid IS NOT NULL)$sql$,
        v_table, v_changes, v_set_genre, v_id, v_genre_col, v_genre_val)
    INTO v_updated, v_inserted, v_deleted, v_expected
    USING p_type, p_version, p_time_range, p_now;
    PERFORM trending._wal_compress(v_wal_compression);
    RETURN pg_catalog.jsonb_build_object('updated', v_updated, 'inserted', v_inserted, 'deleted', v_deleted,
                                         'missed', v_expected - v_updated - v_deleted);
END;
$function$;

-- source: sql/functions/_capture_advance.sql
-------------------------------------------------------------------------------
-- _capture_advance
-- Called by an incremental cycle, in the transaction that commits the state
-- it computed from the delta rows of the transactions visible in its
-- snapshot (next_snapshot, from _capture_snapshot) and not in the last
-- one's (snapshot): makes next_snapshot the watermark, prunes the rows
-- visible in it, and moves record_until to now() plus capture_max_pause.
-- If anything makes the capture untrustworthy now (a trigger disabled or
-- dropped, a table truncated, replaced or rewritten since the capture was
-- armed, during this cycle included; record_until passed or about to), the
-- capture is disarmed instead (still recording, or recording again), so the
-- next cycle runs full; returns that reason (NULL: advanced).
-- SECURITY DEFINER, cycle lease required: see _capture_arm.
CREATE FUNCTION trending._capture_advance()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_row trending._capture_armed;
    v_reason text;
    v_stopped boolean;
    v_until timestamptz := pg_catalog.now() + (SELECT s.value::pg_catalog.interval FROM trending.settings s
                                               WHERE s.name = 'capture_max_pause');
BEGIN
    PERFORM trending._lease_held();
    SELECT a.* INTO v_row FROM trending._capture_armed a FOR UPDATE;
    IF NOT FOUND OR v_row.snapshot IS NULL THEN
        RETURN 'the capture is not armed: no full cycle armed it since it was installed, or its unlogged state was lost (crash restart, failover or restore)';
    END IF;
    IF v_row.next_snapshot IS NULL THEN
        RAISE EXCEPTION 'trending: this cycle took no capture snapshot'
            USING ERRCODE = '55000', HINT = 'A cycle calls trending._capture_snapshot() before it reads the sources.';
    END IF;
    v_stopped := v_row.record_until <= pg_catalog.clock_timestamp() + trending._capture_margin();
    IF v_stopped THEN
        v_reason := pg_catalog.format('the capture stopped recording at %s because no cycle consumed it for longer than %s (capture_max_pause): it records again from this cycle on, and the next full cycle arms it',
                                      v_row.record_until, v_row.record_until - v_row.advanced_at);
    ELSE
        SELECT s.full_cycle_reason INTO v_reason FROM trending.capture_status s;
    END IF;
    IF v_reason IS NOT NULL THEN
        -- the next cycle runs full and reads every change committed by then
        -- (a truncate's row stays: capture_status names the table until then)
        DELETE FROM trending._capture_changes;
        DELETE FROM trending._capture_plays;
        UPDATE trending._capture_armed
        SET snapshot = NULL, next_snapshot = NULL, advanced_at = pg_catalog.now(), record_until = v_until,
            recording_from = CASE WHEN v_stopped THEN NULL ELSE recording_from END;
        RETURN v_reason;
    END IF;
    DELETE FROM trending._capture_changes d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    DELETE FROM trending._capture_plays d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    UPDATE trending._capture_armed
    SET since = since + 1, snapshot = next_snapshot, next_snapshot = NULL, advanced_at = pg_catalog.now(),
        record_until = v_until;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_aggregate_playlist.sql
-------------------------------------------------------------------------------
-- _capture_aggregate_playlist
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table aggregate_playlist (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 9):
-- the playlist
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_aggregate_playlist()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 9, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                        NULL::bigint[] AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                     NULL::bigint[] AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                     NULL::bigint[] AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 9,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 9, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                        NULL::bigint[] AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 9);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_aggregate_plays.sql
-------------------------------------------------------------------------------
-- _capture_aggregate_plays
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table aggregate_plays (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 8):
-- the track
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_aggregate_plays()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 8, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.play_item_id) AS item_ids,
                        NULL::bigint[] AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.play_item_id) AS item_ids,
                     NULL::bigint[] AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.play_item_id) AS item_ids,
                     NULL::bigint[] AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 8,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 8, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.play_item_id) AS item_ids,
                        NULL::bigint[] AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 8);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_aggregate_track.sql
-------------------------------------------------------------------------------
-- _capture_aggregate_track
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table aggregate_track (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 7):
-- the track
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_aggregate_track()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 7, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                        NULL::bigint[] AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                     NULL::bigint[] AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                     NULL::bigint[] AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 7,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 7, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                        NULL::bigint[] AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 7);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_aggregate_user.sql
-------------------------------------------------------------------------------
-- _capture_aggregate_user
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table aggregate_user (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 6):
-- the user (follower_count is what a cycle reads)
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_aggregate_user()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 6, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                        pg_catalog.array_agg(r.user_id) AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                     pg_catalog.array_agg(r.user_id) AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                     pg_catalog.array_agg(r.user_id) AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 6,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 6, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                        pg_catalog.array_agg(r.user_id) AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 6);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_arm.sql
-------------------------------------------------------------------------------
-- _capture_arm
-- Called by a full cycle, in the transaction that commits its state: from
-- now on the capture covers every change of a transaction not visible in
-- the snapshot _capture_snapshot took for this cycle (next_snapshot, taken
-- before the cycle read the sources). p_fingerprint is
-- trending.capture_status.fingerprint taken before that: if a capture
-- trigger or a source table changed meanwhile (a change may have escaped),
-- nothing is armed and the next cycle runs full again. Records the
-- relations, their storage and their triggers as verified (a restored
-- database re-arms here).
-- It never stops the capture recording: refusing to arm leaves it
-- recording and unarmed. When it was not recording (no armed row, or
-- record_until passed or about to), it (re)starts it and does not arm: the
-- writes of this cycle's duration may be unrecorded; the next full cycle
-- arms it once the writers that started before recording did have ended
-- (_capture_snapshot). Every call moves record_until to now() plus the
-- capture_max_pause setting and prunes the delta rows this cycle covered.
-- Returns NULL when armed, else the reason it did not.
-- SECURITY DEFINER: cycle roles write the capture state only through this
-- function, _capture_snapshot and _capture_advance, and only while holding
-- the cycle lease.
CREATE FUNCTION trending._capture_arm(p_fingerprint text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_row trending._capture_armed;
    v_reason text;
    v_fingerprint text;
    v_until timestamptz := pg_catalog.now() + (SELECT s.value::pg_catalog.interval FROM trending.settings s
                                               WHERE s.name = 'capture_max_pause');
BEGIN
    PERFORM trending._lease_held();
    SELECT a.* INTO v_row FROM trending._capture_armed a FOR UPDATE;
    IF NOT FOUND OR v_row.record_until <= pg_catalog.clock_timestamp() + trending._capture_margin() THEN
        v_reason := CASE WHEN v_row.one IS NULL
            THEN 'the capture was not recording: it records from this cycle on, and the next full cycle arms it'
            ELSE pg_catalog.format('the capture stopped recording at %s because no cycle consumed it for longer than %s (capture_max_pause): it records again from this cycle on, and the next full cycle arms it',
                                   v_row.record_until, v_row.record_until - v_row.advanced_at) END;
    ELSIF v_row.next_snapshot IS NULL THEN
        v_reason := 'the capture could not be armed at this cycle''s snapshot (a writer that started before the capture recorded was in flight): the next full cycle arms it';
    END IF;
    IF v_reason IS NULL THEN
        SELECT pg_catalog.string_agg(c.problem, '; ' ORDER BY c.source) INTO v_reason
        FROM trending._capture_catalog c WHERE c.problem IS NOT NULL;
    END IF;
    SELECT s.fingerprint INTO v_fingerprint FROM trending.capture_status s;
    IF v_reason IS NULL AND v_fingerprint IS DISTINCT FROM p_fingerprint THEN
        v_reason := 'a capture trigger or a source table changed during the full cycle';
    END IF;

    IF v_reason IS NOT NULL THEN
        -- recording (again) but not armed: the next cycle runs full and reads
        -- every change committed by then, so no delta row visible now is of
        -- use to anyone; a transaction still open keeps its rows
        DELETE FROM trending._capture_changes;
        DELETE FROM trending._capture_plays;
        DELETE FROM trending._capture_truncates;
        INSERT INTO trending._capture_armed AS a (since, fingerprint, record_until, recording_from)
        VALUES (1, p_fingerprint, v_until, NULL)
        ON CONFLICT (one) DO UPDATE
        SET fingerprint = excluded.fingerprint, advanced_at = pg_catalog.now(), record_until = excluded.record_until,
            snapshot = NULL, next_snapshot = NULL,
            -- still recording: keep the time it has recorded from
            recording_from = CASE WHEN a.record_until > pg_catalog.clock_timestamp() + trending._capture_margin()
                                  THEN a.recording_from END;
        RETURN v_reason;
    END IF;

    -- The full cycle read every change of the transactions visible in its
    -- snapshot: their rows are of no use to anyone.
    DELETE FROM trending._capture_changes d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    DELETE FROM trending._capture_plays d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    DELETE FROM trending._capture_truncates d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    UPDATE trending._capture_installed i
    SET relid = c.relid, armed_relid = c.relid, armed_filenode = c.relfilenode, armed_triggers = c.triggers,
        armed_columns = c.columns, armed_partitions = c.partitions
    FROM trending._capture_catalog c
    WHERE c.source = i.source;
    UPDATE trending._capture_armed
    SET since = since + 1, fingerprint = p_fingerprint, armed_at = pg_catalog.now(), advanced_at = pg_catalog.now(),
        record_until = v_until, snapshot = next_snapshot, next_snapshot = NULL;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_cover.sql
-------------------------------------------------------------------------------
-- _capture_cover
-- Put the four capture triggers of source table p_table (statement-level,
-- AFTER, with transition tables; ENABLE ALWAYS so that they fire for a
-- logical replication subscriber too) on relation p_relid: the source table
-- or one of its partitions. Used by install_capture() and by the event
-- trigger _capture_follow_ddl for a partition created or attached later.
-- Statement triggers are not cloned to partitions and fire only for the
-- table a statement names, so the parent and each partition carry their
-- own and no write is counted twice. Takes SHARE ROW EXCLUSIVE on p_relid.
CREATE FUNCTION trending._capture_cover(p_relid oid, p_table text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rel text := p_relid::pg_catalog.regclass::text;  -- schema-qualified (search_path is pg_catalog only)
    v_function text := pg_catalog.format('trending.%I', '_capture_' || p_table);
BEGIN
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_insert AFTER INSERT ON %s '
                              'REFERENCING NEW TABLE AS capture_new FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                              v_rel, v_function);
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_update AFTER UPDATE ON %s '
                              'REFERENCING OLD TABLE AS capture_old NEW TABLE AS capture_new '
                              'FOR EACH STATEMENT EXECUTE FUNCTION %s()', v_rel, v_function);
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_delete AFTER DELETE ON %s '
                              'REFERENCING OLD TABLE AS capture_old FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                              v_rel, v_function);
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_truncate AFTER TRUNCATE ON %s '
                              'FOR EACH STATEMENT EXECUTE FUNCTION %s()', v_rel, v_function);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER trending_capture_insert, '
                              'ENABLE ALWAYS TRIGGER trending_capture_update, '
                              'ENABLE ALWAYS TRIGGER trending_capture_delete, '
                              'ENABLE ALWAYS TRIGGER trending_capture_truncate', v_rel);
END;
$function$;

-- source: sql/functions/_capture_empty.sql
-------------------------------------------------------------------------------
-- _capture_empty
-- Is relation p_relid provably empty: it exists, and every table in it (a
-- partitioned table's every leaf) has no page at all? Read from the size of
-- the files, not from a snapshot: a row committed by any transaction, or in
-- flight, has made a page. The event trigger _capture_follow_ddl keeps the
-- capture armed over a partition attached, created or detached only when
-- this is true (pg_partman's premade partitions); a partition that ever held
-- a row, or is not a plain table, makes the next cycle run full.
CREATE FUNCTION trending._capture_empty(p_relid oid)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = p_relid AND c.relkind IN ('r', 'p'))
   AND NOT EXISTS (
       SELECT FROM pg_catalog.pg_partition_tree(p_relid::pg_catalog.regclass) t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid
       WHERE c.relkind <> 'p' AND (c.relkind <> 'r' OR pg_catalog.pg_relation_size(c.oid) > 0))
   AND NOT (SELECT c.relkind = 'r' AND pg_catalog.pg_relation_size(c.oid) > 0
            FROM pg_catalog.pg_class c WHERE c.oid = p_relid);
$function$;

-- source: sql/functions/_capture_follow_ddl.sql
-------------------------------------------------------------------------------
-- _capture_follow_ddl
-- Event trigger (ddl_command_end on CREATE TABLE [AS], SELECT INTO, ALTER TABLE, ALTER TYPE;
-- see sql/triggers.sql): keeps the capture triggers where they must be after
-- any role's DDL, in the DDL's own transaction (issue 16, docs/incremental.md
-- "What makes a cycle run full"). Once the capture is installed:
-- 1. takes the capture triggers off a relation whose columns they could no
--    longer read (a column a cycle reads dropped, renamed away, retyped to a
--    type the capture does not read, an enum label renamed): otherwise the
--    service's own writes would fail in them;
-- 2. takes them off a relation that is no longer the source table or one
--    of its partitions (renamed or moved away, detached): its writes would
--    be counted as the source's;
-- 3. puts them on the source table and each of its partitions that has
--    none and whose columns they can read: a partition created or attached
--    (pg_partman's maintenance), a table renamed or moved into the source
--    schema in place of a source table;
-- 4. when the only change to a source's partitions since the last full
--    cycle is partitions added or detached that are provably empty
--    (trending._capture_empty: no page in any of their tables), records the
--    partitions as verified, so that premade partitions keep cycles
--    incremental. Anything else stays a difference from what the last full
--    cycle verified (trending._capture_catalog), and the next cycle runs
--    full naming the table.
-- It never fails the DDL: the body runs in a block that turns any error
-- into a WARNING (a relation left without its triggers is then a problem
-- in trending.capture_status: cycles run full and doctor fails), and it
-- waits at most 1s for a lock.
-- SECURITY DEFINER (owned by the extension's owner, a superuser): the DDL's
-- role could not create triggers on tables it does not own. It reads only
-- the catalog and trending's tables, runs no code of the DDL's role (no
-- operator or function resolved through its search_path; names quoted by
-- format), and acts only on the source tables the capture was installed on.
CREATE FUNCTION trending._capture_follow_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET lock_timeout = '1s'
AS $function$
DECLARE
    v_rel record;
    v_name name;
    v_blessed boolean := false;
    v_error text;
BEGIN
    BEGIN
        -- Nothing to do before the install, nor for DDL that touches no
        -- relation of the source schema, no relation carrying a capture
        -- trigger and no partition of either (temporary tables, a cycle's
        -- own, included): unrelated DDL pays one catalog query. ALTER TYPE
        -- (an enum label) always looks. The triggers this function creates
        -- run DDL themselves: it does not follow its own (the setting is
        -- transaction-local; a role setting it skips only the repairs, never
        -- the fingerprint: an uncovered table stays a problem).
        IF pg_catalog.current_setting('trending.capture_following_ddl', true) = 'on'
           OR NOT EXISTS (SELECT FROM trending._capture_installed)
           OR NOT EXISTS (
               SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
               WHERE d.object_type = 'type' OR d.command_tag = 'ALTER TYPE'
                  OR EXISTS (
                      SELECT FROM pg_catalog.pg_class k
                      WHERE k.oid = d.objid AND k.relpersistence <> 't'
                        AND EXISTS (
                            SELECT FROM (SELECT k.oid AS relid
                                         UNION ALL
                                         SELECT a.relid::oid FROM pg_catalog.pg_partition_ancestors(k.oid) a) r
                            JOIN pg_catalog.pg_class rc ON rc.oid = r.relid
                            WHERE rc.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n
                                                     JOIN trending.settings st ON st.name = 'source_schema'
                                                     WHERE n.nspname = st.value)
                               OR EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                          WHERE g.tgrelid = r.relid AND g.tgname LIKE 'trending\_capture\_%')))) THEN
            RETURN;
        END IF;
        PERFORM pg_catalog.set_config('trending.capture_following_ddl', 'on', true);
        -- 1 and 2: capture triggers that cannot run, or belong elsewhere
        FOR v_rel IN
            WITH cat AS MATERIALIZED (
                SELECT c.source, c.table_name, c.relid, c.installed AND c.installed_schema = c.source_schema AS followed
                FROM trending._capture_catalog c
            ), carrying AS (
                SELECT g.tgrelid AS relid, cat.source, cat.followed, cat.relid AS source_relid,
                       pg_catalog.array_agg(g.tgname ORDER BY g.tgname) AS names
                FROM cat
                JOIN pg_catalog.pg_proc p
                  ON p.pronamespace = 'trending'::pg_catalog.regnamespace
                 AND p.proname = '_capture_' || cat.table_name AND p.pronargs = 0
                JOIN pg_catalog.pg_trigger g ON g.tgfoid = p.oid
                GROUP BY g.tgrelid, cat.source, cat.followed, cat.relid
            ), judged AS (
                SELECT w.*,
                       -- the expression of trending._capture_catalog's readable, per relation
                       NOT (SELECT pg_catalog.bool_and(a.attnum IS NOT NULL AND CASE
                                WHEN rc.enum_labels IS NOT NULL THEN ty.typtype = 'e' AND rc.enum_labels <@
                                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = ty.oid)
                                ELSE ty.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
                                    AND ty.typname::text = ANY (rc.type_names)
                            END)
                            FROM trending._capture_read_columns rc
                            LEFT JOIN pg_catalog.pg_attribute a
                                ON a.attrelid = w.relid AND a.attname = rc.column_name AND a.attnum > 0
                               AND NOT a.attisdropped
                            LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
                            WHERE rc.source = w.source) AS unreadable,
                       w.followed AND w.relid IS DISTINCT FROM w.source_relid
                           AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_ancestors(w.relid) t
                                           WHERE t.relid::oid = w.source_relid) AS stray
                FROM carrying w
            )
            SELECT j.relid::pg_catalog.regclass::text AS rel, j.names, j.unreadable
            FROM judged j WHERE j.unreadable OR j.stray
        LOOP
            FOREACH v_name IN ARRAY v_rel.names LOOP
                EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_name, v_rel.rel);
            END LOOP;
            RAISE WARNING 'trending: capture triggers removed from %: %', v_rel.rel,
                CASE WHEN v_rel.unreadable
                     THEN 'a column a cycle reads is gone or of a type the capture does not read'
                     ELSE 'it is no longer a source table or one of its partitions' END
                USING HINT = 'Cycles run full until the capture covers the source tables again (SELECT * FROM trending.capture_status).';
        END LOOP;
        -- 3: the source tables and partitions without any capture trigger
        -- (a partition has its parent's columns: readable as the table is)
        FOR v_rel IN
            SELECT r.relid, c.table_name
            FROM trending._capture_catalog c
            CROSS JOIN LATERAL (SELECT c.relid AS relid
                                UNION
                                SELECT t.relid::oid FROM pg_catalog.pg_partition_tree(c.relid::pg_catalog.regclass) t) r
            JOIN pg_catalog.pg_class k ON k.oid = r.relid
            WHERE c.installed AND c.installed_schema = c.source_schema AND c.readable AND k.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                              JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
                              WHERE g.tgrelid = r.relid
                                AND (g.tgname LIKE 'trending\_capture\_%'
                                     OR (p.pronamespace = 'trending'::pg_catalog.regnamespace
                                         AND p.proname LIKE '\_capture\_%')))
        LOOP
            PERFORM trending._capture_cover(v_rel.relid, v_rel.table_name);
        END LOOP;
        -- 4: partitions added or detached, all provably empty
        FOR v_rel IN
            SELECT c.source, c.partitions
            FROM trending._capture_catalog c
            JOIN trending._capture_installed i ON i.source = c.source
            WHERE c.problem IS NULL AND i.armed_relid = c.relid AND i.armed_partitions IS NOT NULL
              AND c.partitions IS DISTINCT FROM i.armed_partitions
              AND NOT EXISTS (
                  SELECT FROM pg_catalog.jsonb_each_text(COALESCE(c.partitions, '{}')) n
                  FULL JOIN pg_catalog.jsonb_each_text(i.armed_partitions) o ON o.key = n.key
                  WHERE n.value IS DISTINCT FROM o.value
                    AND NOT (o.key IS NULL AND trending._capture_empty(n.key::oid))
                    AND NOT (n.key IS NULL AND trending._capture_empty(o.key::oid)))
        LOOP
            UPDATE trending._capture_installed SET armed_partitions = v_rel.partitions WHERE source = v_rel.source;
            v_blessed := true;
        END LOOP;
        -- the armed fingerprint follows when nothing else differs from the last full cycle
        IF v_blessed AND NOT EXISTS (SELECT FROM trending._capture_catalog c
                                     WHERE c.problem IS NOT NULL OR c.drift IS NOT NULL) THEN
            UPDATE trending._capture_armed SET fingerprint = (SELECT s.fingerprint FROM trending.capture_status s);
        END IF;
        PERFORM pg_catalog.set_config('trending.capture_following_ddl', '', true);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        RAISE WARNING 'trending: the change capture could not follow this command: %', v_error
            USING HINT = 'The command went ahead. Cycles run full until the capture covers the source tables again: '
                         'SELECT * FROM trending.capture_status; a superuser runs SELECT trending.install_capture().';
    END;
END;
$function$;

-- source: sql/functions/_capture_guard_drop.sql
-------------------------------------------------------------------------------
-- _capture_guard_drop
-- Event trigger (ddl_command_start, DROP EXTENSION; see sql/triggers.sql):
-- a bare DROP EXTENSION trending while capture triggers are on the source
-- tables fails here with a hint naming trending.uninstall_capture(), rather
-- than with PostgreSQL's generic dependency error. With CASCADE the drop
-- goes ahead and removes the triggers (they depend on the capture
-- functions). The command is recognised in current_query(); a DROP run
-- from inside a function is not, and gets the dependency error instead
-- (which also names the capture triggers). Nothing is dropped either way.
CREATE FUNCTION trending._capture_guard_drop()
RETURNS event_trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_names text;
    v_tables text;
BEGIN
    SELECT pg_catalog.string_agg(DISTINCT g.tgrelid::pg_catalog.regclass::text, ', ') INTO v_tables
    FROM pg_catalog.pg_trigger g
    JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
    WHERE p.pronamespace = 'trending'::pg_catalog.regnamespace AND p.proname LIKE '\_capture\_%';
    IF v_tables IS NULL THEN
        RETURN;
    END IF;
    FOR v_names IN
        SELECT m[1] FROM pg_catalog.regexp_matches(pg_catalog.current_query(),
                                                   'drop\s+extension\s+(?:if\s+exists\s+)?([^;]*)', 'gi') AS m
    LOOP
        CONTINUE WHEN v_names ~* '\mcascade\M';
        IF EXISTS (SELECT FROM pg_catalog.regexp_split_to_table(v_names, ',') AS n(name)
                   WHERE pg_catalog.btrim(pg_catalog.regexp_replace(n.name, '\s+restrict\s*$', '', 'i'),
                                          E' \t\r\n"') = 'trending') THEN
            RAISE EXCEPTION 'trending: cannot drop extension trending while its change capture is installed'
                USING ERRCODE = '2BP01',
                      DETAIL = 'Capture triggers are on ' || v_tables || '.',
                      HINT = 'Run SELECT trending.uninstall_capture(); first: it removes them and leaves the tables as they were '
                             '(or DROP EXTENSION trending CASCADE drops them with the extension).';
        END IF;
    END LOOP;
END;
$function$;

-- source: sql/functions/_capture_margin.sql
-------------------------------------------------------------------------------
-- _capture_margin
-- How long before record_until a cycle already treats the capture as no
-- longer recording: a cycle's commit (which moves record_until on) comes
-- after it decided, and a writer that starts between record_until and that
-- commit records nothing. A quarter of capture_max_pause, at most 10
-- minutes: with hourly cycles and the default bound (1 day) it never
-- applies; only a cycle after a pause of nearly the bound runs full.
CREATE FUNCTION trending._capture_margin()
RETURNS interval
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT LEAST(s.value::pg_catalog.interval OPERATOR(pg_catalog./) 4, '10 minutes'::pg_catalog.interval)
    FROM trending.settings s WHERE s.name = 'capture_max_pause'
$function$;

-- source: sql/functions/_capture_playlists.sql
-------------------------------------------------------------------------------
-- _capture_playlists
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table playlists (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 10):
-- the playlist and its owner (kind: playlist)
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_playlists()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 10, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                        pg_catalog.array_agg(r.playlist_owner_id) AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                     pg_catalog.array_agg(r.playlist_owner_id) AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                     pg_catalog.array_agg(r.playlist_owner_id) AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 10,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 10, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.playlist_id) AS item_ids,
                        pg_catalog.array_agg(r.playlist_owner_id) AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 10);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_plays.sql
-------------------------------------------------------------------------------
-- _capture_plays
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table plays (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends per statement the play_item_id and created_at of every row added
-- (n = 1) and of every row removed (n = -1) to trending._capture_plays, as two
-- arrays: a late play (created_at hours or days old) keeps its own time, and
-- a cycle buckets them (trending._capture_play_hours). An UPDATE appends
-- its new rows (+1) and old rows (-1), or nothing when it changed neither
-- column of any row (the usual case: PostgreSQL stores old and new rows in
-- the same order). Bucketing here measured three times the cost of copying.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_plays()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats)
        SELECT s.seq, 1, d.item_ids, d.created_ats
        FROM s, (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
                 FROM capture_new r HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
              FROM capture_new r),
        o AS (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
              FROM capture_old r)
        INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats)
        SELECT s.seq, d.n, d.item_ids, d.created_ats
        FROM s, n, o,
             LATERAL (VALUES (1, n.item_ids, n.created_ats), (-1, o.item_ids, o.created_ats)) AS d (n, item_ids, created_ats)
        WHERE d.item_ids IS NOT NULL
          AND (n.item_ids IS DISTINCT FROM o.item_ids OR n.created_ats IS DISTINCT FROM o.created_ats);
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats)
        SELECT s.seq, -1, d.item_ids, d.created_ats
        FROM s, (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
                 FROM capture_old r HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 2);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_reposts.sql
-------------------------------------------------------------------------------
-- _capture_reposts
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table reposts (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 4):
-- the reposted item, its kind (1 track, 2 playlist; 'album' reposts are not read) and the reposting user
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_reposts()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 4, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                        pg_catalog.array_agg(r.usr) AS user_ids
                 FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.repost_type))
                                   WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                              t.repost_item_id AS item, t.user_id AS usr
                       FROM capture_new t) r
                 WHERE r.kind IS NOT NULL
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                     pg_catalog.array_agg(r.usr) AS user_ids
              FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.repost_type))
                                WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                           t.repost_item_id AS item, t.user_id AS usr
                    FROM capture_new t) r
              WHERE r.kind IS NOT NULL),
        o AS (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                     pg_catalog.array_agg(r.usr) AS user_ids
              FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.repost_type))
                                WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                           t.repost_item_id AS item, t.user_id AS usr
                    FROM capture_old t) r
              WHERE r.kind IS NOT NULL)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 4,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 4, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                        pg_catalog.array_agg(r.usr) AS user_ids
                 FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.repost_type))
                                   WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                              t.repost_item_id AS item, t.user_id AS usr
                       FROM capture_old t) r
                 WHERE r.kind IS NOT NULL
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 4);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_saves.sql
-------------------------------------------------------------------------------
-- _capture_saves
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table saves (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 3):
-- the saved item, its kind (1 track, 2 playlist; 'album' saves are not read) and the saving user
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_saves()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 3, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                        pg_catalog.array_agg(r.usr) AS user_ids
                 FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.save_type))
                                   WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                              t.save_item_id AS item, t.user_id AS usr
                       FROM capture_new t) r
                 WHERE r.kind IS NOT NULL
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                     pg_catalog.array_agg(r.usr) AS user_ids
              FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.save_type))
                                WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                           t.save_item_id AS item, t.user_id AS usr
                    FROM capture_new t) r
              WHERE r.kind IS NOT NULL),
        o AS (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                     pg_catalog.array_agg(r.usr) AS user_ids
              FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.save_type))
                                WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                           t.save_item_id AS item, t.user_id AS usr
                    FROM capture_old t) r
              WHERE r.kind IS NOT NULL)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 3,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 3, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT pg_catalog.array_agg(r.kind) AS kinds, pg_catalog.array_agg(r.item) AS item_ids,
                        pg_catalog.array_agg(r.usr) AS user_ids
                 FROM (SELECT CASE pg_catalog.textin(pg_catalog.enum_out(t.save_type))
                                   WHEN 'track' THEN 1 WHEN 'playlist' THEN 2 END AS kind,
                              t.save_item_id AS item, t.user_id AS usr
                       FROM capture_old t) r
                 WHERE r.kind IS NOT NULL
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 3);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_snapshot.sql
-------------------------------------------------------------------------------
-- _capture_snapshot
-- The first thing a cycle does with the capture, before it reads any source:
-- take the snapshot the cycle consumes up to (pg_current_snapshot(); the
-- cycle's later statements see every transaction visible in it, so the
-- delta rows it names are the same whichever statement reads them), keep it
-- as next_snapshot for the cycle's arm or advance, and return it with the
-- last consuming cycle's (previous). The cycle consumes the delta rows of
-- the transactions visible in `snapshot` and not in `previous`; a writer's
-- transaction still open is in neither and waits for a later cycle.
--
-- unrecorded (NULL when the capture can be armed or advanced at this
-- snapshot) says why not, and the cycle then runs full:
-- - the capture is not recording (no armed row, or record_until passed or
--   is about to: the cycle's commit would come after it);
-- - recording was (re)started since the last cycle and a writer of a source
--   table that started before it is still in flight (its earlier writes may
--   be unrecorded, and it may commit after the cycle's reads): waits for
--   such writers up to p_timeout, then names them (pid, or the gid of a
--   prepared transaction).
-- SECURITY DEFINER: it reads every backend's xact_start and writes the
-- armed row; cycle lease required.
CREATE FUNCTION trending._capture_snapshot(p_timeout interval)
RETURNS TABLE (snapshot pg_snapshot, previous pg_snapshot, unrecorded text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_row trending._capture_armed;
    v_deadline timestamptz := pg_catalog.clock_timestamp() + COALESCE(p_timeout, '0'::pg_catalog.interval);
    v_writers text;
    v_snapshot pg_snapshot;
    v_recording_from timestamptz;
BEGIN
    PERFORM trending._lease_held();
    SELECT a.* INTO v_row FROM trending._capture_armed a FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT pg_catalog.pg_current_snapshot(), NULL::pg_snapshot,
            'the capture is not recording (no cycle since it was installed, or its unlogged state was lost): this full cycle starts it, the next one arms it'::text;
        RETURN;
    END IF;
    IF v_row.record_until <= pg_catalog.clock_timestamp() + trending._capture_margin() THEN
        UPDATE trending._capture_armed SET next_snapshot = NULL;
        RETURN QUERY SELECT pg_catalog.pg_current_snapshot(), v_row.snapshot,
            pg_catalog.format('the capture stopped recording at %s because no cycle consumed it for longer than %s (capture_max_pause): writes since then may be unrecorded; this full cycle restarts it, the next one arms it',
                              v_row.record_until, v_row.record_until - v_row.advanced_at);
        RETURN;
    END IF;
    IF v_row.snapshot IS NULL THEN
        -- not armed: arming needs every write that may have gone unrecorded
        -- (a transaction that started before recording did) to be visible
        -- to the cycle's reads, i.e. committed before its snapshot
        v_recording_from := v_row.recording_from;
        IF v_recording_from IS NULL THEN
            -- recording was (re)started by a commit this cycle already sees
            v_recording_from := pg_catalog.clock_timestamp();
            UPDATE trending._capture_armed SET recording_from = v_recording_from;
        END IF;
        LOOP
            v_writers := trending._capture_writers_before(v_recording_from);
            EXIT WHEN v_writers IS NULL OR pg_catalog.clock_timestamp() >= v_deadline;
            PERFORM pg_catalog.pg_sleep(0.005);
        END LOOP;
        IF v_writers IS NOT NULL THEN
            UPDATE trending._capture_armed SET next_snapshot = NULL;
            RETURN QUERY SELECT pg_catalog.pg_current_snapshot(), NULL::pg_snapshot,
                pg_catalog.format('the capture cannot be armed yet: %s, which started before the capture recorded its writes, is still open; a full cycle after it ends arms the capture',
                                  v_writers);
            RETURN;
        END IF;
    END IF;
    v_snapshot := pg_catalog.pg_current_snapshot();
    UPDATE trending._capture_armed SET next_snapshot = v_snapshot;
    RETURN QUERY SELECT v_snapshot, v_row.snapshot, NULL::text;
END;
$function$;

-- source: sql/functions/_capture_tracks.sql
-------------------------------------------------------------------------------
-- _capture_tracks
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table tracks (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 1):
-- the track and its owner (kind: track)
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_tracks()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 1, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                        pg_catalog.array_agg(r.owner_id) AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                     pg_catalog.array_agg(r.owner_id) AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                     pg_catalog.array_agg(r.owner_id) AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 1,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 1, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, pg_catalog.array_agg(r.track_id) AS item_ids,
                        pg_catalog.array_agg(r.owner_id) AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 1);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_users.sql
-------------------------------------------------------------------------------
-- _capture_users
-- GENERATED by tools/generate_capture.py (one definition of the capture):
-- edit its SOURCES entry or its shape there, then run make; do not edit this
-- file (test/pytest/test_build.py checks that it is the generator's output).
--
-- Capture trigger of the source table users (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new).
-- Appends one row per statement to trending._capture_changes (source 5):
-- the user (the profile columns decide karma eligibility)
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY DEFINER, owned by trending_capture: a NOLOGIN role that may only
-- append to the delta tables, draw their sequence and read the armed row. So
-- no writer of the service needs any privilege in schema trending (a write
-- succeeds however the writer got its own privilege: table, column, role
-- membership, PUBLIC, a definer function), and no writer may insert, change
-- or delete a delta row itself: the only rows are the ones this code derives
-- from the statement's own transition tables. Nothing here can fail on the
-- data: install_capture and every cycle check that the columns read have
-- built-in integer (and, for plays, timestamp) types; ids are aggregated into
-- arrays of their own type and stored with built-in casts; an enum column is
-- compared by its label through built-in functions (enum_out, textin), never
-- by an operator or cast its type's owner could define; search_path and
-- constraint_exclusion are pinned. No EXCEPTION block: each would be a
-- subtransaction per statement of the writer. First, the recording check:
-- when the armed row is gone (a crash restart, a failover) or no cycle
-- consumed the capture for longer than its bound (record_until), it records
-- nothing and the next cycle runs full.
CREATE FUNCTION trending._capture_users()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 5, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                        pg_catalog.array_agg(r.user_id) AS user_ids
                 FROM capture_new r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                     pg_catalog.array_agg(r.user_id) AS user_ids
              FROM capture_new r),
        o AS (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                     pg_catalog.array_agg(r.user_id) AS user_ids
              FROM capture_old r)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 5,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 5, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT NULL::smallint[] AS kinds, NULL::bigint[] AS item_ids,
                        pg_catalog.array_agg(r.user_id) AS user_ids
                 FROM capture_old r
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 5);
    END IF;
    RETURN NULL;
END;
$function$;

-- source: sql/functions/_capture_writers_before.sql
-------------------------------------------------------------------------------
-- _capture_writers_before
-- The transactions other than this one that hold a write lock on a source
-- table (or one of its partitions) and started before p_since, as text
-- ('pid 123', 'prepared transaction ''gid''', comma-separated), or NULL when
-- there are none. A prepared transaction's start is unknown: it is always
-- named. Used to arm the capture: such a transaction may have written while
-- the capture did not record.
-- SECURITY INVOKER: called by the definer _capture_snapshot, which may read
-- every backend's xact_start.
CREATE FUNCTION trending._capture_writers_before(p_since timestamptz)
RETURNS text
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH sources AS (
        -- the tables, and the partitions of those that are partitioned
        -- (pg_partition_tree is empty for a plain table)
        SELECT c.relid FROM trending._capture_catalog c WHERE c.relid IS NOT NULL
        UNION
        SELECT t.relid
        FROM trending._capture_catalog c
        CROSS JOIN LATERAL pg_catalog.pg_partition_tree(c.relid) t
        WHERE c.relid IS NOT NULL
    ), writers AS (
        SELECT DISTINCT l.pid, l.virtualtransaction
        FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'relation' AND l.granted
          AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                            WHERE d.datname = pg_catalog.current_database())
          AND l.relation IN (SELECT s.relid FROM sources s)
          AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
    )
    SELECT pg_catalog.string_agg(w.who, ', ' ORDER BY w.who)
    FROM (
        SELECT 'pid ' || w.pid::text AS who
        FROM writers w JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
        WHERE a.xact_start < p_since
        UNION
        -- a prepared transaction's locks have no pid and keep its virtual
        -- transaction, whose transactionid lock names its xid
        SELECT pg_catalog.format('prepared transaction %L', COALESCE(
                   (SELECT px.gid FROM pg_catalog.pg_locks x
                    JOIN pg_catalog.pg_prepared_xacts px ON px.transaction = x.transactionid
                    WHERE x.locktype = 'transactionid' AND x.pid IS NULL
                      AND x.virtualtransaction = w.virtualtransaction LIMIT 1),
                   w.virtualtransaction))
        FROM writers w
        WHERE w.pid IS NULL
    ) w
$function$;

-- source: sql/functions/_check_sources.sql
-------------------------------------------------------------------------------
-- _check_sources
-- Lock the source tables a read is about to scan, then say in one catalog
-- query everything that makes them unfit or untrusted to read. Returns one
-- row per problem (none: fit), in the order of p_columns, with the
-- problem's SQLSTATE and a severity (lower: more fundamental; the caller
-- raises the SQLSTATE of the lowest).
--
-- The source tables belong to another role. Whatever that role owns must
-- never run as the reader (a cycle may run as a superuser), so a source and
-- every descendant a read scans must be a plain or partitioned table without
-- row-level security, each read column must have a listed built-in type (or
-- be an enum with the labels compared), and no index, constraint, extended
-- statistics object or partition key of them may depend on a function,
-- operator or non-enum type owned by a non-superuser: the planner evaluates
-- those expressions, calling IMMUTABLE functions at plan time.
--
-- p_columns: [{"table": t, "column": c, "types": [pg_catalog type names]}
--             or {..., "enum": [labels]}, ...]
-- The ACCESS SHARE lock (the read's lock, held to the end of the
-- transaction) is taken BEFORE the catalog query, and the transaction must be
-- READ COMMITTED, so the check sees the relations the reads will see: a
-- renamed, dropped or altered relation needs a lock that conflicts with it.
-- VOLATILE because of the LOCK (a STABLE caller may still call it).
CREATE FUNCTION trending._check_sources(p_schema text, p_columns jsonb)
RETURNS TABLE (sqlstate text, problem text, severity integer)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan  -- a catalog query: plan it once per session, not per call
AS $function$
DECLARE
    v_isolation text := pg_catalog.current_setting('transaction_isolation');
    v_namespace oid;
    v_lock text;
BEGIN
    -- Under REPEATABLE READ the catalog query would use a snapshot older than
    -- the lock: a swap committed in between would pass unseen.
    IF v_isolation <> 'read committed' THEN
        RETURN QUERY SELECT '25000'::text,
            pg_catalog.format('the transaction is %s; reading the source tables needs READ COMMITTED',
                              pg_catalog.upper(v_isolation)),
            0;
        RETURN;
    END IF;
    SELECT n.oid INTO v_namespace FROM pg_catalog.pg_namespace n WHERE n.nspname = p_schema;
    IF v_namespace IS NULL THEN
        RETURN QUERY SELECT '3F000'::text, pg_catalog.format('source schema "%s" does not exist', p_schema), 1;
        RETURN;
    END IF;

    -- The lock the read takes (LOCK recurses to the current descendants).
    -- Only readable tables: LOCK on anything else would fail with a less
    -- complete message than the query below.
    SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', p_schema, c.relname), ', ' ORDER BY c.relname)
      INTO v_lock
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = v_namespace
       AND c.relname IN (SELECT DISTINCT e ->> 'table' FROM pg_catalog.jsonb_array_elements(p_columns) e)
       AND c.relkind IN ('r', 'p')
       AND pg_catalog.has_table_privilege(c.oid, 'SELECT');
    IF v_lock IS NOT NULL THEN
        EXECUTE 'LOCK TABLE ' || v_lock || ' IN ACCESS SHARE MODE';
    END IF;

    RETURN QUERY
    WITH RECURSIVE spec AS (
        SELECT e ->> 'table' AS table_name, e ->> 'column' AS column_name, e -> 'types' AS types,
               e -> 'enum' AS labels, o.ord
        FROM pg_catalog.jsonb_array_elements(p_columns) WITH ORDINALITY AS o(e, ord)
    ),
    tabs AS (
        SELECT s.table_name, pg_catalog.min(s.ord) AS ord, c.oid AS relid, c.relkind,
               c.relrowsecurity OR c.relforcerowsecurity AS rls,
               CASE WHEN c.oid IS NOT NULL THEN pg_catalog.has_table_privilege(c.oid, 'SELECT') END AS readable
        FROM spec s
        LEFT JOIN pg_catalog.pg_class c  -- name-typed comparisons, so the catalogs' indexes serve them
               ON c.relnamespace = v_namespace AND c.relname = s.table_name::pg_catalog.name
        GROUP BY s.table_name, c.oid, c.relkind, c.relrowsecurity, c.relforcerowsecurity
    ),
    -- every relation a read of a source scans: the source, its partitions and
    -- inheritance children, recursively
    tree AS (
        SELECT t.table_name, t.ord, t.relid, 0 AS depth FROM tabs t WHERE t.relid IS NOT NULL
        UNION
        SELECT tr.table_name, tr.ord, i.inhrelid, tr.depth + 1
        FROM tree tr JOIN pg_catalog.pg_inherits i ON i.inhparent = tr.relid
    ),
    members AS (
        SELECT tr.table_name, tr.ord, tr.relid, tr.depth, c.relkind,
               c.relrowsecurity OR c.relforcerowsecurity AS rls,
               pg_catalog.format('%I.%I', n.nspname, c.relname)
                   || CASE WHEN tr.depth > 0
                           THEN pg_catalog.format(' (a %s of %I.%I)',
                                    CASE WHEN c.relispartition THEN 'partition' ELSE 'child' END,
                                    p_schema, tr.table_name)
                           ELSE '' END AS label
        FROM tree tr
        CROSS JOIN LATERAL (SELECT c.* FROM pg_catalog.pg_class c WHERE c.oid = tr.relid) c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    ),
    -- a source that is itself a partition: its ancestors' partition keys make
    -- its partition constraint, which constraint_exclusion = on evaluates
    ancestors AS (
        SELECT t.table_name, t.ord, i.inhparent AS relid FROM tabs t
        JOIN pg_catalog.pg_inherits i ON i.inhrelid = t.relid
        UNION
        SELECT a.table_name, a.ord, i.inhparent FROM ancestors a
        JOIN pg_catalog.pg_inherits i ON i.inhrelid = a.relid
    ),
    -- objects whose expressions a read (its planning included) may evaluate:
    -- the relation itself (partition key), its indexes, constraints and
    -- extended statistics
    objs AS (
        SELECT m.ord, m.label, 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, m.relid AS objid,
               true AS is_self
        FROM members m
        UNION ALL
        SELECT a.ord, pg_catalog.format('the partition key of %s (an ancestor of %I.%I)',
                                        a.relid::pg_catalog.regclass, p_schema, a.table_name),
               'pg_catalog.pg_class'::pg_catalog.regclass, a.relid, true
        FROM ancestors a
        UNION ALL
        SELECT m.ord, m.label, 'pg_catalog.pg_class'::pg_catalog.regclass, x.indexrelid, false
        FROM members m JOIN pg_catalog.pg_index x ON x.indrelid = m.relid
        UNION ALL
        SELECT m.ord, m.label, 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid, false
        FROM members m JOIN pg_catalog.pg_constraint k ON k.conrelid = m.relid
        UNION ALL
        SELECT m.ord, m.label, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, x.oid, false
        FROM members m JOIN pg_catalog.pg_statistic_ext x ON x.stxrelid = m.relid
    ),
    untrusted AS (
        SELECT DISTINCT o.ord, o.label, o.is_self, o.classid, o.objid, d.refclassid, d.refobjid, r.rolname
        FROM objs o
        CROSS JOIN LATERAL (SELECT d.* FROM pg_catalog.pg_depend d
                            WHERE d.classid = o.classid AND d.objid = o.objid AND d.objsubid = 0) d
        LEFT JOIN pg_catalog.pg_proc f
               ON d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND f.oid = d.refobjid
        LEFT JOIN pg_catalog.pg_operator op
               ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND op.oid = d.refobjid
        LEFT JOIN pg_catalog.pg_type ty
               ON d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid = d.refobjid
              AND ty.typtype <> 'e'
        JOIN pg_catalog.pg_roles r ON r.oid = COALESCE(f.proowner, op.oprowner, ty.typowner)
        WHERE NOT r.rolsuper
    ),
    -- the accepted types' OIDs: built-in types, by name in pg_catalog only
    kinds AS (
        SELECT s.ord, pg_catalog.array_agg(b.oid) AS accepted
        FROM spec s
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(s.types) AS n(name)
        JOIN pg_catalog.pg_type b
          ON b.typname = n.name::pg_catalog.name AND b.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
        GROUP BY s.ord
    ),
    cols AS (
        SELECT s.*, t.relid, a.atttypid, ty.typtype,
               k.accepted
        FROM spec s
        LEFT JOIN kinds k ON k.ord = s.ord
        JOIN tabs t ON t.table_name = s.table_name AND t.relid IS NOT NULL
        LEFT JOIN LATERAL (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = t.relid AND a.attname = s.column_name::pg_catalog.name
                             AND a.attnum > 0 AND NOT a.attisdropped) a ON true
        LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
    ),
    problems AS (
        SELECT t.ord, 0 AS sub, '42P01' AS sqlstate, 2 AS severity,
               pg_catalog.format('table %s.%s does not exist', p_schema, t.table_name) AS problem
        FROM tabs t WHERE t.relid IS NULL
        UNION ALL
        SELECT m.ord, 1 + m.depth, '42809', 3,
               pg_catalog.format('%s is %s, not a plain or partitioned table', m.label,
                   CASE m.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                  WHEN 'f' THEN 'a foreign table' WHEN 'S' THEN 'a sequence'
                                  WHEN 'i' THEN 'an index' WHEN 'I' THEN 'an index'
                                  WHEN 'c' THEN 'a composite type'
                                  ELSE 'of relkind ' || m.relkind::text END)
        FROM members m WHERE m.relkind NOT IN ('r', 'p')
        UNION ALL
        SELECT c.ord, 100, '42703', 4,
               pg_catalog.format('column %s.%s does not exist', c.table_name, c.column_name)
        FROM cols c WHERE c.atttypid IS NULL
        UNION ALL
        SELECT c.ord, 100, '42804', 5,
               pg_catalog.format('column %s.%s is %s, expected %s', c.table_name, c.column_name,
                   pg_catalog.format_type(c.atttypid, NULL),
                   CASE WHEN c.labels IS NOT NULL THEN 'an enum type'
                        ELSE (SELECT pg_catalog.string_agg(pg_catalog.format_type(x, NULL), ' or '
                                                           ORDER BY pg_catalog.format_type(x, NULL))
                              FROM pg_catalog.unnest(c.accepted) x) END)
        FROM cols c
        WHERE c.atttypid IS NOT NULL
          AND CASE WHEN c.labels IS NOT NULL THEN c.typtype <> 'e'
                   ELSE c.atttypid <> ALL (COALESCE(c.accepted, '{}')) END
        UNION ALL
        SELECT c.ord, 101, '42804',  5,
               pg_catalog.format('column %s.%s: enum type %s has no label %L', c.table_name, c.column_name,
                                 pg_catalog.format_type(c.atttypid, NULL), l.label)
        FROM cols c
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(c.labels) AS l(label)
        WHERE c.labels IS NOT NULL AND c.typtype = 'e'
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_enum e
                          WHERE e.enumtypid = c.atttypid AND e.enumlabel = l.label)
        UNION ALL
        SELECT t.ord, 200, '42501', 6, pg_catalog.format('no SELECT privilege on %s.%s', p_schema, t.table_name)
        FROM tabs t WHERE t.relid IS NOT NULL AND NOT t.readable
        UNION ALL
        SELECT m.ord, 201 + m.depth, '42501', 6,
               pg_catalog.format('row-level security is enabled on %s', m.label)
        FROM members m WHERE m.rls
        UNION ALL
        SELECT u.ord, 300, '42501', 6,
               pg_catalog.format('%s depends on %s, owned by %I, who is not a superuser',
                   CASE WHEN u.is_self THEN u.label
                        WHEN u.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass  -- names its table
                        THEN pg_catalog.pg_describe_object(u.classid, u.objid, 0)
                        ELSE pg_catalog.pg_describe_object(u.classid, u.objid, 0) || ' of ' || u.label END,
                   pg_catalog.pg_describe_object(u.refclassid, u.refobjid, 0), u.rolname)
        FROM untrusted u
    )
    SELECT p.sqlstate, p.problem, p.severity FROM problems p ORDER BY p.ord, p.sub, p.problem;
END;
$function$;

-- source: sql/functions/_explain.sql
-------------------------------------------------------------------------------
-- _explain
-- The document of trending.explain_track() and explain_playlist()
-- (extension/trending_pl/explain.py): the cycle's inputs for one item, staged
-- by the cycle's own statements filtered to that id, each term of the
-- formula, the computed and the stored score. Reads the sources as the
-- caller, checked as a cycle checks them; writes only temp tables.
-- The same SET clauses as trending._recompute.
CREATE FUNCTION trending._explain(kind text, item_id integer, time_range text, version text, now timestamptz)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET work_mem = '128MB'
SET lock_timeout = '5s'
SET max_parallel_workers_per_gather = 2
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import explain
return explain.explain(plpy, kind, item_id, time_range, version, now)
$python$;

-- source: sql/functions/_lease_held.sql
-------------------------------------------------------------------------------
-- _lease_held
-- Raise 55000 unless this session holds the cycle lease for a running run
-- of its own (see trending._own_run): the change capture's watermark moves
-- only inside a cycle. Called by the SECURITY DEFINER capture functions.
CREATE FUNCTION trending._lease_held()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_run_id bigint;
BEGIN
    SELECT c.run_id INTO v_run_id FROM trending_private.cycle_lease c WHERE c.pid = pg_catalog.pg_backend_pid();
    IF v_run_id IS NULL THEN
        RAISE EXCEPTION 'trending: this session does not hold the cycle lease'
            USING ERRCODE = '55000', HINT = 'Only a cycle does this: trending.recompute() or trending.scheduled_recompute().';
    END IF;
    PERFORM trending._own_run(v_run_id);
END;
$function$;

-- source: sql/functions/_lease_take.sql
-------------------------------------------------------------------------------
-- _lease_take
-- Take the cycle lease for a run about to begin in this transaction (see
-- sql/schema/55_cycle_lease.sql), or record why not. Returns
--   {"status": "taken"}                          go on: plan, then _run_begin
--   {"status": "skipped", "run_id", "message"}   another cycle runs (named)
--   {"status": "failed", "run_id", "message"}    something else holds the
--                                                 table's lock (named, with its
--                                                 role): trending.status turns
--                                                 unhealthy
-- 1. The table lock, waiting at most 200 ms (longer than any instant a
--    role without privileges can hold it: a few functions lock a relation
--    by OID before their privilege check, e.g. brin_summarize_range). Held
--    by another backend's transaction: that is a cycle (only the owner can
--    hold it), skipped, naming the run between two steps that the lease row
--    names, if any; unless it is idle in transaction for longer than
--    lease_idle_timeout (a recompute() whose caller never commits): its
--    backend is ended (a transaction's lock cannot be broken otherwise) and
--    the lock taken. Not held, yet not free: something else holds or waits
--    for a conflicting lock (a superuser's LOCK TABLE): failed, naming it.
-- 2. The committed lease row, renewed when the run began and at the end of
--    each step: a live backend's renewed within lease_idle_timeout is a
--    scheduled run between two steps, skipped (each step holds the lock
--    from its start, runs.mine, to its commit). A gone backend (or one whose
--    backend_start differs: a reused pid), one that ran no step for longer
--    than lease_idle_timeout (idle, or busy with anything but the cycle), or
--    this very backend (a run interrupted in this session) loses it: its
--    run is marked aborted and the break recorded.
-- SECURITY DEFINER: only the owner may read pg_stat_activity of every role,
-- end a backend, lock and write the lease.
CREATE FUNCTION trending._lease_take(p_trigger text, p_now timestamptz, p_run_by name)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET lock_timeout = '2s'
AS $function$
DECLARE
    v_me integer := pg_catalog.pg_backend_pid();
    v_my_start timestamptz;
    v_timeout interval;
    v_lease record;
    v_holder record;
    v_blockers text;
    v_broken text;
    v_broken_pid integer;
    v_broken_role name;
    v_status text;
    v_message text;
    v_run_id bigint;
BEGIN
    IF p_run_by IS NULL OR NOT pg_catalog.pg_has_role(SESSION_USER, p_run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'trending: a run can only be recorded as run by the session''s own role'
            USING ERRCODE = '42501';
    END IF;
    v_timeout := (SELECT s.value FROM trending.settings s WHERE s.name = 'lease_idle_timeout')::pg_catalog.interval;
    PERFORM pg_catalog.pg_stat_clear_snapshot();  -- the sessions as they are now, not as this transaction first saw them
    SELECT a.backend_start INTO v_my_start FROM pg_catalog.pg_stat_get_activity(v_me) a;

    FOR v_attempt IN 1..3 LOOP
        BEGIN
            -- a short wait rather than NOWAIT: a few functions take the lock
            -- for an instant on an OID before checking the caller may
            -- (brin_summarize_range), and any role may call them
            PERFORM pg_catalog.set_config('lock_timeout', '200ms', true);
            LOCK TABLE trending_private.cycle_lease IN SHARE UPDATE EXCLUSIVE MODE;
            PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
            SELECT * INTO v_lease FROM trending_private.cycle_lease;
            IF v_lease.run_id IS NOT NULL THEN
                IF v_lease.pid = v_me AND v_lease.backend_start = v_my_start THEN
                    v_broken := pg_catalog.format('run %s of this session (pid %s) was interrupted', v_lease.run_id, v_me);
                ELSE
                    SELECT a.pid, a.state, a.backend_start INTO v_holder
                    FROM pg_catalog.pg_stat_get_activity(v_lease.pid) a;
                    IF v_holder.pid IS NULL OR v_holder.backend_start IS DISTINCT FROM v_lease.backend_start THEN
                        v_broken := pg_catalog.format('the backend of run %s (pid %s, role %s) ended before the run finished',
                                                      v_lease.run_id, v_lease.pid, v_lease.role);
                    ELSIF v_lease.renewed_at < pg_catalog.clock_timestamp() - v_timeout THEN
                        -- not in a step (this transaction holds the lock a step
                        -- holds throughout), and none ended since: the session
                        -- is idle, or busy with something else
                        v_broken := pg_catalog.format('pid %s (role %s) held the cycle lease of run %s without running a'
                                                      ' step since %s (now %s), longer than lease_idle_timeout (%s):'
                                                      ' the lease was broken',
                                                      v_lease.pid, v_lease.role, v_lease.run_id, v_lease.renewed_at,
                                                      v_holder.state, v_timeout);
                    ELSE
                        -- a scheduled run between two steps: let go of the lock
                        -- at once (the error rolls this block back), or its next
                        -- step would wait for this call's caller to commit
                        RAISE EXCEPTION USING ERRCODE = 'TRSKP',
                            MESSAGE = pg_catalog.format('another cycle is running (pid %s)', v_lease.pid);
                    END IF;
                END IF;
                UPDATE trending.runs
                SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(), message = v_broken
                WHERE run_id = v_lease.run_id AND status = 'running';
                v_broken_pid := v_lease.pid;
                v_broken_role := v_lease.role;
            END IF;
            IF v_broken IS NOT NULL THEN
                UPDATE trending_private.cycle_lease
                SET broken_pid = v_broken_pid, broken_role = v_broken_role,
                    broken_at = pg_catalog.clock_timestamp(), broken_reason = v_broken;
            END IF;
            UPDATE trending_private.cycle_lease
            SET run_id = NULL, pid = v_me, backend_start = v_my_start, role = p_run_by,
                taken_at = pg_catalog.clock_timestamp(), taken_xact = pg_catalog.pg_current_xact_id(),
                renewed_at = pg_catalog.clock_timestamp();
            v_status := 'taken';
        EXCEPTION WHEN SQLSTATE 'TRSKP' THEN
            v_status := 'skipped';
            v_message := SQLERRM;
        WHEN lock_not_available THEN
            PERFORM pg_catalog.pg_stat_clear_snapshot();
            SELECT l.pid, pg_catalog.pg_get_userbyid(a.usesysid) AS usename, a.state, a.state_change INTO v_holder
            FROM pg_catalog.pg_locks l
            LEFT JOIN pg_catalog.pg_stat_get_activity(l.pid) a ON true
            WHERE l.locktype = 'relation' AND l.relation = 'trending_private.cycle_lease'::pg_catalog.regclass
              AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
              AND l.mode = 'ShareUpdateExclusiveLock' AND l.granted AND l.pid <> v_me
            LIMIT 1;
            IF v_holder.pid IS NOT NULL THEN
                IF v_holder.state IN ('idle in transaction', 'idle in transaction (aborted)')
                   AND v_holder.state_change < pg_catalog.clock_timestamp() - v_timeout AND v_attempt < 3 THEN
                    -- a cycle transaction left open: end its backend, then try again
                    v_broken := pg_catalog.format('pid %s (role %s) was idle in transaction with the cycle lock since %s,'
                                                  ' longer than lease_idle_timeout (%s): its backend was ended',
                                                  v_holder.pid, v_holder.usename, v_holder.state_change, v_timeout);
                    v_broken_pid := v_holder.pid;
                    v_broken_role := v_holder.usename;
                    PERFORM pg_catalog.pg_terminate_backend(v_holder.pid, 5000);
                    v_status := 'retry';
                ELSE
                    -- name the run between two steps if there is one (the
                    -- lock's holder may be another call about to skip)
                    SELECT c.pid INTO v_lease FROM trending_private.cycle_lease c
                    WHERE c.run_id IS NOT NULL AND c.pid <> v_me
                      AND EXISTS (SELECT FROM pg_catalog.pg_stat_get_activity(c.pid) a
                                  WHERE a.backend_start = c.backend_start);
                    v_status := 'skipped';
                    v_message := pg_catalog.format('another cycle is running (pid %s)',
                                                   COALESCE(v_lease.pid, v_holder.pid));
                END IF;
            ELSE
                SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (role %s, %s, %s)', l.pid,
                                                               COALESCE(pg_catalog.pg_get_userbyid(a.usesysid)::text, '?'),
                                                               COALESCE(a.backend_type, '?'),
                                                               CASE WHEN l.granted THEN 'holds ' ELSE 'waits for ' END
                                                               OPERATOR(pg_catalog.||) l.mode),
                                             ', ' ORDER BY l.pid)
                INTO v_blockers
                FROM pg_catalog.pg_locks l
                LEFT JOIN pg_catalog.pg_stat_get_activity(l.pid) a ON true
                WHERE l.locktype = 'relation' AND l.relation = 'trending_private.cycle_lease'::pg_catalog.regclass
                  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
                  AND l.pid <> v_me
                  AND l.mode IN ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock',
                                 'ExclusiveLock', 'AccessExclusiveLock');
                IF v_blockers IS NULL AND v_attempt < 3 THEN
                    v_status := 'retry';  -- whoever it was has let go
                ELSE
                    v_status := 'failed';
                    v_message := pg_catalog.format('the cycle lock is blocked by %s: not a cycle',
                                                   COALESCE(v_blockers, 'backends that let go at once, again and again'));
                END IF;
            END IF;
        END;
        EXIT WHEN v_status <> 'retry';
    END LOOP;

    IF v_status = 'taken' THEN
        RETURN pg_catalog.jsonb_build_object('status', 'taken');
    END IF;
    INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, run_by, sqlstate, message)
    VALUES (p_trigger, v_status, pg_catalog.clock_timestamp(), p_now, p_run_by,
            CASE WHEN v_status = 'failed' THEN '55P03' END, v_message)
    RETURNING run_id INTO v_run_id;
    RETURN pg_catalog.jsonb_build_object('status', v_status, 'run_id', v_run_id, 'message', v_message);
END;
$function$;

-- source: sql/functions/_own_run.sql
-------------------------------------------------------------------------------
-- _own_run
-- Raise unless run p_run_id is this backend's own running run: its row says
-- pid = pg_backend_pid() and status 'running', and the cycle lease names
-- this run and this backend (pid and backend_start: so the row cannot be a
-- dead backend's whose pid was reused, nor a run whose lease was broken).
-- Every function that writes for a run checks this first, so a role that
-- may run cycles can write only through its own run, never another
-- session's. It first takes the lease's table lock (waiting at most
-- lock_timeout): a cycle breaking this run's lease holds it, so the two
-- never both go on.
CREATE FUNCTION trending._own_run(p_run_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_pid integer;
    v_status text;
BEGIN
    SELECT r.pid, r.status INTO v_pid, v_status FROM trending.runs r WHERE r.run_id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'trending: run % does not exist', p_run_id USING ERRCODE = '22023';
    END IF;
    IF v_pid <> pg_catalog.pg_backend_pid() THEN
        RAISE EXCEPTION 'trending: run % belongs to another session (pid %)', p_run_id, v_pid
            USING ERRCODE = '42501',
                  HINT = 'A session can only continue or write for the run it started itself.';
    END IF;
    IF v_status <> 'running' THEN
        RAISE EXCEPTION 'trending: run % is %, not running', p_run_id, v_status USING ERRCODE = '55000';
    END IF;
    LOCK TABLE trending_private.cycle_lease IN SHARE UPDATE EXCLUSIVE MODE;
    IF NOT EXISTS (
        SELECT FROM trending_private.cycle_lease c
        WHERE c.run_id = p_run_id AND c.pid = pg_catalog.pg_backend_pid()
          AND c.backend_start = (SELECT a.backend_start
                                 FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a)) THEN
        RAISE EXCEPTION 'trending: this session does not hold the cycle lease of run %', p_run_id
            USING ERRCODE = '55000',
                  HINT = 'Its lease was broken (see trending.status): start a new cycle.';
    END IF;
END;
$function$;

-- source: sql/functions/_preview.sql
-------------------------------------------------------------------------------
-- _preview
-- Stage a cycle at `now` without writing it (extension/trending_pl/preview.py):
-- the cycle's own staging as the caller, the rows it would insert, update and
-- delete kept in pg_temp.trending_preview for trending.preview() to return.
-- No run row, no cycle lease, nothing written but temp tables.
--
-- The same SET clauses as trending._recompute: TimeZone and DateStyle pinned
-- so nothing depends on the session; work_mem, lock_timeout and parallelism
-- are set from trending.settings inside and restored on return.
CREATE FUNCTION trending._preview(now timestamptz)
RETURNS bigint
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET work_mem = '128MB'
SET lock_timeout = '5s'
SET max_parallel_workers_per_gather = 2
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import preview
return preview.stage(plpy, now)
$python$;

-- source: sql/functions/_privileges.sql
-------------------------------------------------------------------------------
-- _privileges
-- Grant (p_grant) or revoke one set of privileges for role p_role; the body
-- of grant_cycle, grant_read, grant_configure and their revoke_ twins.
--
--   cycle:     run cycles through recompute() and scheduled_recompute()
--              (and preview() and explain_*(): they read what a cycle reads): the
--              entry points and the routines they call as the invoker
--              (including the plpython3u ones: PL/Python checks EXECUTE on
--              them as the caller, see docs/security.md), the SECURITY
--              DEFINER writers (and _capture_snapshot and _capture_arm), USAGE on
--              the configured source schema and
--              SELECT on exactly the source tables a cycle reads, TEMP on
--              this database. No write privilege on any table.
--   read:      the status and metrics views, the read functions and
--              trending.movers_top (movers() reads it as the caller).
--   configure: UPDATE and DELETE on trending.settings and trending.strategies.
--   cycle_routines: only the cycle's routines (for the upgrade from 1.0).
-- Every set also grants USAGE on schema trending and SELECT on the score
-- tables, settings and strategies (PUBLIC's by default), cycle and read
-- also SELECT on trending.capture_status; revoke_* leaves those, since
-- another set may need them.
--
-- The source tables are those of extension/trending_pl/sources.py
-- REQUIRED_COLUMNS (test_trust_cycle.py checks the two lists agree). They
-- must exist when granting: a cycle reads them all. Idempotent.
CREATE FUNCTION trending._privileges(p_set text, p_role name, p_grant boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_verb text := CASE WHEN p_grant THEN 'GRANT' ELSE 'REVOKE' END;
    v_to text := CASE WHEN p_grant THEN 'TO' ELSE 'FROM' END;
    v_sources text[] := ARRAY['tracks', 'plays', 'saves', 'reposts', 'users', 'aggregate_user',
                              'aggregate_track', 'aggregate_plays', 'aggregate_playlist', 'playlists'];
    v_cycle_routines text[] := ARRAY[
        'trending.recompute(timestamptz, boolean)', 'trending._recompute(timestamptz, boolean)',
        'trending.scheduled_recompute(timestamptz, boolean)', 'trending._scheduled_start(timestamptz, boolean)',
        'trending._scheduled_step(bigint, integer)', 'trending._python_init()',
        'trending._raise(text, text, text, text)', 'trending._validate_setting(text, text)',
        'trending._check_sources(text, jsonb)',
        'trending._own_run(bigint)', 'trending._run_begin(text, timestamptz, name, jsonb)',
        'trending._lease_take(text, timestamptz, name)', 'trending._cycle_holder()',
        'trending._run_step_done(bigint, text, double precision, jsonb, jsonb, text, text, jsonb, jsonb)',
        'trending._run_finish(bigint)', 'trending._run_fail(bigint, text, text, text, text)',
        'trending._apply_slice(bigint, text, text, text, text, timestamp, oid)',
        'trending._remove_slice(bigint, text, text, text, text)',
        -- a cycle takes the capture's snapshot, then arms or advances it (all check the cycle lease)
        'trending._capture_snapshot(interval)', 'trending._capture_arm(text)',
        'trending._capture_advance()', 'trending._state_write(bigint, text, boolean)',
        'trending._state_advance(bigint, timestamp, timestamp)',
        'trending._state_finish(bigint, timestamp, text, text)',
        -- the last step records the movers' top lists (issue 11)
        'trending._record_top(bigint, integer, integer, boolean)',
        -- the temp tables the writers read are made by the owner (issue 17)
        'trending._staging_table(text)', 'trending._staging_analyze(text)', 'trending._staging_drop()'];
    v_read_routines text[] := ARRAY[
        'trending.top_tracks(text, text, integer, integer, text)',
        'trending.underground_tracks(text, text, integer, integer)',
        'trending.top_playlists(text, integer, integer)',
        'trending._validate_choice(text, text, text[])', 'trending._validate_page(integer, integer)',
        'trending._check_sources(text, jsonb)',  -- underground_tracks checks the sources it reads
        'trending._cycle_holder()',  -- trending.status reads it
        'trending.movers(text, text, text)'];
    -- issue 11: a preview stages a cycle as the caller and an explanation reads
    -- the sources for one item: part of the cycle set, they need what it needs
    v_insight_routines text[] := ARRAY[
        'trending.preview(timestamptz)', 'trending._preview(timestamptz)',
        'trending.explain_track(integer, text, text, timestamptz)',
        'trending.explain_playlist(integer, text, timestamptz)',
        'trending._explain(text, integer, text, text, timestamptz)'];
    -- what an incremental cycle reads of trending's own: the delta rows and the state
    v_cycle_relations text[] := ARRAY[
        'trending._capture_changed', 'trending._capture_play_hours', 'trending._state_meta',
        'trending._state_tracks', 'trending._state_playlists', 'trending._state_playlist_owners',
        'trending._state_track_users', 'trending._state_playlist_users',
        'trending._state_play_buckets', 'trending._state_track_actions', 'trending._state_playlist_hours'];
    v_routine text;
    v_schema text;
    v_missing text[];
BEGIN
    IF p_role IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = p_role) THEN
        RAISE EXCEPTION 'trending: role "%" does not exist', p_role
            USING ERRCODE = '42704', HINT = 'CREATE ROLE it first (for a pg_cron job: WITH LOGIN).';
    END IF;
    -- GRANT without the grant option only warns; say clearly who may do this
    IF NOT pg_catalog.pg_has_role(CURRENT_USER,
                                  (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'trending'),
                                  'USAGE') THEN
        RAISE EXCEPTION 'trending: only the extension''s owner or a superuser may grant or revoke its privileges'
            USING ERRCODE = '42501';
    END IF;

    IF p_grant THEN
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA trending TO %I', p_role);
        EXECUTE pg_catalog.format('GRANT SELECT ON trending.settings, trending.strategies, '
                                  'trending.track_trending_scores, trending.playlist_trending_scores TO %I', p_role);
        -- a cycle asks the capture's state first; readers see it next to the
        -- status (PUBLIC's by default, like the above)
        IF p_set IN ('cycle', 'cycle_routines', 'read') AND pg_catalog.to_regclass('trending.capture_status') IS NOT NULL THEN
            EXECUTE pg_catalog.format('GRANT SELECT ON trending.capture_status TO %I', p_role);
        END IF;
    END IF;

    IF p_set IN ('cycle', 'cycle_routines') THEN
        FOREACH v_routine IN ARRAY v_cycle_routines || v_insight_routines LOOP
            IF pg_catalog.to_regprocedure(v_routine) IS NOT NULL THEN
                EXECUTE pg_catalog.format('%s EXECUTE ON ROUTINE %s %s %I', v_verb, v_routine, v_to, p_role);
            END IF;
        END LOOP;
        FOREACH v_routine IN ARRAY v_cycle_relations LOOP
            IF pg_catalog.to_regclass(v_routine) IS NOT NULL THEN
                EXECUTE pg_catalog.format('%s SELECT ON %s %s %I', v_verb, v_routine, v_to, p_role);
            END IF;
        END LOOP;
        IF p_set = 'cycle_routines' THEN  -- the upgrade from 1.0 gives cycle roles the new routines
            RETURN;
        END IF;
        EXECUTE pg_catalog.format('%s TEMPORARY ON DATABASE %I %s %I', v_verb,
                                  pg_catalog.current_database(), v_to, p_role);
        SELECT s.value INTO v_schema FROM trending.settings s WHERE s.name = 'source_schema';
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.nspname = v_schema) THEN
            IF p_grant THEN
                RAISE EXCEPTION 'trending: source schema "%" does not exist', v_schema
                    USING ERRCODE = '3F000',
                          HINT = 'Set trending.settings.source_schema, create the source tables, then grant again.';
            END IF;
            RETURN;
        END IF;
        SELECT pg_catalog.array_agg(t ORDER BY o) INTO v_missing
        FROM pg_catalog.unnest(v_sources) WITH ORDINALITY AS u(t, o)
        WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schema, t)) IS NULL;
        IF v_missing IS NOT NULL AND p_grant THEN
            RAISE EXCEPTION 'trending: source table(s) % missing in schema "%"',
                            pg_catalog.array_to_string(v_missing, ', '), v_schema
                USING ERRCODE = '42P01',
                      HINT = 'A cycle reads every source table: create them (or set source_schema), then grant again.';
        END IF;
        EXECUTE pg_catalog.format('%s USAGE ON SCHEMA %I %s %I', v_verb, v_schema, v_to, p_role);
        EXECUTE pg_catalog.format('%s SELECT ON %s %s %I', v_verb,
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', v_schema, t), ', ')
             FROM pg_catalog.unnest(v_sources) AS t
             WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schema, t)) IS NOT NULL),
            v_to, p_role);
    ELSIF p_set = 'read' THEN
        EXECUTE pg_catalog.format('%s SELECT ON trending.status %s %I', v_verb, v_to, p_role);
        IF pg_catalog.to_regclass('trending.metrics') IS NOT NULL THEN
            EXECUTE pg_catalog.format('%s SELECT ON trending.metrics %s %I', v_verb, v_to, p_role);
        END IF;
        IF pg_catalog.to_regclass('trending.movers_top') IS NOT NULL THEN  -- movers() reads it as the caller
            EXECUTE pg_catalog.format('%s SELECT ON trending.movers_top %s %I', v_verb, v_to, p_role);
        END IF;
        FOREACH v_routine IN ARRAY v_read_routines LOOP
            EXECUTE pg_catalog.format('%s EXECUTE ON FUNCTION %s %s %I', v_verb, v_routine, v_to, p_role);
        END LOOP;
    ELSIF p_set = 'configure' THEN
        EXECUTE pg_catalog.format('%s UPDATE, DELETE ON trending.settings, trending.strategies %s %I',
                                  v_verb, v_to, p_role);
    ELSE
        RAISE EXCEPTION 'trending: unknown privilege set %', p_set USING ERRCODE = '22023';
    END IF;
END;
$function$;

-- source: sql/functions/_python_init.sql
-------------------------------------------------------------------------------
-- _python_init
-- Make the trending_pl package importable in this session's Python.
--
-- The build embeds the source of extension/trending_pl/*.py below (the marker
-- line becomes SOURCES and DIGEST), so CREATE EXTENSION
-- alone installs the Python code and the SQL and the code can never be of
-- different versions. Modules are served by a finder on sys.meta_path and
-- cached per session; a session that outlives ALTER EXTENSION ... UPDATE sees
-- a new DIGEST and reloads.
CREATE FUNCTION trending._python_init()
RETURNS text
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $python$
import importlib.abc
import importlib.util
import sys

SOURCES = {
    'trending_pl': '"""trending_pl: the Python half of the trending extension.\n\nIt runs inside PostgreSQL (PL/Python, the server\'s own Python, stdlib only).\nThe install script embeds these modules (see sql/functions/_python_init.sql);\nnothing here imports ``plpy`` at module level: functions that talk to the\ndatabase take it as their first argument, so every module also imports\noutside the server, where the unit tests pass a fake.\n"""\n\n__version__ = "1.2"  # must equal default_version in trending.control\n',
    'trending_pl.capture': '"""Change capture: what changed in the source tables since the last cycle.\n\nStatement-level AFTER triggers (sql/functions/_capture_<table>.sql, generated\nby tools/generate_capture.py) append the ids of changed rows to UNLOGGED delta\ntables in schema trending, in the writer\'s transaction. They run as the role\ntrending_capture (SECURITY DEFINER), which may only append there: the\nservice\'s writers need no privilege in schema trending and have none. See\ndocs/incremental.md for the design and its cost.\nThis module installs and removes the triggers and answers the one question\na cycle asks first: may I run incrementally, and if not, why?\n\nProtocol for a cycle (the cycle lease held throughout):\n\n    st = capture.state(plpy)                 # before reading any source\n    snap = capture.snapshot(plpy, timeout)   # the cycle\'s snapshot, the last one\'s\n    if st["incremental"] and snap["unrecorded"] is None:\n        read the delta rows consumed(snap) names, rescore what they name,\n        then, in the transaction that commits that state:\n        reason = capture.advance(plpy)       # None, or why the next cycle must be full\n    else:                                    # full cycle, reason st["reason"]\n        recompute everything, then in the transaction that commits it:\n        reason = capture.arm(plpy, st["fingerprint"])\n\nExactness (pgq\'s method): a delta row commits in the same transaction as\nthe change it names and carries that transaction\'s id (tx). A cycle takes\nits snapshot S before it reads anything and consumes the rows of the\ntransactions visible in S and not in the last consuming cycle\'s: every\nlater statement of the cycle sees those transactions, so all its reads\nagree on that set, and a transaction still open (or prepared) is in no\nconsumed set until a snapshot sees it committed, exactly once. Reading the\nsources after S sees at least every change visible in S; a change of a\ntransaction not visible in S may be seen too and is then processed again\nby the cycle that consumes its rows, which must therefore be idempotent\n(rescore the items named); play-hour counts are deltas, so a full cycle\nsubtracts from the plays it reads those of the delta rows not visible in S\n(after()), in the same statement.\n\nNothing here imports plpy: functions take it as their first argument.\n"""\n\nfrom __future__ import annotations\n\nimport json\n\nfrom trending_pl import sources\n\n# Source code (as stored in the delta tables) -> table, as in sql/schema/80_capture.sql.\nSOURCES = {1: "tracks", 2: "plays", 3: "saves", 4: "reposts", 5: "users", 6: "aggregate_user",\n           7: "aggregate_track", 8: "aggregate_plays", 9: "aggregate_playlist", 10: "playlists"}\nTABLES = tuple(SOURCES[code] for code in sorted(SOURCES))\n\n# the capture triggers\' names; trending._capture_cover creates them, and\n# trending._capture_catalog and _intact check their shape\nTRIGGERS = ("trending_capture_insert", "trending_capture_update", "trending_capture_delete",\n            "trending_capture_truncate")\nDELTA_TABLES = ("trending._capture_changes", "trending._capture_plays", "trending._capture_truncates")\n# the owner of the trigger functions (sql/grants.sql): they run as it\nCAPTURE_ROLE = "trending_capture"\nCAPTURE_FUNCTIONS_SQL = ("SELECT p.oid FROM pg_catalog.pg_proc p "\n                         "WHERE p.pronamespace = \'trending\'::pg_catalog.regnamespace "\n                         "AND p.proname = ANY (ARRAY[{}]) AND p.pronargs = 0")\n\n\ndef state(plpy, schema: str | None = None) -> dict:\n    """May the next cycle be incremental? {"incremental": bool, "reason": str | None\n    (the first reason a full cycle is needed), "reasons": [...], "since": the\n    watermark (None when not armed), "fingerprint": pass it to arm(), ...}.\n    `schema`: the source schema the cycle reads (default: the setting\'s).\n    Read-only; call it before reading the sources."""\n    row = plpy.execute("SELECT s.installed, s.armed, s.incremental_ok, s.full_cycle_reason, "\n                       "s.full_cycle_reasons, s.consumed_upto, s.captured_upto, s.pending_changes, "\n                       "s.pending_plays, s.fingerprint, s.source_schema FROM trending.capture_status s")[0]\n    reasons = list(row["full_cycle_reasons"] or [])\n    if schema is not None and schema != row["source_schema"]:\n        reasons.insert(0, f\'the cycle reads schema "{schema}", the capture follows "{row["source_schema"]}"\')\n    return {"incremental": not reasons, "reason": reasons[0] if reasons else None,\n            "reasons": reasons, "installed": bool(row["installed"]),\n            "armed": bool(row["armed"]), "since": row["consumed_upto"], "captured_upto": row["captured_upto"],\n            "pending_changes": row["pending_changes"], "pending_plays": row["pending_plays"],\n            "fingerprint": row["fingerprint"]}\n\n\n\ndef snapshot(plpy, timeout: str = "1s") -> dict:\n    """{"snapshot": S (text), "previous": the last consuming cycle\'s (text or\n    None), "unrecorded": None, or why the capture cannot be armed or advanced\n    at S (the cycle then runs full)}; see trending._capture_snapshot."""\n    row = plpy.execute("SELECT s.snapshot::text AS snapshot, s.previous::text AS previous, s.unrecorded "\n                       "FROM trending._capture_snapshot(" + plpy.quote_literal(timeout) + "::pg_catalog.interval) s")[0]\n    return {"snapshot": row["snapshot"], "previous": row["previous"], "unrecorded": row["unrecorded"]}\n\n\ndef _snapshot_literal(plpy, snapshot: str) -> str:\n    return plpy.quote_literal(snapshot) + "::pg_catalog.pg_snapshot"\n\n\ndef consumed(plpy, alias: str, now: str, previous: str) -> str:\n    """SQL condition: the delta row `alias` is of a transaction visible in the\n    cycle\'s snapshot `now` and not in the last one\'s `previous`."""\n    return (f"pg_catalog.pg_visible_in_snapshot({alias}.tx, {_snapshot_literal(plpy, now)})"\n            f" AND NOT pg_catalog.pg_visible_in_snapshot({alias}.tx, {_snapshot_literal(plpy, previous)})")\n\n\ndef after(plpy, alias: str, snapshot: str) -> str:\n    """SQL condition: the delta row `alias` is of a transaction not visible in `snapshot`."""\n    return f"NOT pg_catalog.pg_visible_in_snapshot({alias}.tx, {_snapshot_literal(plpy, snapshot)})"\n\n\ndef arm(plpy, fingerprint: str) -> str | None:\n    """After a full cycle: cover every change not visible in its snapshot from now on. None, or why not."""\n    return plpy.execute("SELECT trending._capture_arm(" + plpy.quote_literal(fingerprint) + ") AS reason")[0]["reason"]\n\n\ndef advance(plpy) -> str | None:\n    """After an incremental cycle: move the watermark to its snapshot. None, or why the next cycle must be full."""\n    return plpy.execute("SELECT trending._capture_advance() AS reason")[0]["reason"]\n\n\n# --------------------------------------------------------------------------\n# install / uninstall (superuser)\n# --------------------------------------------------------------------------\ndef _require_superuser(plpy, what: str) -> None:\n    row = plpy.execute("SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER")\n    if not (row and row[0]["rolsuper"]):\n        plpy.error(f"trending: {what} puts triggers on the service\'s tables and needs a superuser",\n                   sqlstate="42501",\n                   hint="Ask a superuser to run it: it locks the service\'s tables briefly; it grants nothing "\n                        "to anyone.")\n\n\ndef _setting(plpy, name: str) -> str:\n    return plpy.execute("SELECT s.value FROM trending.settings s WHERE s.name = "\n                        + plpy.quote_literal(name))[0]["value"]\n\n\ndef _capture_functions(plpy) -> list[int]:\n    names = ", ".join(plpy.quote_literal("_capture_" + t) for t in TABLES)\n    return [r["oid"] for r in plpy.execute(CAPTURE_FUNCTIONS_SQL.format(names))]\n\n\ndef _check_capture_role(plpy, functions: list[int]) -> None:\n    """The trigger functions run as their owner: it must be trending_capture,\n    which must have no way in (login, membership) and no power (superuser, ...)."""\n    wrong = plpy.execute(\n        "SELECT pg_catalog.string_agg(p.proname || \' (owner \' || r.rolname || CASE WHEN p.prosecdef THEN \'\' "\n        "ELSE \', not SECURITY DEFINER\' END || \')\', \', \' ORDER BY p.proname) AS list "\n        "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner "\n        f"WHERE p.oid = ANY (ARRAY[{\', \'.join(str(f) for f in functions)}]::oid[]) "\n        f"AND (r.rolname <> {plpy.quote_literal(CAPTURE_ROLE)} OR NOT p.prosecdef)")[0]["list"]\n    if wrong:\n        plpy.error(f"trending: the capture trigger functions must run as {CAPTURE_ROLE}: {wrong}",\n                   sqlstate="42501",\n                   hint="ALTER EXTENSION trending UPDATE (or reinstall the extension) restores them.")\n    powers = plpy.execute(\n        "SELECT r.rolsuper OR r.rolcanlogin OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "\n        "OR r.rolbypassrls OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m "\n        "WHERE r.oid IN (m.roleid, m.member)) AS more FROM pg_catalog.pg_roles r "\n        f"WHERE r.rolname = {plpy.quote_literal(CAPTURE_ROLE)}")\n    if powers and powers[0]["more"]:\n        plpy.error(f"trending: role {CAPTURE_ROLE} has attributes or memberships it must not have",\n                   sqlstate="42501",\n                   detail="The capture triggers run as it: a way to log in or act as it could forge captured changes.",\n                   hint=f"ALTER ROLE {CAPTURE_ROLE} NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION "\n                        "NOBYPASSRLS, and revoke its memberships (trending doctor lists them).")\n\n\ndef _intact(plpy, relid: int, table: str) -> bool:\n    """Are the four capture triggers of `table` on relid, as install creates them?"""\n    names = ", ".join(plpy.quote_literal(n) for n in TRIGGERS)\n    trig = plpy.execute(\n        "SELECT pg_catalog.count(*) AS n FROM pg_catalog.pg_trigger g "\n        f"WHERE g.tgrelid = {int(relid)} AND g.tgname IN ({names}) AND g.tgenabled = \'A\' "\n        "AND g.tgfoid = " + plpy.quote_literal(f"trending._capture_{table}()") + "::pg_catalog.regprocedure "\n        "AND g.tgnargs = 0 AND g.tgqual IS NULL "\n        "AND g.tgtype = CASE g.tgname WHEN \'trending_capture_insert\' THEN 4 WHEN \'trending_capture_update\' THEN 16 "\n        "WHEN \'trending_capture_delete\' THEN 8 ELSE 32 END "\n        "AND g.tgoldtable IS NOT DISTINCT FROM CASE WHEN g.tgname IN (\'trending_capture_update\', "\n        "\'trending_capture_delete\') THEN \'capture_old\' END "\n        "AND g.tgnewtable IS NOT DISTINCT FROM CASE WHEN g.tgname IN (\'trending_capture_insert\', "\n        "\'trending_capture_update\') THEN \'capture_new\' END")\n    return trig[0]["n"] == len(TRIGGERS)\n\n\ndef install(plpy) -> str:\n    """Body of trending.install_capture(): see sql/functions/install_capture.sql."""\n    _require_superuser(plpy, "install_capture()")\n    schema = _setting(plpy, "source_schema")\n    # the tables must be the service\'s plain tables, of the types a cycle reads\n    sources.lock_and_check(plpy, schema)\n    plpy.execute("SELECT pg_catalog.set_config(\'lock_timeout\', "\n                 + plpy.quote_literal(_setting(plpy, "lock_timeout")) + ", true)")\n    result = {"source_schema": schema, "tables": {}, "removed": []}\n    relids = {}\n    partitions = {}  # table -> [(relid, qualified name)], every level under it\n    for table in TABLES:\n        row = plpy.execute(\n            "SELECT c.oid, c.relkind, EXISTS (SELECT FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class k "\n            "ON k.oid = h.inhrelid WHERE h.inhparent = c.oid AND NOT k.relispartition) AS has_children "\n            "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass("\n            + plpy.quote_literal(_qualified(plpy, schema, table)) + ")")[0]\n        if row["relkind"] not in ("r", "p") or row["has_children"]:\n            plpy.error(f"trending: cannot capture changes of {schema}.{table}: it has inheritance children, "\n                       "and writes to those would bypass statement triggers on it",\n                       sqlstate="0A000",\n                       hint="Capture needs plain or declaratively partitioned tables; without it every cycle "\n                            "runs full.")\n        relids[table] = row["oid"]\n        partitions[table] = _partitions(plpy, row["oid"], f"{schema}.{table}")\n\n    functions = _capture_functions(plpy)\n    if len(functions) != len(TABLES):\n        plpy.error("trending: the capture functions are missing", sqlstate="XX000",\n                   hint="ALTER EXTENSION trending UPDATE, or reinstall the extension.")\n    _check_capture_role(plpy, functions)\n    # capture triggers on other relations: an old source schema, a table renamed away, a partition detached\n    covered = list(relids.values()) + [relid for parts in partitions.values() for relid, _ in parts]\n    stray = plpy.execute(\n        "SELECT g.tgname, g.tgrelid::pg_catalog.regclass::text AS rel FROM pg_catalog.pg_trigger g "\n        f"WHERE g.tgfoid = ANY (ARRAY[{\', \'.join(str(f) for f in functions)}]::oid[]) "\n        f"AND g.tgrelid <> ALL (ARRAY[{\', \'.join(str(r) for r in covered)}]::oid[]) "\n        "ORDER BY 2, 1")\n    for trigger in stray:\n        plpy.notice(f"trending: removing capture trigger {trigger[\'tgname\']} from {trigger[\'rel\']}, "\n                    "which is no longer a source table; this briefly locks it (ACCESS EXCLUSIVE)")\n        plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger[\'tgname\'])} ON {trigger[\'rel\']}")\n        result["removed"].append(f"{trigger[\'rel\']}.{trigger[\'tgname\']}")\n\n    # the source tables, then (partitioned sources) every partition at every\n    # level: statement triggers fire only for the table a statement names\n    result["partitions"] = {}\n    for table in TABLES:\n        qualified = _qualified(plpy, schema, table)\n        if not _intact(plpy, relids[table], table):\n            plpy.notice(f"trending: installing capture triggers on {qualified}; this briefly locks the table "\n                        "(SHARE ROW EXCLUSIVE: its writers wait, its readers do not)")\n        result["tables"][table] = _cover(plpy, relids[table], qualified, table, functions)\n        for relid, partition in partitions[table]:\n            result["partitions"][partition] = _cover(plpy, relid, partition, table, functions)\n    # nothing is granted: the triggers run as trending_capture, whatever role writes\n\n    for code, table in sorted(SOURCES.items()):\n        plpy.execute(\n            "INSERT INTO trending._capture_installed (source, source_schema, relid) VALUES "\n            f"({code}, {plpy.quote_literal(schema)}, {int(relids[table])}) "\n            "ON CONFLICT (source) DO UPDATE SET source_schema = excluded.source_schema, relid = excluded.relid, "\n            "installed_at = CASE WHEN trending._capture_installed.relid = excluded.relid "\n            "  AND trending._capture_installed.source_schema = excluded.source_schema "\n            "  THEN trending._capture_installed.installed_at ELSE excluded.installed_at END, "\n            "installed_by = excluded.installed_by")\n    # Recording starts with the triggers (issue 16): the armed row says until\n    # when the triggers record; the first full cycle arms it. A row already\n    # there (reinstall) is the cycles\' business (_capture_arm).\n    plpy.execute("INSERT INTO trending._capture_armed (since, fingerprint, record_until) "\n                 "SELECT 0, \'\', pg_catalog.now() + s.value::pg_catalog.interval FROM trending.settings s "\n                 "WHERE s.name = \'capture_max_pause\' ON CONFLICT (one) DO NOTHING")\n    if any(v != "kept" for v in list(result["tables"].values()) + list(result["partitions"].values())) \\\n            or result["removed"]:\n        plpy.notice("trending: change capture installed; the next cycle runs full and arms it "\n                    "(SELECT * FROM trending.capture_status)")\n    return json.dumps(result)\n\n\ndef uninstall(plpy) -> str:\n    """Body of trending.uninstall_capture(): see sql/functions/uninstall_capture.sql."""\n    _require_superuser(plpy, "uninstall_capture()")\n    plpy.execute("SELECT pg_catalog.set_config(\'lock_timeout\', "\n                 + plpy.quote_literal(_setting(plpy, "lock_timeout")) + ", true)")\n    functions = _capture_functions(plpy)\n    result = {"removed": []}\n    if functions:\n        triggers = plpy.execute(\n            "SELECT g.tgname, g.tgrelid::pg_catalog.regclass::text AS rel FROM pg_catalog.pg_trigger g "\n            f"WHERE g.tgfoid = ANY (ARRAY[{\', \'.join(str(f) for f in functions)}]::oid[]) ORDER BY 2, 1")\n        for rel in sorted({t["rel"] for t in triggers}):\n            plpy.notice(f"trending: removing capture triggers from {rel}; this briefly locks the table "\n                        "(ACCESS EXCLUSIVE)")\n        for trigger in triggers:\n            plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger[\'tgname\'])} ON {trigger[\'rel\']}")\n            result["removed"].append(f"{trigger[\'rel\']}.{trigger[\'tgname\']}")\n    # install granted nothing, so there is nothing to revoke (trending_capture\n    # keeps its grants: they come with the extension, see sql/grants.sql)\n    for table in ("trending._capture_armed", "trending._capture_installed") + DELTA_TABLES:\n        plpy.execute(f"DELETE FROM {table}")\n    return json.dumps(result)\n\n\ndef _partitions(plpy, relid: int, name: str) -> list[tuple[int, str]]:\n    """The partitions of relid, every level, as (relid, schema-qualified name);\n    an error if one cannot carry the capture triggers (a foreign table)."""\n    rows = plpy.execute(\n        "SELECT t.relid::pg_catalog.oid AS relid, pg_catalog.format(\'%I.%I\', n.nspname, c.relname) AS name, "\n        "c.relkind FROM pg_catalog.pg_partition_tree(" + str(int(relid)) + "::pg_catalog.regclass) t "\n        "JOIN pg_catalog.pg_class c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "\n        "WHERE t.level > 0 ORDER BY t.level, c.relname")\n    odd = [r["name"] for r in rows if r["relkind"] not in ("r", "p")]\n    if odd:\n        plpy.error(f"trending: cannot capture changes of {name}: its partition(s) {\', \'.join(odd)} are not plain "\n                   "tables and cannot carry the capture triggers", sqlstate="0A000",\n                   hint="Capture needs plain or declaratively partitioned tables; without it every cycle runs full.")\n    return [(r["relid"], r["name"]) for r in rows]\n\n\ndef _cover(plpy, relid: int, qualified: str, table: str, functions: list[int]) -> str:\n    """Put the capture triggers of `table` on relid (the source table or a\n    partition) unless intact there: kept, installed or replaced."""\n    if _intact(plpy, relid, table):\n        return "kept"\n    existing = plpy.execute(\n        "SELECT g.tgname FROM pg_catalog.pg_trigger g "\n        f"WHERE g.tgrelid = {int(relid)} AND (g.tgname LIKE \'trending\\\\_capture\\\\_%\' "\n        f"OR g.tgfoid = ANY (ARRAY[{\', \'.join(str(f) for f in functions)}]::oid[])) ORDER BY 1")\n    for trigger in existing:\n        plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger[\'tgname\'])} ON {qualified}")\n    plpy.execute(f"SELECT trending._capture_cover({int(relid)}, {plpy.quote_literal(table)})")\n    return "replaced" if existing else "installed"\n\n\ndef _qualified(plpy, schema: str, table: str) -> str:\n    return f"{plpy.quote_ident(schema)}.{plpy.quote_ident(table)}"\n',
    'trending_pl.config': '"""Read the extension\'s configuration: trending.settings and trending.strategies."""\n\nfrom __future__ import annotations\n\nfrom dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass Strategy:\n    type: str\n    version: str\n    kind: str  # \'track\' or \'playlist\': which score table it writes\n    time_ranges: tuple[str, ...]\n    enabled: bool\n\n    @property\n    def key(self) -> str:\n        return f"{self.type}/{self.version}"\n\n\ndef read_settings(plpy) -> dict[str, str]:\n    rows = plpy.execute("SELECT name, value FROM trending.settings")\n    return {row["name"]: row["value"] for row in rows}\n\n\ndef read_strategies(plpy) -> list[Strategy]:\n    rows = plpy.execute(\n        "SELECT type, version, kind, time_ranges, enabled FROM trending.strategies"\n        " ORDER BY kind DESC, type, version")\n    return [Strategy(r["type"], r["version"], r["kind"], tuple(r["time_ranges"]), bool(r["enabled"]))\n            for r in rows]\n',
    'trending_pl.cycle': '"""A cycle as a list of steps, each small enough to be its own transaction.\n\nThe plan is fixed when a run starts (settings, the strategies switched on,\nthe steps) and kept in the session\'s memory (runs.py; the run\'s row keeps a\ncopy for the record, never read back), so that the scheduled procedure can\ncommit between steps and still run exactly what it planned: check the\nsources; then per kind of item (tracks, playlists) stage the shared inputs,\nthen the changes (private temp tables, kept across the procedure\'s commits),\nthen one step per slice that writes them; last, record the movers\' lists and\nwrite the incremental state (FINISH_STEPS). recompute() runs the same steps\nin one transaction; the procedure runs the last slice and FINISH_STEPS in one\n(transaction_steps).\n\nEach slice is written by one statement, so a reader sees a slice either\nbefore or after its step, never in between.\n"""\n\nfrom __future__ import annotations\n\nimport json\nimport time\n\nfrom . import capture, config, hooks, incremental, inputs, runs, slices, sources\nfrom .config import Strategy\n\nCHECK_SOURCES = "check_sources"\nINPUTS = {"track": "track_inputs", "playlist": "playlist_inputs"}\nCHANGES = {"track": "track_changes", "playlist": "playlist_changes"}\nSTAGE_STEPS = (CHECK_SOURCES, *INPUTS.values(), *CHANGES.values())\n# After every slice: the top lists as this cycle leaves them (movers()), then\n# the incremental state and the capture\'s watermark. Steps of their own, so\n# that their time is not booked under the last slice\'s.\nRECORD_MOVERS = "record_movers"\nWRITE_STATE = "write_state"\nFINISH_STEPS = (RECORD_MOVERS, WRITE_STATE)\n\n\ndef plan(plpy, full: bool = False) -> dict:\n    """What this run will do, as JSON-able data: per kind of item with an\n    enabled strategy, stage its inputs, then its changes, then apply each\n    slice; a disabled strategy\'s slices are cleared. Whether the cycle is\n    full or incremental is decided by its first step (begin_capture); `full`\n    asks for a full one. FINISH_STEPS come last, whatever is enabled."""\n    settings = config.read_settings(plpy)\n    strategies = config.read_strategies(plpy)\n    steps = [{"name": CHECK_SOURCES}]\n    for kind in ("track", "playlist"):\n        mine = [s for s in strategies if s.kind == kind]\n        if any(s.enabled for s in mine):\n            steps += [{"name": INPUTS[kind]}, {"name": CHANGES[kind]}]\n        for s in mine:\n            for time_range in s.time_ranges:\n                steps.append({"name": f"{s.key}/{time_range}", "type": s.type, "version": s.version,\n                              "kind": s.kind, "range": time_range, "enabled": s.enabled})\n    steps += [{"name": name} for name in FINISH_STEPS]\n    plan_ = {"source_schema": settings["source_schema"], "settings": settings, "steps": steps,\n             "full_requested": bool(full)}\n    plan_["fingerprint"] = incremental.fingerprint(plan_)\n    return plan_\n\n\ndef transaction_steps(plan_: dict, index: int) -> range:\n    """The steps the scheduled procedure runs in the transaction that begins\n    with step `index`: that step alone, but for the last slice\'s, which runs\n    with FINISH_STEPS in one transaction (each still timed and reported as a\n    step of its own). The state, the capture\'s watermark (armed or advanced)\n    and the run marked ok commit with the cycle\'s last scores or not at all:\n    a run recorded failed has armed and moved nothing, and no committed\n    moment has every slice at this cycle\'s now while the state, the\n    watermark and the movers\' lists still describe the previous cycle\n    (docs/incremental.md, "It moves in one transaction"). Holding the last\n    slice\'s commit back until then costs readers nothing: they never wait\n    on a cycle\'s locks."""\n    last_slice = len(plan_["steps"]) - len(FINISH_STEPS) - 1\n    return range(index, len(plan_["steps"])) if index >= last_slice else range(index, index + 1)\n\n\ndef _strategy(step: dict) -> Strategy:\n    return Strategy(step["type"], step["version"], step["kind"], (step["range"],), step["enabled"])\n\n\n# trending.settings name -> the server parameter it sets for a cycle\'s transactions\nSESSION_SETTINGS = {"work_mem": "work_mem", "lock_timeout": "lock_timeout",\n                    "parallel_workers": "max_parallel_workers_per_gather"}\n\n\n# What an incremental cycle\'s steps also set. jit: its statements read a\n# few thousand rows by index, but their estimates (ids = ANY (ARRAY(...))\n# over temp tables) pass jit_above_cost, and compiling them took 3.5 s of a\n# 6.9 s cycle at medium scale (docs/benchmark.md, "JIT compilation"). Full\n# cycles keep the server\'s setting: their statements are few and large.\nINCREMENTAL_PARAMETERS = {"jit": "off"}\n\n\ndef apply_session_settings(plpy, settings: dict, incremental: bool = False) -> None:\n    """work_mem, lock_timeout and parallelism (and, for an incremental\n    cycle, INCREMENTAL_PARAMETERS) for the rest of this transaction, or of\n    the calling function: the entry points pin settings, so a\n    set_config(..., true) ends with them."""\n    values = {parameter: settings[name] for name, parameter in SESSION_SETTINGS.items()}\n    if incremental:\n        values |= INCREMENTAL_PARAMETERS\n    for parameter, value in values.items():\n        plpy.execute(f"SELECT pg_catalog.set_config({plpy.quote_literal(parameter)}, "\n                     f"{plpy.quote_literal(value)}, true)")\n\n\ndef _stage_changes(plpy, run: dict, kind: str) -> dict:\n    """Stage every enabled slice of `kind`\'s changes; remember the score\n    table\'s filenode they were staged against (see slices.apply)."""\n    enabled = [(_strategy(s), s["range"]) for s in run["plan"]["steps"]\n               if s.get("kind") == kind and s["enabled"]]\n    ids = None\n    if run["cycle"]["kind"] == "incremental":  # less the share\'s items kept (incremental.keep_unchanged_share)\n        ids = f"pg_temp.trending_{kind}_{\'rescored\' if run[\'rotation\'] else \'affected\'}"\n    changes = slices.stage_changes(plpy, kind, enabled, ids)\n    run.setdefault("filenodes", {})[kind] = changes["filenode"]\n    return changes\n\n\ndef _incremental(run: dict) -> bool:\n    """Whether the run\'s first step decided an incremental cycle."""\n    return run.get("cycle", {}).get("kind") == "incremental"\n\n\ndef run_step(plpy, run: dict, index: int) -> None:\n    """Run step `index` of the run\'s plan and record it in the run\'s row."""\n    plan_ = run["plan"]\n    step = plan_["steps"][index]\n    apply_session_settings(plpy, plan_["settings"], _incremental(run))\n    source_schema = plan_["source_schema"]\n    started = time.monotonic()\n    name = step["name"]\n    bad_rows = slice_result = changes = None\n\n    cycle_ = None\n    if name == CHECK_SOURCES:\n        inputs.drop_temp_tables(plpy)  # a failed run earlier in this session may have left them\n        # before any source is read (the capture\'s snapshot); before their\n        # locks too, so that its wait for writers in flight (when arming)\n        # never holds a lock a writer may be queued on\n        cycle_ = begin_capture(plpy, run, source_schema, plan_["settings"])\n        if _incremental(run):  # for the rest of the step\n            apply_session_settings(plpy, plan_["settings"], incremental=True)\n        sources.lock_and_check(plpy, source_schema)\n    elif name in INPUTS.values():\n        # Every transaction that reads the sources checks them after taking\n        # the read\'s lock (the procedure commits between steps, and the owner\n        # may swap a table in between), and again before each statement that\n        # reads them and after the last: DDL that the read\'s lock does not\n        # conflict with (CREATE INDEX, CREATE STATISTICS, ATTACH PARTITION)\n        # could add what the check refuses. A change found after the last\n        # read fails the step, and its transaction\'s effects with it.\n        def guard(point: str) -> None:\n            hooks.pause_after(plpy, f"{name}/{point}")  # tests put DDL here\n            sources.lock_and_check(plpy, source_schema, name)\n\n        kind = next(k for k, v in INPUTS.items() if v == name)\n        bad_rows = stage_inputs(plpy, run, kind, inputs.Cycle.start(plpy, run["now"], source_schema), guard)\n    elif name in CHANGES.values():\n        changes = _stage_changes(plpy, run, next(k for k, v in CHANGES.items() if v == name))\n    elif name == RECORD_MOVERS:\n        record_top(plpy, run)  # the lists as this cycle leaves them, for movers()\n    elif name == WRITE_STATE:\n        finish_capture(plpy, run, inputs.Cycle.start(plpy, run["now"], source_schema))\n    elif step["enabled"]:\n        kind = step["kind"]\n        slice_result = slices.apply(plpy, run["run_id"], inputs.Cycle.start(plpy, run["now"], source_schema),\n                                    _strategy(step), step["range"], run.get("filenodes", {}).get(kind),\n                                    restage=lambda: _stage_changes(plpy, run, kind)["filenode"])\n    else:\n        slice_result = slices.remove(plpy, run["run_id"], _strategy(step), step["range"])\n\n    ms = round((time.monotonic() - started) * 1000, 1)\n    in_step = name in INPUTS.values()\n    runs.record_step(plpy, run["run_id"], name, ms, slice_key=None if slice_result is None else name,\n                     slice_result=slice_result, bad_rows=bad_rows, cycle=cycle_,\n                     affected=run["cycle"]["affected"] if in_step else None,\n                     drift=run["cycle"]["drift"] if in_step else None)\n    plpy.notice(progress_line(index, len(plan_["steps"]), name, ms, slice_result, bad_rows, changes))\n    if index == len(plan_["steps"]) - 1:\n        inputs.drop_temp_tables(plpy)\n    hooks.pause_after(plpy, name)\n\n\n# Arming the capture after it was not recording waits for the source\n# tables\' writers that started before it recorded (normally milliseconds) at\n# most this long, and never longer than the lock_timeout setting, the bound\n# on any wait of a cycle; past it the cycle runs full without arming.\nARM_WAIT_MAX_MS = 1000\n_DURATION_MS = {"ms": 1, "s": 1000, "min": 60_000}\n\n\ndef arm_wait_ms(lock_timeout: str) -> int:\n    """min(lock_timeout setting, ARM_WAIT_MAX_MS), in ms (the setting is validated: \'5s\', \'200 ms\', \'2min\')."""\n    number = "".join(ch for ch in lock_timeout if ch.isdigit())\n    unit = lock_timeout[len(number):].strip()\n    return min(int(number) * _DURATION_MS[unit], ARM_WAIT_MAX_MS)\n\n\ndef begin_capture(plpy, run: dict, source_schema: str, settings: dict) -> dict:\n    """The change capture\'s part of the first step: its state, the cycle\'s\n    snapshot (what it consumes up to) and the last one\'s, the incremental\n    state\'s row, and from them the kind of cycle and why\n    (incremental.decide), all kept in the run\'s memory (never re-read from a\n    table another role can write) for the later steps. Returns the kind and\n    the reason, for the run\'s row."""\n    st = capture.state(plpy, source_schema)\n    info = {"installed": st["installed"], "fingerprint": st["fingerprint"], "snapshot": None, "previous": None,\n            "unrecorded": None, "armed": False, "not_armed": None, "since": st["since"]}\n    if st["installed"]:\n        snap = capture.snapshot(plpy, f"{arm_wait_ms(settings[\'lock_timeout\'])} milliseconds")\n        info.update(snapshot=snap["snapshot"], previous=snap["previous"], unrecorded=snap["unrecorded"])\n    meta = incremental.read_meta(plpy)\n    cur = inputs.Cycle.start(plpy, run["now"], source_schema)\n    now_utc = cur.now_text\n\n    def estimate() -> dict:  # decide() calls it once the capture and the state are known intact\n        prev = inputs.Cycle.start(plpy, meta["cycle_now"] + "+00", source_schema)\n        return incremental.catch_up_estimate(plpy, cur, prev, _consumed(plpy, info), meta,\n                                             settings["reconcile_every"])\n\n    recorded, reason = incremental.decide(plpy, full_requested=run["plan"]["full_requested"], capture_state=st,\n                                          unrecorded=info["unrecorded"], meta=meta,\n                                          plan_fingerprint=run["plan"]["fingerprint"], now_utc=now_utc,\n                                          reconcile_every=settings["reconcile_every"], estimate=estimate)\n    # a reconciling cycle is an incremental one that completes its round of\n    # reconciliation (incremental.plan_rotation): recorded as \'reconcile\'\n    kind = "incremental" if recorded == "reconcile" else recorded\n    # a full cycle rebuilds the state when the capture is installed: its arm\n    # says at the end whether the state is valid (armed) or not\n    info["build_state"] = kind != "incremental" and st["installed"]\n    info["prev_now"] = None if meta is None else meta["cycle_now"]\n    run["capture"] = info\n    run["cycle"] = {"kind": kind, "reason": reason, "affected": {}, "drift": None}\n    run["state_staged"] = []\n    if kind == "incremental":\n        rotation = None if hooks.reconciliation_skipped(plpy) else incremental.plan_rotation(\n            plpy, meta, now_utc, settings["reconcile_every"], completes=recorded == "reconcile")\n        run["rotation"] = rotation\n        info["reconciled"] = None if rotation is None else {\n            "position": rotation["position"], "round_completed": rotation["next"] is None, "items": {},\n            "unchanged": {}}\n    # The state stays valid through any cycle that does not rebuild it (its\n    # writes all happen in the last step\'s transaction, with the watermark),\n    # except one at an earlier now: the scores it writes are not those an\n    # incremental cycle would reach from the state\'s now.\n    if kind != "incremental" and meta and meta["valid"] and plpy.execute(\n            plpy.prepare("SELECT $1::timestamp < $2::timestamp AS b", ["text", "text"]),\n            [now_utc, meta["cycle_now"]])[0]["b"]:\n        plpy.execute(plpy.prepare("SELECT trending._state_write($1, \'begin\', true)", ["bigint"]), [run["run_id"]])\n    return {"kind": recorded, "reason": reason}\n\n\n# What trending._state_write stores of each kind\'s staging.\n_STATE_PARTS = {"track": ["track", "track_users"], "playlist": ["playlist", "playlist_users"]}\n\n\ndef stage_inputs(plpy, run: dict, kind: str, c: inputs.Cycle, guard) -> dict | None:\n    """The inputs step of `kind`: stage the inputs (every item, or the\n    affected ones) and what the state keeps of them (written by the last\n    step, finish_capture). Returns the bad rows found (None: not counted)."""\n    info = run["capture"]\n    stage = inputs.stage_track_inputs if kind == "track" else inputs.stage_playlist_inputs\n    if run["cycle"]["kind"] == "incremental":\n        _stage_incremental(plpy, run, kind, c, guard, stage)\n        return None  # absurd rows are counted by full cycles, which read every row\n    if not info["build_state"]:\n        bad_rows = stage(plpy, c, guard)\n        guard("end")\n        return bad_rows\n    bad_rows = stage(plpy, c, guard, inputs.Scope(after=capture.after(plpy, "d", info["snapshot"])))\n    guard("end")\n    inputs.stage_state(plpy, c, kind)\n    run["state_staged"] += _STATE_PARTS[kind]\n    return bad_rows\n\n\ndef _stage_incremental(plpy, run: dict, kind: str, c: inputs.Cycle, guard, stage) -> None:\n    """An incremental cycle\'s inputs of `kind`: the affected items, with this\n    cycle\'s share of the reconciliation (incremental.plan_rotation) read\n    whole from the sources, its drift counted (runs.drift) and repaired."""\n    info = run["capture"]\n    prev = inputs.Cycle.start(plpy, info["prev_now"] + "+00", run["plan"]["source_schema"])\n    consumed, after = _consumed(plpy, info), capture.after(plpy, "d", info["snapshot"])\n    rotation = run["rotation"]\n    no_share = {"track": None, "playlist": None, "user": None}\n    incremental.stage_share(plpy, kind, c, rotation["share"] if rotation else no_share, guard)\n    drift = {}\n    if kind == "track":\n        drift["play_hours"] = incremental.check_play_hours(plpy, c, rotation and rotation["hours"], consumed,\n                                                           after, guard)\n    run["cycle"]["affected"][kind] = incremental.stage_affected(plpy, kind, c, prev, consumed, guard)\n    fresh = kind == "track" and drift["play_hours"] > 0\n    scope = inputs.Scope(ids=f"pg_temp.trending_{kind}_affected", plays="state", consumed=consumed,\n                         prev_week_floor=prev.track_week_floor, prev_month_floor=prev.track_month_floor,\n                         reread=f"pg_temp.trending_{kind}_reread", summed=f"pg_temp.trending_{kind}_summed",\n                         fresh="pg_temp.trending_track_fresh" if fresh else None, after=after)\n    stage(plpy, c, guard, scope)\n    guard("end")\n    inputs.stage_state(plpy, c, kind, incremental=True)\n    run["state_staged"] += _STATE_PARTS[kind] + (["play_buckets"] if fresh else [])\n    if rotation is None:\n        return\n    drift.update(incremental.measure_drift(plpy, kind, after))\n    kept = incremental.keep_unchanged_share(plpy, kind)\n    info["reconciled"]["unchanged"][f"{kind}s"] = kept\n    run["cycle"]["affected"][kind] -= kept  # the items rescored\n    checked = {f"{kind}s": f"pg_temp.trending_{kind}_share", f"{kind}_users": f"pg_temp.trending_{kind}_share_users"}\n    info["reconciled"]["items"].update({name: int(plpy.execute(f"SELECT count(*) AS n FROM {table}")[0]["n"])\n                                        for name, table in checked.items()})\n    if kind == "track" and rotation["hours"]:\n        info["reconciled"]["items"]["play_hours"] = int(plpy.execute(\n            "SELECT count(*) AS n FROM pg_temp.trending_checked_hours")[0]["n"])\n    _record_rotation(plpy, run, c, drift)\n\n\ndef _record_rotation(plpy, run: dict, c: inputs.Cycle, drift: dict) -> None:\n    """The drift of this cycle\'s share (runs.drift; a reconciling cycle\'s is\n    its whole round\'s), and the round as the last step stores it\n    (pg_temp.trending_rotation, _state_write \'rotation\')."""\n    rotation = run["rotation"]\n    this_cycle = run.setdefault("cycle_drift", {})\n    this_cycle.update(drift)\n    before = rotation["drift_before"]\n    round_drift = {k: before.get(k, 0) + this_cycle.get(k, 0) for k in sorted(set(before) | set(this_cycle))}\n    if rotation["next"] is None:  # the round ends here: the reconciling cycle records its drift\n        run["cycle"]["drift"] = round_drift\n    else:\n        run["cycle"]["drift"] = dict(this_cycle)\n        rotation["next"]["drift"] = round_drift\n    inputs.staging_table(plpy, "trending_rotation")  # made anew: each kind\'s step writes the round so far\n    if "rotation" not in run["state_staged"]:\n        run["state_staged"].append("rotation")\n    plpy.execute(plpy.prepare("INSERT INTO pg_temp.trending_rotation VALUES ($1::jsonb,"\n                              " CASE WHEN $1 IS NULL THEN $2::timestamp END)", ["text", "text"]),\n                 [None if rotation["next"] is None else json.dumps(rotation["next"]), c.now_text])\n\n\ndef _consumed(plpy, info: dict) -> str:\n    """SQL condition on a delta row aliased d: consumed by this incremental cycle."""\n    return capture.consumed(plpy, "d", info["snapshot"], info["previous"])\n\n\ndef finish_capture(plpy, run: dict, c: inputs.Cycle) -> None:\n    """The write_state step, in the transaction that commits the cycle\'s\n    last scores (transaction_steps): move the state and the capture\'s\n    watermark together.\n    - Full or reconciling: arm the capture at the snapshot taken before any\n      source was read (this prunes the delta rows the cycle covered), and\n      replace the state with what the cycle staged (valid only if armed).\n    - Incremental: add the consumed delta rows\' plays to the buckets,\n      replace the affected items\' rows, and move the watermark past them,\n      so each delta row is counted once.\n    The state is then valid at the watermark and at this now. A failed run\n    never gets here: nothing is armed, moved or written, and the next cycle\n    reads again."""\n    info = run.get("capture")\n    if not info or not info["installed"]:\n        return\n    kind = run["cycle"]["kind"]\n    month_floor = c.track_month_keep  # what the state keeps of plays and track engagements\n    year_floor = c.playlist_floors[max(inputs.formulas.PLAYLIST_WINDOWS,\n                                       key=lambda r: inputs.formulas.WINDOW_DAYS[r])]\n    write = plpy.prepare("SELECT trending._state_write($1, $2, $3) AS n", ["bigint", "text", "bool"])\n    full = kind != "incremental"\n    if kind == "incremental":\n        plpy.execute(f"SELECT trending._state_advance({int(run[\'run_id\'])}, {month_floor}, {year_floor})")\n        info["not_armed"] = capture.advance(plpy)\n    else:\n        reason = capture.arm(plpy, info["fingerprint"])\n        # when the cycle\'s snapshot already said why it cannot arm, that says more\n        info["not_armed"] = reason and (info["unrecorded"] or reason)\n    info["armed"] = info["not_armed"] is None\n    if info["not_armed"]:\n        plpy.warning(f"trending: the change capture was not armed: {info[\'not_armed\']}",\n                     hint="The next cycle runs full again; SELECT * FROM trending.capture_status.")\n    if full and info["build_state"]:\n        plpy.execute(write, [run["run_id"], "begin", True])\n        if "track" in run["state_staged"]:\n            plpy.execute(write, [run["run_id"], "play_buckets", True])\n    for staged in run["state_staged"]:\n        plpy.execute(write, [run["run_id"], staged, full])\n    if run["state_staged"] or (full and info["build_state"]):\n        plpy.execute(plpy.prepare("SELECT trending._state_finish($1, $2, $3, $4)",\n                                  ["bigint", "timestamp", "text", "text"]),\n                     [run["run_id"], c.now_text, run["plan"]["fingerprint"], kind])\n\n\ndef record_top(plpy, run: dict) -> None:\n    """The record_movers step, after every slice, in the transaction of the\n    last one (transaction_steps): record the top N of every list the\n    API reads (trending._record_top keeps the previous cycle\'s beside them)\n    and keep its counts in the run\'s memory for announce()."""\n    settings = run["plan"]["settings"]\n    # an incremental cycle keeps the previous run\'s genre lists (counting the\n    # biggest genres reads a whole slice); full and reconciling cycles recount\n    row = plpy.execute(plpy.prepare("SELECT trending._record_top($1, $2, $3, $4) AS r",\n                                    ["bigint", "int4", "int4", "bool"]),\n                       [run["run_id"], int(settings["movers_top_n"]), int(settings["movers_max_genres"]),\n                        run["cycle"]["kind"] != "incremental"])\n    run["movers"] = _json(row[0]["r"])\n\n\n# NOTIFY payloads are limited to 8000 bytes: this one is a few dozen; the\n# detail is in trending.movers().\nNOTIFY_CHANNEL = "trending"\n\n\ndef announce(plpy, run: dict, now_text: str) -> None:\n    """After runs.finish, in the same transaction: NOTIFY trending with the\n    run id, its status, its now and the total entries into the top N lists.\n    Delivered at commit only, so a failed or rolled-back cycle sends nothing."""\n    payload = json.dumps({"run_id": run["run_id"], "status": "ok", "now": now_text,\n                          "entries": int((run.get("movers") or {}).get("entries") or 0)})\n    plpy.execute(plpy.prepare("SELECT pg_catalog.pg_notify($1, $2)", ["text", "text"]), [NOTIFY_CHANNEL, payload])\n\n\ndef progress_line(index: int, total: int, name: str, ms: float, slice_result, bad_rows, changes=None) -> str:\n    """The NOTICE a DBA sees in psql as each step finishes."""\n    line = f"trending: step {index + 1}/{total} {name} done in {ms:.0f} ms"\n    if changes is not None:\n        line += f": {changes[\'changed\']} of {changes[\'staged\']} scores to write"\n    if slice_result is not None:\n        line += (f": {slice_result[\'inserted\']} inserted, {slice_result[\'updated\']} updated,"\n                 f" {slice_result[\'deleted\']} deleted, {slice_result[\'unchanged\']} unchanged")\n    if bad_rows:\n        found = {k: v for k, v in bad_rows.items() if v}\n        if found:\n            line += "; skipped or adjusted rows: " + ", ".join(f"{k} {v}" for k, v in found.items())\n    return line\n\n\ndef summary(plan_: dict, run_row: dict, now_text: str, capture_info: dict | None = None) -> dict:\n    """The jsonb recompute() returns, from the run\'s finished row (and the\n    capture\'s part of the run\'s memory)."""\n    step_ms = _json(run_row["step_ms"])\n    slice_rows = _json(run_row["slice_rows"])\n    strategies: dict = {}\n    for step in plan_["steps"]:\n        if "range" not in step:\n            continue\n        entry = strategies.setdefault(f"{step[\'type\']}/{step[\'version\']}",\n                                      {"enabled": step["enabled"], "ranges": {}})\n        entry["ranges"][step["range"]] = slice_rows[step["name"]]\n    counters = ("inserted", "updated", "deleted", "unchanged")\n    totals = {k: sum(r[k] for s in strategies.values() for r in s["ranges"].values()) for k in counters}\n    steps = {k: v for k, v in step_ms.items() if k in STAGE_STEPS + FINISH_STEPS}\n    steps["slices"] = round(sum(v for k, v in step_ms.items() if k not in steps), 1)\n    bad_rows = dict.fromkeys(inputs.TRACK_BAD_ROWS + inputs.PLAYLIST_BAD_ROWS)\n    bad_rows.update(_json(run_row["bad_rows"]) or {})\n    return {"status": "ok", "run_id": int(run_row["run_id"]), "now": now_text,\n            "source_schema": plan_["source_schema"], "ms": float(run_row["ms"]),\n            "wal_bytes": int(run_row["wal_bytes"]), "rows": totals, "steps": steps,\n            "strategies": strategies, "bad_rows": bad_rows,\n            "cycle": {"kind": run_row.get("cycle_kind"), "reason": run_row.get("cycle_reason"),\n                      "affected": _json(run_row.get("affected")), "drift": _json(run_row.get("drift")),\n                      "reconciled": None if capture_info is None else capture_info.get("reconciled"),\n                      "capture": None if capture_info is None else\n                      {k: capture_info[k] for k in ("installed", "snapshot", "armed", "not_armed")}}}\n\n\ndef _json(value):\n    """jsonb arrives in PL/Python as text."""\n    return json.loads(value) if isinstance(value, str) else value\n',
    'trending_pl.explain': '"""Explain one stored score: its inputs, each term of the formula, and why.\n\ntrending.explain_track() / explain_playlist() stage the cycle\'s own inputs\n(inputs.py, its very statements) for the one item, as an incremental cycle\nstages the items it rescores (inputs.Scope): the item\'s rows, saves and\nreposts by their indexes; counting one track\'s plays still scans the month\nof plays by plays(created_at), there being no index on play_item_id. The score is the\ncycle\'s expression (formulas.py) over that row, so a computed score equals\nthe stored one when both are for the same `now`. The sources are checked\nas a cycle checks them, before each read and after the last.\n"""\n\nfrom __future__ import annotations\n\nimport json\nimport math\nimport re\n\nfrom . import config, cycle, formulas, inputs, slices, sources, validate\n\nREL_TOLERANCE = 1e-12\nTOP_CONTRIBUTORS = 10\n\n\ndef _json_value(value):\n    """SQL values as JSON: exact integers, finite floats, text for the rest."""\n    if value is None or isinstance(value, (bool, int, str)):\n        return value\n    if isinstance(value, float):\n        return value if math.isfinite(value) else str(value)\n    text = str(value)  # numeric (Decimal), timestamps\n    if re.fullmatch(r"-?\\d+", text):\n        return int(text)\n    return text\n\n\ndef _row(row) -> dict:\n    return {k: _json_value(v) for k, v in dict(row).items()}\n\n\ndef _validate(plpy, kind: str, item_id, time_range, version) -> config.Strategy:\n    if item_id is None:\n        plpy.error(f"trending: invalid {kind}_id NULL", sqlstate="22023", hint=f"Pass the {kind}\'s id.")\n    strategies = config.read_strategies(plpy)\n    choose = plpy.prepare("SELECT trending._validate_choice($1, $2, $3)", ["text", "text", "text[]"])\n    if kind == "track":\n        versions = [s.version for s in strategies if s.type == "TRACKS"]\n        plpy.execute(choose, ["version", version, versions])\n        strategy = next(s for s in strategies if s.type == "TRACKS" and s.version == version)\n    else:\n        strategy = next(s for s in strategies if s.type == "PLAYLISTS")\n    plpy.execute(choose, ["time_range", time_range, list(strategy.time_ranges)])\n    return strategy\n\n\ndef _resolve_now(plpy, now):\n    """(now, where it came from): NULL means the now of the stored scores."""\n    if now is not None:\n        return now, "argument"\n    row = plpy.execute("SELECT s.scores_as_of::text AS n FROM trending.status s")\n    if row and row[0]["n"] is not None:\n        return row[0]["n"], "scores_as_of"\n    return plpy.execute("SELECT pg_catalog.now()::text AS n")[0]["n"], "transaction (no cycle has succeeded yet)"\n\n\ndef explain(plpy, kind: str, item_id, time_range, version, now) -> str:\n    """The jsonb document (as JSON text) explaining one item\'s score."""\n    strategy = _validate(plpy, kind, item_id, time_range, version)\n    now, now_source = _resolve_now(plpy, now)\n    validate.now(plpy, now)\n    settings = config.read_settings(plpy)\n    cycle.apply_session_settings(plpy, settings)\n    schema = settings["source_schema"]\n    step = cycle.INPUTS[kind]\n\n    def guard(point: str) -> None:\n        sources.lock_and_check(plpy, schema, step)\n\n    inputs.drop_temp_tables(plpy)\n    try:\n        guard("start")\n        c = inputs.Cycle.start(plpy, now, schema)\n        id_col = slices.TABLES[kind]["id"]\n        plpy.execute("CREATE TEMP TABLE trending_explain_ids (id bigint)")\n        plpy.execute(f"INSERT INTO pg_temp.trending_explain_ids VALUES ({int(item_id)})")\n        stage = inputs.stage_track_inputs if kind == "track" else inputs.stage_playlist_inputs\n        bad_rows = stage(plpy, c, guard, inputs.Scope(ids="pg_temp.trending_explain_ids"))\n        guard("rules")\n        doc = {"kind": kind, "id": int(item_id), "type": strategy.type, "version": strategy.version,\n               "time_range": time_range, "now": c.now_text + "+00", "now_source": now_source,\n               "source_schema": schema, "strategy_enabled": strategy.enabled,\n               "bad_rows": {k: v for k, v in bad_rows.items() if v}}\n        found = plpy.execute(f"SELECT * FROM {slices.TABLES[kind][\'inputs\']} i WHERE i.{id_col} = {int(item_id)}")\n        if kind == "track":\n            excluded = _track_exclusion(plpy, c, int(item_id)) if not found else None\n        else:\n            excluded = _playlist_exclusion(plpy, c, int(item_id)) if not found else None\n        doc["eligible"] = bool(found)\n        doc["excluded_by"] = excluded\n        if found:\n            doc["inputs"] = {k: _json_value(v) for k, v in dict(found[0]).items()\n                             if k not in ("negative_contributors",)}\n            doc["karma_contributors"], doc["karma_contributors_total"] = _contributors(\n                plpy, c, kind, int(item_id), time_range)\n            guard("end")\n            doc.update(_formula(plpy, strategy, time_range))\n        else:\n            guard("end")\n            doc["inputs"] = None\n            doc["formula"] = None\n            doc["computed_score"] = 0.0\n            doc["stored_if_computed"] = False\n    finally:\n        inputs.drop_temp_tables(plpy)\n    doc["stored"] = _stored(plpy, strategy, int(item_id), time_range)\n    doc["agrees"] = _agrees(doc)\n    if found and doc["computed_score"] == 0:\n        doc["no_row_because"] = ("the owner has fewer than Y followers: the score is 0, not stored"\n                                 if doc["formula"]["owner_below_min_followers"]\n                                 else "the score is 0 (a zero factor), not stored")\n    return json.dumps(doc)\n\n\ndef _track_exclusion(plpy, c: inputs.Cycle, track_id: int) -> str:\n    """The eligibility rule (or bad-row counter) that leaves this track out."""\n    row = plpy.execute(f"""\nSELECT count(*) AS current_rows,\n       bool_and(t.is_delete IS FALSE) AS not_deleted, bool_and(t.is_unlisted IS FALSE) AS listed,\n       bool_and(t.stem_of IS NULL) AS not_stem, bool_and(pg_catalog.isfinite(t.created_at)) AS finite\nFROM {c.source}.tracks t WHERE t.track_id = {track_id} AND t.is_current IS TRUE""")[0]\n    if row["current_rows"] == 0:\n        return "no current row: no tracks row with is_current true for this track_id"\n    if row["current_rows"] > 1:\n        return (f"{row[\'current_rows\']} current rows for this track_id: skipped and counted"\n                " (bad row counter duplicate_current_tracks)")\n    if not row["not_deleted"]:\n        return "is_delete is not false (true or NULL)"\n    if not row["listed"]:\n        return "is_unlisted is not false (true or NULL)"\n    if not row["not_stem"]:\n        return "stem_of is not NULL: a stem is not scored"\n    if not row["finite"]:\n        return "created_at is infinite (bad row counter tracks_created_at_infinite)"\n    return "not eligible"\n\n\ndef _playlist_exclusion(plpy, c: inputs.Cycle, playlist_id: int) -> str:\n    row = plpy.execute(f"""\nSELECT count(*) AS current_rows,\n       bool_and(p.is_delete IS FALSE) AS not_deleted, bool_and(p.is_private IS FALSE) AS public,\n       bool_and(pg_catalog.jsonb_typeof(p.playlist_contents -> \'track_ids\') IS NOT DISTINCT FROM \'array\') AS is_array,\n       min(CASE WHEN pg_catalog.jsonb_typeof(p.playlist_contents -> \'track_ids\') = \'array\'\n                THEN pg_catalog.jsonb_array_length(p.playlist_contents -> \'track_ids\') END) AS entries,\n       bool_and(EXISTS (SELECT FROM {c.source}.aggregate_user au WHERE au.user_id = p.playlist_owner_id))\n           AS owner_known,\n       bool_and(pg_catalog.isfinite(p.created_at)) AS finite\nFROM {c.source}.playlists p WHERE p.playlist_id = {playlist_id} AND p.is_current IS TRUE""")[0]\n    if row["current_rows"] == 0:\n        return "no current row: no playlists row with is_current true for this playlist_id"\n    if row["current_rows"] > 1:\n        return (f"{row[\'current_rows\']} current rows for this playlist_id: skipped and counted"\n                " (bad row counter duplicate_current_playlists)")\n    if not row["not_deleted"]:\n        return "is_delete is not false (true or NULL)"\n    if not row["public"]:\n        return "is_private is not false (true or NULL)"\n    if not row["is_array"]:\n        return ("playlist_contents->\'track_ids\' is missing or not an array"\n                " (bad row counter playlists_track_ids_not_array)")\n    if row["entries"] < 3:\n        return f"{row[\'entries\']} entries in playlist_contents->\'track_ids\': fewer than 3"\n    if not row["owner_known"]:\n        return "the owner has no aggregate_user row"\n    if not row["finite"]:\n        return "created_at is infinite (bad row counter playlists_created_at_infinite)"\n    return "not eligible"\n\n\ndef _contributors(plpy, c: inputs.Cycle, kind: str, item_id: int, time_range: str):\n    """The karma\'s biggest contributors (at most TOP_CONTRIBUTORS) and how many\n    there are: per user with a complete profile, follower_count, engagements\n    (reposts + saves) and profile rows; contribution = follower_count x\n    profile rows x engagements (a negative or missing follower_count adds\n    nothing), as the cycle sums it."""\n    if kind == "track":\n        label, window, current = "track", "true", ""\n    else:\n        # playlist karma: the range\'s window (created_at >= start), current users rows only\n        label, window, current = "playlist", f"e.created_at >= {c.playlist_starts[time_range]}", \\\n            "u.is_current IS TRUE AND "\n    rows = plpy.execute(f"""\nWITH engagements AS (\n    SELECT r.user_id, true AS is_repost, r.created_at\n    FROM {c.source}.reposts r\n    WHERE r.repost_item_id = {item_id}\n      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), \'{label}\')\n      AND r.is_current IS TRUE AND r.is_delete IS FALSE\n    UNION ALL\n    SELECT s.user_id, false, s.created_at\n    FROM {c.source}.saves s\n    WHERE s.save_item_id = {item_id}\n      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), \'{label}\')\n      AND s.is_current IS TRUE AND s.is_delete IS FALSE\n), per_user AS (\n    SELECT e.user_id, count(*) FILTER (WHERE e.is_repost) AS reposts, count(*) FILTER (WHERE NOT e.is_repost) AS saves\n    FROM engagements e WHERE {window}\n    GROUP BY e.user_id\n), profiles AS (\n    SELECT u.user_id, count(*) AS profile_rows\n    FROM {c.source}.users u\n    WHERE u.user_id IN (SELECT p.user_id FROM per_user p) AND {current}{inputs._COMPLETE_PROFILE}\n    GROUP BY u.user_id\n), ranked AS (\n    SELECT p.user_id, au.follower_count, p.reposts + p.saves AS engagements, p.reposts, p.saves,\n           pr.profile_rows,\n           CASE WHEN au.follower_count >= 0\n                THEN au.follower_count::numeric * pr.profile_rows * (p.reposts + p.saves) ELSE 0 END AS contribution\n    FROM per_user p\n    JOIN profiles pr ON pr.user_id = p.user_id\n    LEFT JOIN {c.source}.aggregate_user au ON au.user_id = p.user_id\n)\nSELECT r.*, count(*) OVER () AS total FROM ranked r\nORDER BY r.contribution DESC, r.user_id LIMIT {TOP_CONTRIBUTORS}""")\n    total = int(rows[0]["total"]) if rows else 0\n    return [{k: v for k, v in _row(r).items() if k != "total"} for r in rows], total\n\n\ndef _formula(plpy, strategy: config.Strategy, time_range: str) -> dict:\n    """Each term, S, decay, K, the owner gate and the score, evaluated in SQL by\n    the cycle\'s own expressions (formulas.py) over the staged inputs row."""\n    num = formulas._num\n    i = "i"\n    totals = {"R*repost_total": f"{num(formulas.R)} * {i}.repost_total",\n              "I*save_total": f"{num(formulas.I)} * {i}.save_total"}\n    if strategy.kind == "track":\n        score, _filter = formulas.track_score(strategy.version, time_range)\n        k = formulas.karma_factor(strategy.version, f"{i}.karma")\n        if time_range == "allTime":\n            terms = {"N*play_total": f"{num(formulas.N)} * {i}.play_total", **totals}\n            decay, window = num(1), None\n        else:\n            terms = {f"N*listens_{time_range}": f"{num(formulas.N)} * {i}.listens_{time_range}",\n                     f"F*reposts_{time_range}": f"{num(formulas.F)} * {i}.reposts_{time_range}",\n                     f"O*saves_{time_range}": f"{num(formulas.O)} * {i}.saves_{time_range}", **totals}\n            window = formulas.WINDOW_DAYS[time_range]\n            decay = formulas.decay(f"{i}.age_days", window)\n        k_text = "karma" if strategy.version == "pnagD" else "1 + log10(1 + karma)"\n    else:\n        score, _filter = formulas.playlist_score(time_range)\n        k = f"COALESCE({i}.karma_{time_range}::float8, {num(1)})"\n        terms = {"N*1": f"{num(formulas.N)} * 1",\n                 f"F*reposts_{time_range}": f"{num(formulas.F)} * {i}.reposts_{time_range}",\n                 f"O*saves_{time_range}": f"{num(formulas.O)} * {i}.saves_{time_range}", **totals}\n        window = formulas.WINDOW_DAYS[time_range]\n        decay = formulas.decay(f"{i}.age_days", window)\n        k_text = f"karma_{time_range}, or 1 when NULL"\n    columns = [f"({expr})::float8 AS t{n}" for n, expr in enumerate(terms.values())]\n    s_expr = " + ".join(f"({expr})" for expr in terms.values())\n    row = plpy.execute(f"""\nSELECT {\', \'.join(columns)}, ({s_expr})::float8 AS s, ({decay})::float8 AS decay, ({k})::float8 AS k,\n       COALESCE({i}.owner_followers < {formulas.Y}, false) AS gated,\n       ({score})::float8 AS score, ({_filter}) AS has_row\nFROM {slices.TABLES[strategy.kind][\'inputs\']} {i}""")[0]  # the one item\'s row (explain() checked)\n    constants = {"N": formulas.N, "F": formulas.F, "O": formulas.O, "R": formulas.R, "I": formulas.I,\n                 "Q": formulas.Q, "Y": formulas.Y}\n    return {\n        "formula": {\n            "constants": constants,\n            # a list: jsonb keeps the order of arrays, not of object keys\n            "terms": [{"term": name, "value": _json_value(row[f"t{n}"])} for n, name in enumerate(terms)],\n            "S": _json_value(row["s"]),\n            "decay": _json_value(row["decay"]),\n            "decay_window_days": window,\n            "K": _json_value(row["k"]),\n            "K_is": k_text,\n            "owner_below_min_followers": bool(row["gated"]),\n            "expression": "0 if owner_followers < Y else decay * S * K",\n        },\n        "computed_score": _json_value(row["score"]) if row["has_row"] else None,\n        "stored_if_computed": bool(row["has_row"]) and row["score"] != 0,\n        "no_row_because": None if row["has_row"] else (\n            "no aggregate_plays row, or its count is NULL (bad row counter null_play_counts): no allTime score"),\n    }\n\n\ndef _stored(plpy, strategy: config.Strategy, item_id: int, time_range: str):\n    spec = slices.TABLES[strategy.kind]\n    genre = ", t.genre" if spec["genre"] else ""\n    rows = plpy.execute(plpy.prepare(\n        f"SELECT t.score, pg_catalog.to_char(t.created_at, \'YYYY-MM-DD HH24:MI:SS.US\') AS created_at{genre}"\n        f" FROM {spec[\'table\']} t WHERE t.{spec[\'id\']} = $1 AND t.type = $2 AND t.version = $3"\n        f" AND t.time_range = $4", ["integer", "text", "text", "text"]),\n        [item_id, strategy.type, strategy.version, time_range])\n    return _row(rows[0]) if rows else None\n\n\ndef _agrees(doc: dict) -> bool:\n    """The computed score and the stored one agree within REL_TOLERANCE; a zero\n    (or absent) score agrees with no stored row."""\n    stored = doc["stored"]\n    computed = doc.get("computed_score") or 0.0\n    if stored is None:\n        return computed == 0\n    got = float(stored["score"])\n    return abs(computed - got) <= REL_TOLERANCE * max(abs(computed), abs(got))\n',
    'trending_pl.formulas': '"""The score formulas of docs/reference.md, as SQL expressions over the staged inputs.\n\nThe constants live here and only here. Each builder returns SQL text that the\nslice step evaluates for every input row in one INSERT ... SELECT; Python never\ntouches a row. Arithmetic is double precision throughout, in the reference\'s order\n(decay * S * K).\n"""\n\nfrom __future__ import annotations\n\nN = 1        # weight of a listen\nF = 50       # weight of a windowed repost\nO = 1        # weight of a windowed save\nR = 0.25     # weight of a total repost\nI = 0.01     # weight of a total save\nQ = 100000   # decay base\nY = 3        # minimum owner followers\n\n# Window lengths in days, for the decay (and for the playlist windows).\nWINDOW_DAYS = {"week": 7, "month": 30, "year": 365}\n\n# Track windows for counting listens, reposts and saves are calendar based\n# (\'1 mon\' is a calendar month: Mar 31 - 1 mon = Feb 28).\nTRACK_COUNT_WINDOWS = {"week": "7 days", "month": "1 mon"}\n# Playlist windows count days, year included.\nPLAYLIST_WINDOWS = {"week": "7 days", "month": "30 days", "year": "365 days"}\n\nTRACK_VERSIONS = ("pnagD", "AnlGe")\n\n# docs/reference.md, "Absurd rows": a genre longer than this many bytes (octet_length) is\n# stored as NULL; the score tables\' genre index could not hold it.\nGENRE_MAX_BYTES = 1000\n\n# The base date is clamped into [now - AGE_CLAMP_DAYS, now] before `now - base`,\n# so that no finite date (4713 BC .. 294276 AD) can overflow the interval. The\n# decay is unchanged: an age <= 0 gives 1 as any age <= w does, and at\n# AGE_CLAMP_DAYS = 11 * the widest window every window\'s exponent is already\n# at its floor -10 (1 - 11*365/w <= -10), as it is for any older base.\nAGE_CLAMP_DAYS = 11 * max(WINDOW_DAYS.values())\n\n\ndef _num(value) -> str:\n    """A double precision SQL literal that parses back to exactly `value`."""\n    return f"{float(value)!r}::float8"\n\n\ndef decay(age_days: str, window_days: int) -> str:\n    """1 within the window, then Q^(1 - age/w) floored at 1/Q (exponent floored at -10)."""\n    return (f"CASE WHEN {age_days} <= {window_days} THEN {_num(1)} "\n            f"ELSE greatest({_num(1)} / {_num(Q)}, "\n            f"power({_num(Q)}, greatest({_num(-10)}, {_num(1)} - {age_days}::float8 / {_num(window_days)}))) END")\n\n\ndef karma_factor(version: str, karma: str) -> str:\n    """K: the karma itself (pnagD) or 1 + log10(1 + karma) (AnlGe)."""\n    if version == "pnagD":\n        return f"{karma}::float8"\n    if version == "AnlGe":\n        return f"({_num(1)} + log({_num(1)} + {karma}::float8))"\n    raise ValueError(f"unknown track strategy version {version!r}")\n\n\ndef _gate(owner_followers: str, score: str) -> str:\n    """Owners with fewer than Y followers score 0 (a NULL count is not < Y)."""\n    return f"CASE WHEN {owner_followers} < {Y} THEN {_num(0)} ELSE {score} END"\n\n\ndef track_score(version: str, time_range: str, row: str = "i") -> tuple[str, str]:\n    """(score expression, row filter) for one track slice over trending_track_inputs."""\n    k = karma_factor(version, f"{row}.karma")\n    totals = f"{_num(R)} * {row}.repost_total + {_num(I)} * {row}.save_total"\n    if time_range == "allTime":\n        s = f"({_num(N)} * {row}.play_total + {totals})"\n        return _gate(f"{row}.owner_followers", f"{s} * {k}"), f"{row}.play_total IS NOT NULL"\n    if time_range not in TRACK_COUNT_WINDOWS:\n        raise ValueError(f"unknown track time range {time_range!r}")\n    s = (f"({_num(N)} * {row}.listens_{time_range} + {_num(F)} * {row}.reposts_{time_range}"\n         f" + {_num(O)} * {row}.saves_{time_range} + {totals})")\n    d = decay(f"{row}.age_days", WINDOW_DAYS[time_range])\n    return _gate(f"{row}.owner_followers", f"({d}) * {s} * {k}"), "true"\n\n\ndef playlist_score(time_range: str, row: str = "i") -> tuple[str, str]:\n    """(score expression, row filter) for one playlist slice over trending_playlist_inputs."""\n    if time_range not in PLAYLIST_WINDOWS:\n        raise ValueError(f"unknown playlist time range {time_range!r}")\n    s = (f"({_num(N)} * 1 + {_num(F)} * {row}.reposts_{time_range}"\n         f" + {_num(O)} * {row}.saves_{time_range}"\n         f" + {_num(R)} * {row}.repost_total + {_num(I)} * {row}.save_total)")\n    d = decay(f"{row}.age_days", WINDOW_DAYS[time_range])\n    k = f"COALESCE({row}.karma_{time_range}::float8, {_num(1)})"\n    return _gate(f"{row}.owner_followers", f"({d}) * {s} * {k}"), "true"\n',
    'trending_pl.hooks': '"""Test-only hooks: a pause inside a cycle, so tests can look at a cycle mid-way;\nreconciliation switched off (below).\n\n`SET trending.test_pause_after = \'STEP:SECONDS\'` (e.g.\n\'TRACKS/pnagD/week:5\') makes a cycle sleep that long after that step\'s\nwork, before its commit, with its locks held (in the scheduled procedure the\ntransactions before its own are committed: one per step, but one for the\nlast slice, record_movers and write_state). Off unless set; only a\nsuperuser may use it: anyone can set a custom parameter, so a\nnon-superuser\'s cycle refuses to run with it set rather than let any role\nstretch a cycle\'s locks.\n"""\n\nfrom __future__ import annotations\n\nPAUSE_SETTING = "trending.test_pause_after"\n\n\ndef pause_after(plpy, step_name: str) -> None:\n    value = plpy.execute(f"SELECT pg_catalog.current_setting(\'{PAUSE_SETTING}\', true) AS value")[0]["value"]\n    if not value:\n        return\n    target, _, seconds = value.rpartition(":")\n    if not target or not _is_number(seconds):\n        plpy.error(f"trending: invalid {PAUSE_SETTING} {value!r}", sqlstate="22023",\n                   hint="Use \'STEP:SECONDS\', e.g. \'TRACKS/pnagD/week:5\', or RESET it.")\n    superuser = plpy.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")\n    if not (superuser and superuser[0]["rolsuper"]):\n        plpy.error(f"trending: {PAUSE_SETTING} is a test hook that only a superuser may set",\n                   sqlstate="42501", hint=f"RESET {PAUSE_SETTING};")\n    if target == step_name:\n        plpy.execute(f"SELECT pg_catalog.pg_sleep({float(seconds)})")\n\n\ndef _is_number(text: str) -> bool:\n    try:\n        return float(text) >= 0\n    except ValueError:\n        return False\n\n\n# `SET trending.test_skip_reconciliation = on`: cycles check no share of the\n# state against the sources (the round does not move), so a test can show\n# that drift then stays (test_incremental_streams.py). Superuser only, as above.\nSKIP_RECONCILIATION_SETTING = "trending.test_skip_reconciliation"\n\n\ndef reconciliation_skipped(plpy) -> bool:\n    value = plpy.execute(f"SELECT pg_catalog.current_setting(\'{SKIP_RECONCILIATION_SETTING}\', true) AS value"\n                         )[0]["value"]\n    if value in (None, "", "off"):\n        return False\n    superuser = plpy.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")\n    if value != "on" or not (superuser and superuser[0]["rolsuper"]):\n        plpy.error(f"trending: {SKIP_RECONCILIATION_SETTING} is a test hook that only a superuser may set (on)",\n                   sqlstate="42501", hint=f"RESET {SKIP_RECONCILIATION_SETTING};")\n    return True\n',
    'trending_pl.incremental': '"""Incremental cycles: which kind of cycle runs, and which items it rescores.\n\nA cycle is incremental when the change capture is intact and armed, the\nstate (sql/schema/85_state.sql) is valid at the capture\'s watermark,\nnothing that changes results changed since the state was built, and\nfinding what changed costs less than a full cycle (decide(),\ncatch_up_estimate()). Every incremental cycle also checks a share of the\nstate against the sources (plan_rotation(), stage_share(),\ncheck_play_hours(), measure_drift()): the rotating reconciliation.\nIt then rescores only the affected items (stage_affected): the items the\ncapture names since the watermark, the items of the users it names, the\nitems whose plays or engagements left a window since the last cycle\'s now,\nand the items whose age in days crossed a step where a decay changes. Their\ninputs are computed by the full cycle\'s own statements restricted to them\n(inputs.Scope), so an incremental score is the full cycle\'s score.\n\nWhy that set is complete (docs/incremental.md, "What is exact and why"):\nan item\'s inputs are a function of its source rows, of its users\' rows, of\nthe windows\' starts and of now. The capture names every changed row\'s item\nand user; the windows\' starts move by (last now, now], and the plays and\nengagements in the hours they crossed are found in the state\'s hour tables;\nnow moves the ages, and the decay of a window of w days only changes when\nan age crosses a day in w+1 .. 2w+1 (it is 1 up to w days and 1/Q from 2w\non), so the items whose age base lies in (last now - k days, now - k days]\nfor those k are the ones whose decay changed; a release date in (last now,\nnow] changes the base itself.\n\nNothing here imports plpy: functions take it as their first argument.\n"""\n\nfrom __future__ import annotations\n\nimport hashlib\nimport json\nimport math\nfrom typing import Callable\n\nfrom . import formulas\nfrom .inputs import Cycle, analyze_staging, staging_table, user_weights\n\n# Source codes of trending._capture_changed (capture.SOURCES): the tables\n# whose rows name users rather than items.\nUSER_SOURCES = (5, 6)  # users, aggregate_user\nKIND_CODE = {"track": 1, "playlist": 2}\n\n# The decay windows of each kind of item (formulas.decay), in days.\nDECAY_WINDOWS = {"track": tuple(formulas.WINDOW_DAYS[r] for r in formulas.TRACK_COUNT_WINDOWS),\n                 "playlist": tuple(formulas.WINDOW_DAYS[r] for r in formulas.PLAYLIST_WINDOWS)}\n\n\ndef decay_steps(kind: str) -> list[int]:\n    """The ages (days) at which some decay of `kind` changes: w+1 .. 2w+1 per\n    window w (one beyond 2w in case power() rounds 1/Q up)."""\n    return sorted({k for w in DECAY_WINDOWS[kind] for k in range(w + 1, 2 * w + 2)})\n\n\ndef fingerprint(plan: dict) -> str:\n    """What must not change between the cycle that built the state and an\n    incremental one: the source schema and the slices switched on."""\n    slices = sorted(s["name"] for s in plan["steps"] if s.get("enabled"))\n    text = json.dumps({"source_schema": plan["source_schema"], "slices": slices}, sort_keys=True)\n    return hashlib.sha256(text.encode()).hexdigest()[:32]\n\n\ndef read_meta(plpy) -> dict | None:\n    rows = plpy.execute("SELECT m.valid, m.cycle_now::text AS cycle_now, m.since, m.fingerprint,"\n                        " m.reconciled_at::text AS reconciled_at, m.rotation::text AS rotation"\n                        " FROM trending._state_meta m")\n    return dict(rows[0]) if rows else None\n\n\n# Catch-up (issue 18, item 3): an incremental cycle costs about what it\n# rescores, a full one about what exists. Past this share of the items\n# affected, finding them one index range at a time costs more than reading\n# everything (docs/benchmark.md, "Catch-up: where a full cycle is cheaper":\n# measured at about a quarter of the tracks at large scale; a fifth keeps a\n# margin for the full cycle the state adds to).\nFULL_SHARE = 0.2\n# Below this many items affected an incremental cycle takes well under a\n# second at any scale (finding and rescoring them is index probes), and so\n# does a full cycle of a catalog that small: the choice does not matter.\nMIN_FULL_ITEMS = 1000\n\n\ndef decide(plpy, *, full_requested: bool, capture_state: dict, unrecorded: str | None, meta: dict | None,\n           plan_fingerprint: str, now_utc: str, reconcile_every: str,\n           estimate: Callable[[], dict] | None = None) -> tuple[str, str]:\n    """(kind, reason): \'full\', \'reconcile\' or \'incremental\', and why. The\n    first reason that needs a full cycle wins. \'reconcile\' is an\n    incremental cycle that completes a round of reconciliation (plan_rotation).\n    estimate(): the affected set\'s estimated size against the items\n    (catch_up_estimate); a full cycle runs when it passes FULL_SHARE."""\n    if full_requested:\n        return "full", "a full cycle was requested (full => true)"\n    if not capture_state["incremental"]:\n        return "full", capture_state["reason"]\n    if unrecorded is not None:  # the capture\'s snapshot found it not recording, or about to stop\n        return "full", unrecorded\n    if meta is None:\n        return "full", ("the incremental state is missing: first cycle with the capture, or the unlogged "\n                        "state was lost (crash restart, failover, restore or upgrade)")\n    if not meta["valid"]:\n        return "full", ("the incremental state is invalid: a full cycle that was to rebuild it did not finish, "\n                        "or one at an earlier now could not")\n    if meta["fingerprint"] != plan_fingerprint:\n        return "full", "the source schema or the strategies switched on changed since the state was built"\n    if meta["since"] != capture_state["since"]:\n        return "full", "the incremental state and the capture\'s watermark are out of step"\n    row = plpy.execute(plpy.prepare(\n        "SELECT $1::timestamp < $2::timestamp AS backwards, ($1::timestamp - $2::timestamp)::text AS elapsed",\n        ["text", "text"]), [now_utc, meta["cycle_now"]])[0]\n    if row["backwards"]:\n        return "full", f"now ({now_utc}) is before the last cycle\'s ({meta[\'cycle_now\']})"\n    if estimate is not None:\n        est = estimate()\n        if est["affected"] > max(FULL_SHARE * est["items"], MIN_FULL_ITEMS):\n            return "full", (f"{row[\'elapsed\']} since the last cycle: about {est[\'affected\']} items affected "\n                            f"(estimated: {est[\'named\']} named by the changes, {est[\'crossing\']} crossing a window "\n                            f"or a decay step, {est[\'to_reconcile\']} due for reconciliation, weighed "\n                            f"{RECONCILE_WEIGHT:g}) of {est[\'items\']}, "\n                            f"more than {FULL_SHARE:.0%} of them and than {MIN_FULL_ITEMS}: a full cycle costs less "\n                            "than finding them")\n    pace = position(plpy, meta, now_utc, reconcile_every)\n    if pace["p"] >= 1:\n        return "reconcile", (f"reconciliation is due (reconcile_every {reconcile_every}; the round began at "\n                             f"{meta[\'reconciled_at\']}): this cycle checks the rest of the state")\n    if pace["p"] < pace["wall"] - 1e-9:\n        return "incremental", (f"incremental: the capture and the state are intact; the round of reconciliation is "\n                               f"behind after a gap ({pace[\'p\']:.0%} of it checked where the clock says "\n                               f"{pace[\'wall\']:.0%}): each cycle checks up to {CATCH_UP_PACE} cycles\' shares until it catches up")\n    return "incremental", "incremental: the capture and the state are intact"\n\n\ndef _steps_ranges(kind: str, column: str, prev: Cycle, cur: Cycle, alias: str = "s") -> str:\n    """The join of state rows aliased `alias` whose `column` crossed a decay step between prev and cur."""\n    return (f"JOIN (VALUES {_steps_values(kind)}) AS k (days)"\n            f" ON {alias}.{column} > {prev.now_utc} - pg_catalog.make_interval(days => k.days)"\n            f" AND {alias}.{column} <= {cur.now_utc} - pg_catalog.make_interval(days => k.days)")\n\n\ndef _window_edges(kind: str, prev: Cycle, cur: Cycle) -> list[tuple[str, str]]:\n    if kind == "track":\n        return [(prev.track_week_floor, cur.track_week_floor), (prev.track_month_floor, cur.track_month_floor)]\n    return [(prev.playlist_floors[r], cur.playlist_floors[r]) for r in formulas.PLAYLIST_WINDOWS]\n\n\ndef _in_edges(column: str, edges: list[tuple[str, str]]) -> str:\n    # both ways: the calendar month\'s start can move back (inputs.Cycle.track_month_keep)\n    return " OR ".join(f"({column} >= least({a}, {b}) AND {column} <= greatest({a}, {b}))" for a, b in edges)\n\n\ndef _track_engagement_edges(prev: Cycle, cur: Cycle) -> str:\n    """SQL condition on a state save or repost aliased e: a track window\'s\n    start moved over its created_at (counts take created_at > start)."""\n    return " OR ".join(f"(e.created_at > least({a}, {b}) AND e.created_at <= greatest({a}, {b}))"\n                       for a, b in ((prev.track_week_start, cur.track_week_start),\n                                    (prev.track_month_start, cur.track_month_start)))\n\n\ndef crossing_parts(kind: str, prev: Cycle, cur: Cycle, engagements: bool = True) -> list[str]:\n    """Queries of (id, reread) of the items of `kind` whose inputs moved with\n    time between prev and cur, found in the state\'s index ranges: their\n    engagements (tracks: a difference, stage_action_delta; playlists: read\n    again) or plays left a window, their age crossed a decay step, their\n    release date passed. engagements=False leaves out the tracks whose\n    engagements a window moved over (stage_action_delta finds them)."""\n    state, id_col = ROTATED[kind]\n    edges = _window_edges(kind, prev, cur)\n    if kind == "playlist":\n        moved = [f"SELECT h.item_id, true FROM trending._state_playlist_hours h WHERE {_in_edges(\'h.hour\', edges)}"]\n    else:\n        moved = [f"SELECT e.track_id, false FROM trending._state_track_actions e"\n                 f" WHERE {_track_engagement_edges(prev, cur)}"] if engagements else []\n    parts = moved + [\n        f"SELECT s.{id_col}, false FROM {state} s {_steps_ranges(kind, \'created_at\', prev, cur)}",\n        f"SELECT s.{id_col}, false FROM {state} s {_steps_ranges(kind, \'released_base\', prev, cur)}",\n        f"SELECT s.{id_col}, false FROM {state} s"\n        f" WHERE s.release_date > {prev.now_utc} AND s.release_date <= {cur.now_utc}",\n    ]\n    if kind == "track":\n        parts.append(f"SELECT b.track_id, false FROM trending._state_play_buckets b WHERE {_in_edges(\'b.hour\', edges)}")\n    return parts\n\n\ndef catch_up_estimate(plpy, cur: Cycle, prev: Cycle, consumed: str, meta: dict, reconcile_every: str) -> dict:\n    """What stage_affected would find, counted without reading a source:\n    the items the consumed delta rows name and the users they name (each\n    once: the karma of the items a user engaged moves by a difference), the\n    items the state\'s index ranges say moved with time (crossing_parts),\n    and the items due for reconciliation, weighed by RECONCILE_WEIGHT;\n    against the items the state holds (the planner\'s count, which the full\n    cycles\' ANALYZE keeps)."""\n    named = (f"SELECT count(*) FROM (SELECT d.kind, d.item_id FROM trending._capture_changed d"\n             f" WHERE {consumed} AND d.item_id IS NOT NULL"\n             f" UNION SELECT {KIND_CODE[\'track\']}::smallint, d.item_id FROM trending._capture_play_hours d"\n             f" WHERE {consumed}) AS x",\n             f"SELECT count(DISTINCT d.user_id) FROM trending._capture_changed d"\n             f" WHERE {consumed} AND d.source IN ({\', \'.join(map(str, USER_SOURCES))})")\n    crossing = [f"SELECT count(DISTINCT x.id) FROM ({\' UNION ALL \'.join(crossing_parts(kind, prev, cur))}) AS x (id, reread)"\n                for kind in ("track", "playlist")]\n    total = " + ".join(f"(SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint"\n                       f" ELSE (SELECT count(*) FROM {t}) END FROM pg_catalog.pg_class c WHERE c.oid = \'{t}\'::regclass)"\n                       for t in ("trending._state_tracks", "trending._state_playlists"))\n    row = plpy.execute(f"SELECT ({\' + \'.join(f\'({q})\' for q in named)})::bigint AS named,"\n                       f" ({\' + \'.join(f\'({q})\' for q in crossing)})::bigint AS crossing, ({total})::bigint AS items")[0]\n    named_n, crossing_n, items = int(row["named"]), int(row["crossing"]), int(row["items"])\n    due = _reconciliation_due(plpy, meta, cur.now_text, reconcile_every, items)\n    return {"named": named_n, "crossing": crossing_n, "to_reconcile": due,\n            "affected": named_n + crossing_n + math.ceil(due * RECONCILE_WEIGHT), "items": items}\n\n\n# An item due for reconciliation costs its read and a comparison: it is\n# rescored only when it drifted (keep_unchanged_share). At medium scale an\n# hour\'s share of a day\'s round (8,400 tracks) made the hourly cycle about\n# 0.5 s dearer than one of a 7-day round (1,200), in cycles of about 4 s\n# for 8,300 rescored tracks (docs/benchmark.md, "After a gap: the round\n# paced, and a day of rotation at medium", two runs): a share item costs\n# about a seventh of a rescored one; a quarter keeps a margin.\nRECONCILE_WEIGHT = 0.25\n\n\ndef _reconciliation_due(plpy, meta: dict, now_utc: str, reconcile_every: str, items: int) -> int:\n    """The items this cycle\'s share of the reconciliation would read whole\n    (plan_rotation\'s arithmetic, without its queries)."""\n    p = position(plpy, meta, now_utc, reconcile_every)["p"]\n    if not meta.get("rotation"):\n        return math.ceil(p * items)\n    rotation = json.loads(meta["rotation"])\n    return sum(0 if rotation["after"][t] == END else\n               (rotation["total"][t] - rotation["done"][t] if p >= 1 else\n                max(0, math.ceil(p * rotation["total"][t]) - rotation["done"][t]))\n               for t in ("track", "playlist"))\n\n\n# After a gap the round is behind the clock. Checking all it missed at once\n# would make the cycle after a gap read the gap\'s hours of shares (at\n# medium with a day\'s round, six hours\' were 50,000 items, and the estimate\n# made that cycle full: docs/benchmark.md), so a cycle checks at most this\n# many cycles\' shares; the following cycles catch up at the same pace, and\n# the round ends late by at most about the gap.\nCATCH_UP_PACE = 2\n\n\ndef paced_position(wall: float, step: float, hour: float, rotation: dict | None) -> float:\n    """Where the round gets to in this cycle: the clock\'s position `wall`\n    (at most 1), but at most CATCH_UP_PACE cycles\' shares past where the\n    last cycle left it. A cycle\'s share is this cycle\'s `step` (the time\n    since the last cycle, as a share of the round), unless that is longer\n    than the last cycle\'s (a gap), and at least an hour\'s (`hour`)."""\n    # the round\'s first cycle (rotation None): the last one was a full or a reconciling one\n    done, last_step = (rotation["position"], rotation["step"]) if rotation else (0.0, hour)\n    unit = max(hour, min(step, last_step))\n    p = max(done, min(wall, done + CATCH_UP_PACE * unit))\n    return 1.0 if p > 1 - 1e-9 else p  # a sum of shares that rounds just below the end\n\n\ndef position(plpy, meta: dict, now_utc: str, reconcile_every: str) -> dict:\n    """The round at now_utc: p (paced_position), wall (the clock\'s position,\n    at most 1), step (the time since the last cycle, as a share of the\n    round), classes (its number of hour classes)."""\n    row = plpy.execute(plpy.prepare(\n        "SELECT least(1, EXTRACT(epoch FROM $1::timestamp - $2::timestamp) / EXTRACT(epoch FROM $3::interval))::float8"\n        " AS wall, (EXTRACT(epoch FROM $1::timestamp - $4::timestamp) / EXTRACT(epoch FROM $3::interval))::float8"\n        " AS step, (3600 / EXTRACT(epoch FROM $3::interval))::float8 AS hour,"\n        " greatest(1, ceil(EXTRACT(epoch FROM $3::interval) / 3600))::int AS classes",\n        ["text", "text", "text", "text"]),\n        [now_utc, meta["reconciled_at"] or meta["cycle_now"], reconcile_every, meta["cycle_now"]])[0]\n    wall, step = max(0.0, float(row["wall"])), max(0.0, float(row["step"]))\n    rotation = json.loads(meta["rotation"]) if meta.get("rotation") else None\n    return {"p": paced_position(wall, step, float(row["hour"]), rotation), "wall": wall, "step": step,\n            "classes": int(row["classes"])}\n\n\n# ---------------------------------------------------------------------------\n# Rotating reconciliation (issue 18, item 2). A round begins at the state\'s\n# reconciled_at (a full cycle, or the cycle that completed the last round)\n# and lasts reconcile_every. At position p = (now - begin) / reconcile_every\n# the round has checked ceil(p x n) of each table\'s n rows (counted when the\n# round began), in id order, from a cursor; and the hours of the play\n# buckets whose class (hour number mod the round\'s hours) is below p x that\n# number. The cycle at p >= 1 (the \'reconcile\') checks the rest, so the whole\n# state is checked within reconcile_every whatever the cycles\' pace.\n# ---------------------------------------------------------------------------\nROTATED = {"track": ("trending._state_tracks", "track_id"),\n           "playlist": ("trending._state_playlists", "playlist_id"),\n           "user": ("trending._state_track_users", "user_id")}\nEND = "end"   # a cursor past the last id: the table is done for this round\n\n\ndef _new_round(plpy) -> dict:\n    total = {t: int(plpy.execute(f"SELECT count(*) AS n FROM {table}")[0]["n"]) for t, (table, _) in ROTATED.items()}\n    return {"after": dict.fromkeys(ROTATED), "total": total, "done": dict.fromkeys(ROTATED, 0), "hours": 0.0,\n            "drift": {}}\n\n\ndef plan_rotation(plpy, meta: dict, now_utc: str, reconcile_every: str, completes: bool) -> dict:\n    """This cycle\'s share of the round: {"share": {table: (after, upto) id\n    range, upto None for no bound; or None}, "hours": (first class, end\n    class, classes) or None, "position": p}, and the round as it will be\n    stored after this cycle ("next"; None when this cycle completes it)."""\n    rotation = json.loads(meta["rotation"]) if meta.get("rotation") else _new_round(plpy)\n    pace = position(plpy, meta, now_utc, reconcile_every)\n    p, classes = (1.0 if completes else pace["p"]), pace["classes"]\n    rotation["position"], rotation["step"] = p, pace["step"]\n    share = {}\n    for t, (table, id_col) in ROTATED.items():\n        after = rotation["after"][t]\n        if after == END:\n            share[t] = None\n            continue\n        if completes:\n            share[t], rotation["after"][t] = (after, None), END\n            continue\n        k = math.ceil(p * rotation["total"][t]) - rotation["done"][t]\n        if k <= 0:\n            share[t] = None\n            continue\n        bound = "" if after is None else f" WHERE s.{id_col} > {int(after)}"\n        upto = plpy.execute(f"SELECT s.{id_col} AS id FROM {table} s{bound} ORDER BY s.{id_col}"\n                            f" OFFSET {k - 1} LIMIT 1")\n        if upto:\n            share[t], rotation["after"][t] = (after, int(upto[0]["id"])), int(upto[0]["id"])\n            rotation["done"][t] += k\n        else:\n            share[t], rotation["after"][t] = (after, None), END\n    # hours: the share of the round done, so that a changed reconcile_every\n    # (another number of classes) carries on from there\n    first = min(classes, math.floor(rotation["hours"] * classes + 1e-9))\n    end = classes if completes else min(classes, math.floor(p * classes))\n    hours = (first, end, classes) if end > first else None\n    rotation["hours"] = max(rotation["hours"], end / classes)\n    return {"share": share, "hours": hours, "position": round(p, 4), "drift_before": rotation.get("drift", {}),\n            "next": None if completes else rotation}\n\n\ndef _id_range(column: str, bounds: tuple | None) -> str:\n    """SQL condition: column in the share\'s id range (after, upto]; false without a share."""\n    if bounds is None:\n        return "false"\n    after, upto = bounds\n    conditions = ([] if after is None else [f"{column} > {int(after)}"]) + ([] if upto is None else [f"{column} <= {int(upto)}"])\n    return " AND ".join(conditions) or "true"\n\n\ndef stage_share(plpy, kind: str, cur: Cycle, share: dict, guard) -> None:\n    """pg_temp.trending_<kind>_share: the items of this cycle\'s share (the\n    state\'s, and the sources\' current rows, in its id range: an item the\n    state lacks is drift too), and trending_<kind>_share_users: the users of\n    the users\' share (the state\'s and those with a weight in the sources)."""\n    state, id_col = ROTATED[kind]\n    items = [f"SELECT s.{id_col} FROM {state} s WHERE {_id_range(f\'s.{id_col}\', share[kind])}"]\n    users = [f"SELECT s.user_id FROM trending._state_{kind}_users s WHERE {_id_range(\'s.user_id\', share[\'user\'])}"]\n    if share[kind] is not None:\n        guard("share")  # the sources\' ids in the range, by their primary keys\n        if kind == "track":\n            items.append(f"SELECT t.track_id::bigint FROM {cur.source}.tracks t"\n                         f" WHERE t.is_current IS TRUE AND {_id_range(\'t.track_id\', share[kind])}")\n        else:\n            items.append(f"SELECT o.playlist_id FROM trending._state_playlist_owners o"\n                         f" WHERE {_id_range(\'o.playlist_id\', share[kind])}")\n            items.append(f"SELECT p.playlist_id::bigint FROM {cur.source}.playlists p"\n                         f" WHERE p.is_current IS TRUE AND {_id_range(\'p.playlist_id\', share[kind])}")\n    if share["user"] is not None:\n        guard("share_users")\n        users.append("SELECT w.user_id FROM (" + user_weights(\n            kind, cur.source, f"\\n  AND {_id_range(\'u.user_id\', share[\'user\'])}") + ") AS w")\n    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_share AS SELECT DISTINCT x.id FROM ("\n                 + " UNION ALL ".join(items) + ") AS x (id) WHERE x.id IS NOT NULL")\n    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_share_users AS SELECT DISTINCT x.user_id FROM ("\n                 + " UNION ALL ".join(users) + ") AS x (user_id) WHERE x.user_id IS NOT NULL")\n    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_share")\n    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_share_users")\n\n\n# The hours of this cycle\'s share of the play buckets (their class, the\n# hour number mod the round\'s hours, in [first, end)); the first share of a\n# round also takes the hours no class holds: after the current hour (plays\n# dated in the future, +infinity) and -infinity.\n_CHECKED_HOURS = """\nCREATE TEMP TABLE trending_checked_hours AS\nSELECT g.hour FROM pg_catalog.generate_series({keep}, pg_catalog.date_trunc(\'hour\', {now}), interval \'1 hour\') AS g (hour)\nWHERE (EXTRACT(epoch FROM g.hour)::bigint / 3600) % {classes} >= {first}\n  AND (EXTRACT(epoch FROM g.hour)::bigint / 3600) % {classes} < {end}\n"""\n\n# The plays of those hours from the sources, as of the cycle\'s snapshot\n# (less the delta rows of the transactions this read sees and the snapshot\n# does not: a later cycle adds those), against the state\'s buckets plus\n# the delta rows this cycle consumes: the tracks with a bucket that differs.\n_CHECK_PLAY_HOURS = """\nCREATE TEMP TABLE trending_play_hours_drift AS\nWITH fresh AS (\n    SELECT x.track_id, x.hour, sum(x.n) AS n FROM (\n        SELECT p.play_item_id::bigint AS track_id, pg_catalog.date_trunc(\'hour\', p.created_at) AS hour, 1 AS n\n        FROM pg_temp.trending_checked_hours h\n        JOIN {src}.plays p ON p.created_at >= h.hour AND p.created_at < h.hour + interval \'1 hour\'{other_plays}\n        UNION ALL\n        SELECT d.item_id, d.hour, -d.n FROM trending._capture_play_hours d\n        WHERE {after} AND ({in_hours_d})\n    ) AS x WHERE x.track_id IS NOT NULL GROUP BY x.track_id, x.hour HAVING sum(x.n) <> 0\n), kept AS (\n    SELECT k.track_id, k.hour, sum(k.n) AS n FROM (\n        SELECT b.track_id, b.hour, b.plays AS n FROM trending._state_play_buckets b WHERE {in_hours_b}\n        UNION ALL\n        SELECT d.item_id, d.hour, d.n FROM trending._capture_play_hours d WHERE {consumed} AND ({in_hours_d})\n    ) AS k GROUP BY k.track_id, k.hour HAVING sum(k.n) <> 0\n)\nSELECT COALESCE(f.track_id, k.track_id) AS track_id, COALESCE(f.hour, k.hour) AS hour\nFROM fresh f FULL JOIN kept k ON k.track_id = f.track_id AND k.hour = f.hour\nWHERE f.n IS DISTINCT FROM k.n\n"""\n\n\ndef check_play_hours(plpy, cur: Cycle, hours: tuple | None, consumed: str, after: str, guard) -> int:\n    """The play buckets\' share: compare the hours of this cycle\'s classes\n    with the plays the sources hold (as of the cycle\'s snapshot); the tracks\n    with a bucket that differs go to staging table pg_temp.trending_track_fresh (their plays are read\n    again from the sources and their buckets replaced: inputs.Scope.fresh).\n    Returns the buckets that differ (drift)."""\n    staging_table(plpy, "trending_track_fresh")  # trending._state_write reads it\n    if hours is None:\n        return 0\n    first, end, classes = hours\n    plpy.execute(_CHECKED_HOURS.format(keep=cur.track_month_keep, now=cur.now_utc, classes=int(classes),\n                                       first=int(first), end=int(end)))\n    listed = "{col} = ANY (ARRAY(SELECT h.hour FROM pg_temp.trending_checked_hours h))"\n    unlisted = (f" OR {{col}} >= pg_catalog.date_trunc(\'hour\', {cur.now_utc}) + interval \'1 hour\'"\n                " OR {col} = \'-infinity\'::timestamp") if first == 0 else ""\n    other_plays = (f"\\n        UNION ALL\\n        SELECT p.play_item_id::bigint, pg_catalog.date_trunc(\'hour\', p.created_at), 1"\n                   f" FROM {cur.source}.plays p WHERE p.created_at >= pg_catalog.date_trunc(\'hour\', {cur.now_utc})"\n                   f" + interval \'1 hour\' OR p.created_at = \'-infinity\'::timestamp") if first == 0 else ""\n    guard("play_hours")\n    plpy.execute(_CHECK_PLAY_HOURS.format(\n        src=cur.source, other_plays=other_plays, after=after, consumed=consumed,\n        in_hours_d=(listed + unlisted).format(col="d.hour"), in_hours_b=(listed + unlisted).format(col="b.hour")))\n    plpy.execute("INSERT INTO pg_temp.trending_track_fresh SELECT DISTINCT x.track_id FROM"\n                 " pg_temp.trending_play_hours_drift x WHERE x.track_id IS NOT NULL")\n    analyze_staging(plpy, "trending_track_fresh")\n    return int(plpy.execute("SELECT count(*) AS n FROM pg_temp.trending_play_hours_drift")[0]["n"])\n\n\ndef measure_drift(plpy, kind: str, after: str) -> dict:\n    """This cycle\'s share, before its state rows replace the stored ones:\n    the items whose stored inputs differ from the fresh ones, and the users\n    whose stored karma weight differs from the sources\', leaving out what\n    this cycle\'s changes name (it rescores them anyway) and what the delta\n    rows of transactions after its snapshot name (the next cycle does). Any\n    of it is drift: a change the capture or the incremental cycles missed."""\n    id_col = f"{kind}_id"\n    later = (f"SELECT d.item_id FROM trending._capture_changed d WHERE {after} AND d.kind = {KIND_CODE[kind]}"\n             + (f" UNION ALL SELECT d.item_id FROM trending._capture_play_hours d WHERE {after}"\n                if kind == "track" else ""))\n    items = int(plpy.execute(f"""\nWITH later AS MATERIALIZED ({later})\nSELECT count(*) AS n\nFROM pg_temp.trending_{kind}_checked c\nLEFT JOIN pg_temp.trending_{kind}_state f ON f.{id_col} = c.id\nLEFT JOIN trending._state_{kind}s s ON s.{id_col} = c.id\nWHERE ROW(f.*) IS DISTINCT FROM ROW(s.*) AND c.id NOT IN (SELECT l.item_id FROM later l WHERE l.item_id IS NOT NULL)""")[0]["n"])\n    users = int(plpy.execute(f"""\nSELECT count(*) AS n FROM pg_temp.trending_{kind}_named_weights n\nWHERE n.checked\n  AND ROW(n.weight, COALESCE(n.negative, false)) IS DISTINCT FROM ROW(n.old_weight, COALESCE(n.old_negative, false))\n  AND n.user_id NOT IN (SELECT d.user_id FROM trending._capture_changed d\n                        WHERE {after} AND d.source IN ({", ".join(map(str, USER_SOURCES))}) AND d.user_id IS NOT NULL)""")[0]["n"])\n    return {f"{kind}s": items, f"{kind}_users": users}\n\n\ndef keep_unchanged_share(plpy, kind: str) -> int:\n    """Compare, then rescore: the share\'s items that nothing else affects\n    (trending_<kind>_checked) and whose inputs, read again, equal the\n    state\'s (no drift; measure_drift has counted the others) keep their\n    scores: their scores are a function of those inputs, and no window or\n    decay step moved over them (they would be affected otherwise). Their\n    inputs leave pg_temp.trending_<kind>_inputs, and the changes step scores\n    and compares pg_temp.trending_<kind>_rescored, the affected items less\n    them. Their state rows, equal, are left alone by the state\'s write.\n    Returns how many were kept."""\n    id_col = f"{kind}_id"\n    plpy.execute(f"""\nCREATE TEMP TABLE trending_{kind}_rescored AS\nWITH kept AS (\n    DELETE FROM pg_temp.trending_{kind}_inputs i\n    USING pg_temp.trending_{kind}_checked c, pg_temp.trending_{kind}_state f, trending._state_{kind}s s\n    WHERE i.{id_col} = c.id AND f.{id_col} = c.id AND s.{id_col} = c.id\n      AND ROW(f.*) IS NOT DISTINCT FROM ROW(s.*)\n    RETURNING i.{id_col} AS id)\nSELECT a.id FROM pg_temp.trending_{kind}_affected a WHERE NOT EXISTS (SELECT FROM kept k WHERE k.id = a.id)""")\n    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_inputs")\n    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_rescored")\n    return int(plpy.execute(f"SELECT (SELECT count(*) FROM pg_temp.trending_{kind}_affected)"\n                            f" - (SELECT count(*) FROM pg_temp.trending_{kind}_rescored) AS n")[0]["n"])\n\n\n# Users named by the capture (their profile, follower count or rows changed).\n_NAMED_USERS = """\nSELECT DISTINCT d.user_id FROM trending._capture_changed d\nWHERE {consumed} AND d.source IN ({user_sources}) AND d.user_id IS NOT NULL\n"""\n\n\n# Each named user\'s karma weight now (from the sources) and as the state\n# holds it; and the same for the users of this cycle\'s share of the\n# reconciliation that the capture does not name (checked): a weight that\n# differs there is drift, applied as a difference like a named user\'s.\n_NAMED_WEIGHTS = """\nCREATE TEMP TABLE trending_{kind}_named_weights AS\nWITH named_users AS MATERIALIZED ({named}),\nusers_read AS MATERIALIZED (\n    SELECT n.user_id, false AS checked FROM named_users n\n    UNION ALL\n    SELECT c.user_id, true FROM pg_temp.trending_{kind}_share_users c\n    WHERE NOT EXISTS (SELECT FROM named_users n WHERE n.user_id = c.user_id)\n)\nSELECT n.user_id, w.weight, w.negative, s.weight AS old_weight, s.negative AS old_negative, n.checked\nFROM users_read n\nLEFT JOIN ({weights}) AS w ON w.user_id = n.user_id\nLEFT JOIN trending._state_{kind}_users s ON s.user_id = n.user_id\n"""\n\n# Per playlist, the sum of the weight differences of the users who changed\n# over its live saves and reposts by them (a user who both saved and\n# reposted counts twice, as in karma), per karma column; reread: the\n# playlist\'s karma must be summed again (_REREAD_USER).\n_KARMA_DELTA = """\nCREATE TEMP TABLE trending_{kind}_karma_delta AS\nWITH changed AS MATERIALIZED (\n    SELECT n.user_id, COALESCE(n.weight, 0) - COALESCE(n.old_weight, 0) AS delta, {reread_user} AS reread\n    FROM pg_temp.trending_{kind}_named_weights n\n    WHERE {changed}\n)\nSELECT x.id, {sums}, bool_or(c.reread) AS reread\nFROM (\n    SELECT s.save_item_id::bigint AS id, s.user_id::bigint AS user_id, s.created_at FROM {src}.saves s\n    WHERE s.user_id = ANY (ARRAY(SELECT c.user_id FROM changed c))\n      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), \'{kind}\')\n      AND s.is_current IS TRUE AND s.is_delete IS FALSE\n    UNION ALL\n    SELECT r.repost_item_id::bigint, r.user_id::bigint, r.created_at FROM {src}.reposts r\n    WHERE r.user_id = ANY (ARRAY(SELECT c.user_id FROM changed c))\n      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), \'{kind}\')\n      AND r.is_current IS TRUE AND r.is_delete IS FALSE\n) AS x\nJOIN changed c ON c.user_id = x.user_id\nGROUP BY x.id\n"""\n\n# A user whose weight changed. A track\'s karma counts no weight as 0; a\n# playlist\'s is NULL without a weight (its K is then 1), so there a weight\n# of 0 appearing or vanishing is a change.\n_CHANGED_USER = {\n    "track": ("(COALESCE(n.weight, 0), COALESCE(n.negative, false))"\n              " IS DISTINCT FROM (COALESCE(n.old_weight, 0), COALESCE(n.old_negative, false))"),\n    "playlist": ("(n.weight, COALESCE(n.negative, false))"\n                 " IS DISTINCT FROM (n.old_weight, COALESCE(n.old_negative, false))"),\n}\n\n# A changed user whose items\' karma is summed again rather than moved: a\n# follower count that is or was negative (the state\'s negative_contributors\n# must follow it); for playlists also a weight that appears or vanishes (a\n# playlist\'s karma is NULL without contributors, which a difference cannot\n# say).\n_REREAD_USER = {\n    "track": "COALESCE(n.negative, false) OR COALESCE(n.old_negative, false)",\n    "playlist": ("COALESCE(n.negative, false) OR COALESCE(n.old_negative, false)"\n                 " OR n.weight IS NULL OR n.old_weight IS NULL"),\n}\n\n\ndef stage_named_weights(plpy, kind: str, cur: Cycle, consumed: str) -> None:\n    """pg_temp.trending_<kind>_named_weights: the users the delta rows this\n    cycle consumes name (`consumed`: an SQL condition on the delta row\n    aliased d) and those of its share of the reconciliation\n    (trending_<kind>_share_users), with their weights now and as the state\n    holds them."""\n    named = _NAMED_USERS.format(consumed=consumed, user_sources=", ".join(map(str, USER_SOURCES)))\n    in_named = "\\n  AND u.user_id = ANY (ARRAY(SELECT n.user_id FROM users_read n))"\n    plpy.execute(_NAMED_WEIGHTS.format(kind=kind, named=named, weights=user_weights(kind, cur.source, in_named)))\n    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_named_weights")\n\n\ndef stage_karma_delta(plpy, cur: Cycle) -> None:\n    """pg_temp.trending_playlist_karma_delta: what the changes of the named\n    users\' weights add to each playlist\'s karma (delta_<range>, over the\n    saves and reposts inside each window), read from the sources by user."""\n    sums = ", ".join(f"sum(c.delta) FILTER (WHERE x.created_at >= {cur.playlist_starts[r]}) AS delta_{r}"\n                     for r in formulas.PLAYLIST_WINDOWS)  # karma takes created_at >= start (inputs._PLAYLIST_INPUTS)\n    plpy.execute(_KARMA_DELTA.format(kind="playlist", src=cur.source, sums=sums, changed=_CHANGED_USER["playlist"],\n                                     reread_user=_REREAD_USER["playlist"]))\n    plpy.execute("ANALYZE pg_temp.trending_playlist_karma_delta")\n\n\n# The (track, user, kind of action) of every save and repost row the\n# consumed delta rows name (source 3: saves, 4: reposts; an UPDATE names its\n# old and its new row).\n_ACTION_PAIRS = """\nINSERT INTO pg_temp.trending_track_action_pairs\nSELECT DISTINCT d.item_id, d.user_id, d.source = 4\nFROM trending._capture_changed d\nWHERE {consumed} AND d.kind = 1 AND d.source IN (3, 4) AND d.item_id IS NOT NULL\n"""\n\n# Those pairs\' live rows in the sources, by their primary keys (user_id and\n# the item lead them).\n_PAIR_ROWS = """\nINSERT INTO pg_temp.trending_track_pair_rows\nSELECT s.save_item_id::bigint, false, s.user_id::bigint, s.created_at\nFROM pg_temp.trending_track_action_pairs p\nJOIN {src}.saves s ON s.user_id = p.user_id AND s.save_item_id = p.track_id\nWHERE NOT p.is_repost\n  AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), \'track\')  -- by label, no cast (docs/security.md)\n  AND s.is_current IS TRUE AND s.is_delete IS FALSE\nUNION ALL\nSELECT r.repost_item_id::bigint, true, r.user_id::bigint, r.created_at\nFROM pg_temp.trending_track_action_pairs p\nJOIN {src}.reposts r ON r.user_id = p.user_id AND r.repost_item_id = p.track_id\nWHERE p.is_repost\n  AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), \'track\')  -- by label, no cast (docs/security.md)\n  AND r.is_current IS TRUE AND r.is_delete IS FALSE\n"""\n\n# Per track, what its counts and karma move by, one row per save or repost\n# that moves them (x: +1 came, -1 left, as of the current windows):\n# - the pairs read again: their stored rows leave (at the state\'s weight),\n#   the rows read come (at the user\'s weight now);\n# - the stored rows a window\'s start moved over (+1 or -1 per window);\n# - the stored rows of the users whose weight changed, but the pairs\' (they\n#   left above): their difference.\n# The state\'s karma is the sum of the state\'s weights over the stored rows,\n# so this keeps it that: K\' = K - sum(old rows, W) + sum(new rows, W\') +\n# sum(other rows of changed users, W\' - W). reread: a negative follower\n# count is involved (negative_contributors must follow it) or a pair has no\n# user to match: the track is read whole.\n_ACTION_DELTA = """\nCREATE TEMP TABLE trending_track_action_delta AS\nWITH changed AS MATERIALIZED (\n    SELECT n.user_id, COALESCE(n.weight, 0) - COALESCE(n.old_weight, 0) AS delta, {reread_user} AS reread\n    FROM pg_temp.trending_track_named_weights n\n    WHERE {changed}\n), moves AS (\n    SELECT o.track_id, o.is_repost, o.created_at, -1 AS x, -COALESCE(w.weight, 0) AS karma,\n           COALESCE(w.negative, false) OR COALESCE(n.negative, false) AS reread\n    FROM pg_temp.trending_track_action_pairs p\n    JOIN trending._state_track_actions o\n      ON o.track_id = p.track_id AND o.user_id = p.user_id AND o.is_repost = p.is_repost\n    LEFT JOIN trending._state_track_users w ON w.user_id = o.user_id\n    LEFT JOIN pg_temp.trending_track_named_weights n ON n.user_id = o.user_id\n    UNION ALL\n    SELECT r.track_id, r.is_repost, r.created_at, 1,\n           COALESCE(CASE WHEN n.user_id IS NULL THEN w.weight ELSE n.weight END, 0),\n           COALESCE(w.negative, false) OR COALESCE(n.negative, false) OR r.user_id IS NULL\n    FROM pg_temp.trending_track_pair_rows r\n    LEFT JOIN trending._state_track_users w ON w.user_id = r.user_id\n    LEFT JOIN pg_temp.trending_track_named_weights n ON n.user_id = r.user_id\n    UNION ALL\n    SELECT p.track_id, p.is_repost, NULL, 0, 0, true\n    FROM pg_temp.trending_track_action_pairs p WHERE p.user_id IS NULL\n), rows AS (\n    SELECT m.track_id, m.is_repost,\n           m.x * COALESCE(m.created_at > {week_start}, false)::integer AS week,\n           m.x * COALESCE(m.created_at > {month_start}, false)::integer AS month,\n           m.x * COALESCE(NOT pg_catalog.isfinite(m.created_at), false)::integer AS infinite,\n           m.karma, m.reread\n    FROM moves m\n    UNION ALL\n    SELECT e.track_id, e.is_repost,\n           (e.created_at > {week_start})::integer - (e.created_at > {prev_week_start})::integer,\n           (e.created_at > {month_start})::integer - (e.created_at > {prev_month_start})::integer,\n           0, 0, false\n    FROM trending._state_track_actions e\n    WHERE {edges}\n    UNION ALL\n    SELECT e.track_id, e.is_repost, 0, 0, 0, c.delta, c.reread\n    FROM trending._state_track_actions e\n    JOIN changed c ON c.user_id = e.user_id\n    WHERE e.user_id = ANY (ARRAY(SELECT c.user_id FROM changed c))\n      AND NOT EXISTS (SELECT FROM pg_temp.trending_track_action_pairs p\n                      WHERE p.track_id = e.track_id AND p.user_id = e.user_id AND p.is_repost = e.is_repost)\n)\nSELECT r.track_id AS id,\n       sum(r.week) FILTER (WHERE r.is_repost)      AS reposts_week,\n       sum(r.month) FILTER (WHERE r.is_repost)     AS reposts_month,\n       sum(r.week) FILTER (WHERE NOT r.is_repost)  AS saves_week,\n       sum(r.month) FILTER (WHERE NOT r.is_repost) AS saves_month,\n       sum(r.karma)                                AS karma,\n       sum(r.infinite)                             AS infinite_actions,\n       bool_or(r.reread)                           AS reread\nFROM rows r\nGROUP BY r.track_id\n"""\n\n\ndef stage_action_delta(plpy, cur: Cycle, prev: Cycle, consumed: str) -> None:\n    """Tracks\' saves and reposts as differences (the state keeps each live\n    one: trending._state_track_actions). The staging tables\n    pg_temp.trending_track_action_pairs (the pairs the consumed delta rows\n    name) and trending_track_pair_rows (their live rows in the sources),\n    which trending._state_write stores in place of the pairs\' stored rows,\n    and pg_temp.trending_track_action_delta (_ACTION_DELTA): per track, what\n    its counts and karma move by. Reads as many source rows as the pairs\n    have, whatever else the tracks have."""\n    staging_table(plpy, "trending_track_action_pairs")\n    plpy.execute(_ACTION_PAIRS.format(consumed=consumed))\n    analyze_staging(plpy, "trending_track_action_pairs")\n    staging_table(plpy, "trending_track_pair_rows")\n    plpy.execute(_PAIR_ROWS.format(src=cur.source))\n    analyze_staging(plpy, "trending_track_pair_rows")\n    plpy.execute(_ACTION_DELTA.format(changed=_CHANGED_USER["track"], reread_user=_REREAD_USER["track"],\n                                      week_start=cur.track_week_start, month_start=cur.track_month_start,\n                                      prev_week_start=prev.track_week_start, prev_month_start=prev.track_month_start,\n                                      edges=_track_engagement_edges(prev, cur)))\n    plpy.execute("ANALYZE pg_temp.trending_track_action_delta")\n\n\ndef _steps_values(kind: str) -> str:\n    return ", ".join(f"({k})" for k in decay_steps(kind))\n\n\ndef stage_affected(plpy, kind: str, cur: Cycle, prev: Cycle, consumed: str, guard) -> int:\n    """Fill pg_temp.trending_<kind>_affected with the ids to rescore, and\n    pg_temp.trending_<kind>_reread with those whose saves and reposts must be\n    read again (the others\' engagement counts and karma are the state\'s,\n    their karma moved by stage_karma_delta), trending_<kind>_summed with\n    those whose listens are summed from all their play buckets (the state\n    does not hold them, or they are in this cycle\'s share of the\n    reconciliation) and trending_<kind>_checked with the share\'s ids that\n    nothing else affects (their drift is counted: measure_drift); the number\n    affected. Reads the delta rows this cycle consumes (`consumed`: an SQL\n    condition on the delta row aliased d), the state, the share\n    (stage_share; for tracks, trending_track_fresh: check_play_hours) and\n    the saves and reposts the capture names (tracks: by pair,\n    stage_action_delta; playlists: those of the users named, by the\n    users\' index)."""\n    code = KIND_CODE[kind]\n    state = f"trending._state_{kind}s"\n    id_col = f"{kind}_id"\n    owners = "trending._state_playlist_owners" if kind == "playlist" else state\n    owner_id_col = "playlist_id" if kind == "playlist" else id_col\n    guard("affected")  # the users\' rows, saves and reposts are read from the sources\n    # (query, whether its items\' saves and reposts must be read again: they\n    # changed, a contributor\'s weight changed, or a window moved over them;\n    # whether it is the reconciliation\'s share)\n    # a playlist whose saves or reposts changed is read whole; a track\'s move by a difference\n    engagements_named = "d.source IN (3, 4)" if kind == "playlist" else "false"  # 3, 4: saves, reposts\n    parts = [\n        # items named: their rows, their saves and reposts, their counts (and, for tracks, plays)\n        (f"SELECT d.item_id, {engagements_named}, false FROM trending._capture_changed d"\n         f" WHERE {consumed} AND d.kind = {code} AND d.item_id IS NOT NULL"),\n        # items owned by the users named (owner_followers)\n        f"SELECT o.{owner_id_col}, false, false FROM {owners} o"\n        f" WHERE o.owner_id = ANY (ARRAY(SELECT n.user_id FROM named_users n))",\n        # the reconciliation\'s share: read whole\n        f"SELECT r.id, true, true FROM pg_temp.trending_{kind}_share r",\n    ]\n    # an item\'s karma moves by its contributors\' weight differences (and a\n    # track\'s counts and karma by its saves and reposts that changed or\n    # that a window moved over)\n    stage_named_weights(plpy, kind, cur, consumed)\n    if kind == "track":\n        stage_action_delta(plpy, cur, prev, consumed)\n        parts.append("SELECT kd.id, kd.reread, false FROM pg_temp.trending_track_action_delta kd")\n    else:\n        stage_karma_delta(plpy, cur)\n        parts.append("SELECT kd.id, kd.reread, false FROM pg_temp.trending_playlist_karma_delta kd")\n    # plays (and playlists\' engagements) that left a window, ages that crossed a decay step, release dates that passed\n    parts += [f"SELECT c.id, c.reread, false FROM ({q}) AS c (id, reread)"\n              for q in crossing_parts(kind, prev, cur, engagements=False)]\n    if kind == "track":\n        parts += [\n            f"SELECT d.item_id, false, false FROM trending._capture_play_hours d WHERE {consumed}",\n            # a play bucket of the share differs from the sources: its plays are read\n            # again, and its row too is checked (reconciliation, not a change)\n            "SELECT f.id, false, true FROM pg_temp.trending_track_fresh f",\n        ]\n    union = "\\n    UNION ALL\\n    ".join(parts)\n    staging_table(plpy, f"trending_{kind}_affected")  # trending._state_write reads it\n    if kind == "track":  # trending._state_write replaces the saves and reposts of the tracks read whole\n        staging_table(plpy, "trending_track_reread")\n    for table in ("reread", "summed", "checked") if kind == "playlist" else ("summed", "checked"):\n        plpy.execute(f"CREATE TEMP TABLE trending_{kind}_{table} (id bigint)")\n    plpy.execute(f"""\nWITH named_users AS MATERIALIZED ({_NAMED_USERS.format(consumed=consumed,\n                                                       user_sources=", ".join(map(str, USER_SOURCES)))}),\nparts AS MATERIALIZED (\n    SELECT x.id, bool_or(x.reread) AS reread, bool_or(x.share) AS in_share, bool_and(x.share) AS share_only,\n           NOT EXISTS (SELECT FROM {state} s WHERE s.{id_col} = x.id) AS unknown\n    FROM (\n    {union}\n    ) AS x (id, reread, share)\n    WHERE x.id IS NOT NULL\n    GROUP BY x.id\n), affected AS (\n    INSERT INTO pg_temp.trending_{kind}_affected SELECT p.id FROM parts p\n), summed AS (\n    INSERT INTO pg_temp.trending_{kind}_summed SELECT p.id FROM parts p WHERE p.in_share OR p.unknown\n), checked AS (\n    INSERT INTO pg_temp.trending_{kind}_checked SELECT p.id FROM parts p WHERE p.share_only\n)\n-- an item the state does not hold (it was not eligible) is read whole\nINSERT INTO pg_temp.trending_{kind}_reread\nSELECT p.id FROM parts p\nWHERE p.reread OR p.unknown""")\n    for table in ("reread", "summed", "checked"):\n        if kind == "track" and table == "reread":\n            analyze_staging(plpy, "trending_track_reread")\n        else:\n            plpy.execute(f"ANALYZE pg_temp.trending_{kind}_{table}")\n    analyze_staging(plpy, f"trending_{kind}_affected")\n    return int(plpy.execute(f"SELECT count(*) AS n FROM pg_temp.trending_{kind}_affected")[0]["n"])\n',
    'trending_pl.inputs': '"""Stage the inputs every strategy shares, once per cycle, as private temp tables.\n\nOne row per eligible track (pg_temp.trending_track_inputs) and per eligible\nplaylist (pg_temp.trending_playlist_inputs) holds everything the reference\'s formulas\nneed for every strategy and range: windowed counts, totals, karma, age, owner\nfollowers. The windows are FILTER clauses of the same aggregate. No source\nrow is ever visited from Python.\n\nA Scope says which items and where the plays come from:\n- a full cycle (and preview): every item, plays read from the sources, one\n  scan of the month of plays grouped by track and hour;\n- an incremental cycle: the affected items only (a temp table of ids, found\n  by incremental.py), their rows read by index, their plays from the state\'s\n  hourly buckets plus the delta rows not yet added to them (or, for tracks\n  whose buckets the reconciliation found wrong, from the sources);\n- explain: one item, plays from the sources.\nEither way a window\'s listens are the plays of the whole hours after the\nhour that holds its start, plus that partial first hour counted exactly\nfrom plays(created_at) (its own index range scan).\n"""\n\nfrom __future__ import annotations\n\nfrom dataclasses import dataclass\n\nfrom . import formulas\n\n\n@dataclass(frozen=True)\nclass Scope:\n    """Which items a staging covers and where their plays come from.\n    ids: a temp table (id bigint) of the items, or None for every item.\n    plays: "sources" (read plays; with `after`, an SQL condition on a delta\n    row aliased d, also the plays of the delta rows it holds for, those of\n    the transactions not visible in the cycle\'s snapshot, which a full cycle\n    keeps out of the state\'s buckets) or "state": the state\'s per-track sums\n    of whole hours, less the hours the windows left since the state\'s now\n    (prev_*_floor), plus the plays of the delta rows `consumed` (an SQL\n    condition on a delta row aliased d) holds for."""\n    ids: str | None = None\n    plays: str = "sources"\n    after: str | None = None\n    consumed: str | None = None\n    prev_week_floor: str | None = None   # state: the hours the state\'s sums start after\n    prev_month_floor: str | None = None\n    reread: str | None = None            # state: the ids whose saves and reposts are read again;\n                                         # the others\' engagement counts and karma are the state\'s\n    summed: str | None = None            # state: the ids whose whole hours are summed from all their\n                                         # buckets (the state does not hold them, or they are reconciled)\n    fresh: str | None = None             # state: the track ids whose plays are read from the sources\n                                         # (with `after`), their buckets to be replaced\n\n\nEVERYTHING = Scope()\n\n\n@dataclass(frozen=True)\nclass Cycle:\n    """What every statement of one cycle needs: where to read and when `now` is."""\n    source: str       # the source schema, quoted as an identifier\n    now_text: str     # now in UTC, ISO text, for the summary\n    now_utc: str      # SQL literals of type timestamp (UTC)\n    track_week_start: str\n    track_month_start: str\n    playlist_starts: dict  # time range -> SQL literal\n    track_week_floor: str = ""   # the hour (UTC) that holds each start\n    track_month_floor: str = ""\n    playlist_floors: dict = None\n    # The month window\'s start ("1 mon", day clamped to the month\'s end) can\n    # move back as now moves on: Dec 30 23:50 - 1 mon is Nov 30 23:50, Dec 31\n    # 10:08 - 1 mon is Nov 30 10:08. Never by more than a day, so the state\n    # keeps the plays and engagements from this hour on: the earliest any\n    # later window can reach.\n    track_month_keep: str = ""\n\n    @classmethod\n    def start(cls, plpy, now: str, source_schema: str) -> "Cycle":\n        """Window bounds in UTC, with PostgreSQL\'s calendar arithmetic (\'1 mon\')."""\n        bounds = {"now_utc": "interval \'0\'",\n                  "track_week_start": f"interval \'{formulas.TRACK_COUNT_WINDOWS[\'week\']}\'",\n                  "track_month_start": f"interval \'{formulas.TRACK_COUNT_WINDOWS[\'month\']}\'"}\n        bounds.update({f"playlist_{r}_start": f"interval \'{w}\'"\n                       for r, w in formulas.PLAYLIST_WINDOWS.items()})\n        bounds["track_month_keep"] = f"(interval \'{formulas.TRACK_COUNT_WINDOWS[\'month\']}\' + interval \'1 day\')"\n        select = ", ".join(f"(n - {interval})::text AS {name}, "\n                           f"pg_catalog.date_trunc(\'hour\', n - {interval})::text AS {name}_floor"\n                           for name, interval in bounds.items())\n        row = plpy.execute(f"SELECT {select} FROM (SELECT {plpy.quote_literal(now)}::timestamptz"\n                           f" AT TIME ZONE \'UTC\' AS n) AS cycle_now")[0]\n\n        def lit(name: str) -> str:\n            return f"{plpy.quote_literal(row[name])}::timestamp"\n\n        return cls(source=plpy.quote_ident(source_schema), now_text=row["now_utc"],\n                   now_utc=lit("now_utc"),\n                   track_week_start=lit("track_week_start"),\n                   track_month_start=lit("track_month_start"),\n                   playlist_starts={r: lit(f"playlist_{r}_start") for r in formulas.PLAYLIST_WINDOWS},\n                   track_week_floor=lit("track_week_start_floor"),\n                   track_month_floor=lit("track_month_start_floor"),\n                   playlist_floors={r: lit(f"playlist_{r}_start_floor") for r in formulas.PLAYLIST_WINDOWS},\n                   track_month_keep=lit("track_month_keep_floor"))\n\n\n# Traps and absurd rows counted per cycle (docs/reference.md, "Traps", and the "Absurd\n# rows"; docs/reference-absurd-rows.md says what each counts); None in a\n# summary when the kind of strategy that would find them is switched off.\nTRACK_BAD_ROWS = ("duplicate_current_tracks", "null_play_counts",\n                  "tracks_created_at_infinite", "tracks_release_date_infinite",\n                  "track_events_created_at_infinite", "track_genres_over_1000_bytes",\n                  "track_users_negative_followers", "track_karma_over_int8")\nPLAYLIST_BAD_ROWS = ("duplicate_current_playlists", "playlists_track_ids_not_array",\n                     "playlist_karma_over_int4",\n                     "playlists_created_at_infinite", "playlists_release_date_infinite",\n                     "playlist_events_created_at_infinite",\n                     "playlist_users_negative_followers", "playlist_karma_over_int8")\n\n# Kept across the scheduled procedure\'s commits (so not ON COMMIT DROP):\n# dropped by the last step, by a failure, and before a run stages anything.\nTEMP_TABLES = tuple(f"trending_{kind}_{table}" for kind in ("track", "playlist")\n                    for table in ("candidates", "inputs", "staged", "changes", "engagements", "affected",\n                                  "reread", "summed", "checked", "share", "share_users", "state",\n                                  "engagement_hours", "weights", "named_weights", "karma_delta", "user_state", "rescored",\n                                  "action_pairs", "pair_rows", "action_delta")) + (\n    "trending_play_hours", "trending_track_listens", "trending_playlist_owners", "trending_explain_ids",\n    "trending_track_fresh", "trending_checked_hours", "trending_play_hours_drift", "trending_rotation")\n\n\ndef staging_table(plpy, name: str) -> None:\n    """Create the empty temp table pg_temp.<name> that a SECURITY DEFINER\n    writer will read, through trending._staging_table: it is made and owned\n    by the extension\'s owner, this session may only fill and read it, so\n    nothing this role attaches to it can run as the owner (docs/security.md,\n    "What a definer function reads"). Its columns are the catalogue\'s,\n    sql/functions/_staging_columns.sql."""\n    plpy.execute(f"SELECT trending._staging_table({plpy.quote_literal(name)})")\n\n\ndef analyze_staging(plpy, name: str) -> None:\n    """ANALYZE a staging table (only its owner may: trending._staging_analyze)."""\n    plpy.execute(f"SELECT trending._staging_analyze({plpy.quote_literal(name)})")\n\n\ndef drop_temp_tables(plpy) -> None:\n    """Drop this cycle\'s private tables: the staging tables through\n    trending._staging_drop (the owner\'s), then the session\'s own."""\n    plpy.execute("SELECT trending._staging_drop()")\n    for name in TEMP_TABLES:\n        drop_temp_table(plpy, name)\n\n\ndef drop_temp_table(plpy, name: str) -> None:\n    """Drop this session\'s pg_temp.<name> if it has one. Looked up first, not\n    DROP ... IF EXISTS: its NOTICE ("does not exist, skipping") would land\n    among a cycle\'s progress lines, and a cycle\'s housekeeping prints nothing."""\n    if plpy.execute(f"SELECT pg_catalog.to_regclass(\'pg_temp.{name}\') IS NOT NULL AS present")[0]["present"]:\n        plpy.execute(f"DROP TABLE pg_temp.{name}")\n\n\ndef _age_days(c: Cycle, row: str) -> str:\n    """Whole days of now - base (the interval\'s days field, truncated toward zero).\n    base: created_at if release_date is after now, else the later of the two\n    (greatest() ignores a NULL release_date; an infinite release_date needs no\n    case of its own: +infinity is after now, -infinity loses to created_at).\n    created_at is finite (an infinite one makes the item not eligible). The\n    base is clamped into [now - AGE_CLAMP_DAYS, now] so that `now - base`\n    cannot overflow; the decay is the same (formulas.AGE_CLAMP_DAYS)."""\n    base = (f"CASE WHEN {row}.release_date > {c.now_utc} "\n            f"THEN {row}.created_at ELSE greatest({row}.release_date, {row}.created_at) END")\n    oldest = f"{c.now_utc} - interval \'{formulas.AGE_CLAMP_DAYS} days\'"\n    return f"EXTRACT(day FROM {c.now_utc} - greatest(least({base}, {c.now_utc}), {oldest}))::integer"\n\n\nINT8_MAX = 9223372036854775807\n_INFINITE = "\'-infinity\'::timestamp"   # the one created_at below every window bound\n\n\n_COMPLETE_PROFILE = """(u.cover_photo IS NOT NULL OR u.cover_photo_sizes IS NOT NULL)\n          AND (u.profile_picture IS NOT NULL OR u.profile_picture_sizes IS NOT NULL)\n          AND u.bio IS NOT NULL"""\n\n# An id with more than one current row is skipped (and counted): upstream\n# failed on it because the score tables\' key would collide. Grouping the\n# current rows gives both the single row\'s values and the duplicates.\n_TRACK_CANDIDATES = """\nCREATE TEMP TABLE trending_track_candidates AS\nSELECT t.track_id,\n       count(*)            AS current_rows,\n       min(t.owner_id)     AS owner_id,\n       min(t.genre)        AS genre,\n       min(t.created_at)   AS created_at,\n       min(t.release_date) AS release_date,\n       bool_and(t.is_delete IS FALSE AND t.is_unlisted IS FALSE AND t.stem_of IS NULL) AS listed\nFROM {src}.tracks t\nWHERE t.is_current IS TRUE{in_scope}\nGROUP BY t.track_id\n"""\n\n# Plays per track and hour, from the hour that holds the month window\'s start\n# on (and the hour of -infinity, read only to be counted). n_after: the plays\n# of the delta rows of transactions not visible in the snapshot a full cycle\n# arms at, which the state\'s buckets leave to a later cycle (see\n# _PLAY_HOURS_AFTER). A staging table (staging_table): trending._state_write\n# reads it.\n_PLAY_HOURS_FROM_SOURCES = """\nINSERT INTO pg_temp.trending_play_hours\nSELECT h.track_id, h.hour, pg_catalog.sum(h.n_source)::bigint, pg_catalog.sum(h.n_after)::bigint\nFROM (\n    SELECT p.play_item_id::bigint AS track_id, pg_catalog.date_trunc(\'hour\', p.created_at) AS hour,\n           1 AS n_source, 0 AS n_after\n    FROM {src}.plays p\n    WHERE (p.created_at >= {keep_floor} OR p.created_at = {infinite}){in_scope}\n    {after}\n) AS h\nGROUP BY h.track_id, h.hour\n"""\n\n# In the statement that reads the plays, so from the same snapshot: the delta\n# rows of the transactions this read sees and the cycle\'s snapshot does not,\n# whose plays the read counted (a later cycle consumes those rows).\n_PLAY_HOURS_AFTER = """UNION ALL\n    SELECT d.item_id, d.hour, 0, d.n\n    FROM trending._capture_play_hours d\n    WHERE {after} AND (d.hour >= {keep_floor} OR d.hour = {infinite}){in_scope}"""\n\n# Per track: the plays of the whole hours after the hour that holds each\n# window\'s start, and those dated +-infinity (counted as absurd rows); state_*: the same as of the watermark a\n# full cycle arms (less the delta rows not visible in its snapshot), which the state keeps.\n_LISTENS_TABLE = """\nCREATE TEMP TABLE trending_track_listens (track_id bigint, week_hours bigint, month_hours bigint,\n                                          infinite_plays bigint, state_week_hours bigint,\n                                          state_month_hours bigint, state_infinite_plays bigint)\n"""\n\n_LISTENS_FROM_PLAY_HOURS = """\nINSERT INTO pg_temp.trending_track_listens\nSELECT h.track_id,\n       sum(h.n_source) FILTER (WHERE h.hour > {week_floor}),\n       sum(h.n_source) FILTER (WHERE h.hour > {month_floor}),\n       sum(h.n_source) FILTER (WHERE NOT pg_catalog.isfinite(h.hour)),\n       sum(h.n_source - h.n_after) FILTER (WHERE h.hour > {week_floor}),\n       sum(h.n_source - h.n_after) FILTER (WHERE h.hour > {month_floor}),\n       sum(h.n_source - h.n_after) FILTER (WHERE NOT pg_catalog.isfinite(h.hour))\nFROM pg_temp.trending_play_hours h\nGROUP BY h.track_id\n"""\n\n# An incremental cycle\'s plays, for the affected tracks only: the state\'s\n# sums less the buckets of the hours each window left since the state\'s now,\n# plus the delta rows not yet in the buckets; a track the state does not\n# hold (it was not eligible), or that the reconciliation checks, sums its\n# buckets; a fresh one (its plays read from the sources) is left out here.\n_LISTENS_FROM_STATE = """\nWITH left_windows AS (\n    -- a window\'s start moves on (hours leave it) or, for the calendar month,\n    -- may move back up to a day (hours come back into it)\n    SELECT b.track_id,\n           COALESCE(sum(b.plays) FILTER (WHERE b.hour > {prev_week_floor} AND b.hour <= {week_floor}), 0)\n           - COALESCE(sum(b.plays) FILTER (WHERE b.hour > {week_floor} AND b.hour <= {prev_week_floor}), 0)\n               AS week_out,\n           COALESCE(sum(b.plays) FILTER (WHERE b.hour > {prev_month_floor} AND b.hour <= {month_floor}), 0)\n           - COALESCE(sum(b.plays) FILTER (WHERE b.hour > {month_floor} AND b.hour <= {prev_month_floor}), 0)\n               AS month_out\n    FROM trending._state_play_buckets b\n    WHERE (b.hour > least({prev_week_floor}, {week_floor}) AND b.hour <= greatest({prev_week_floor}, {week_floor}))\n       OR (b.hour > least({prev_month_floor}, {month_floor}) AND b.hour <= greatest({prev_month_floor}, {month_floor}))\n    GROUP BY b.track_id\n), summed AS (\n    SELECT b.track_id,\n           sum(b.plays) FILTER (WHERE b.hour > {week_floor})  AS week_all,\n           sum(b.plays) FILTER (WHERE b.hour > {month_floor}) AS month_all,\n           sum(b.plays) FILTER (WHERE NOT pg_catalog.isfinite(b.hour)) AS infinite_all\n    FROM trending._state_play_buckets b\n    WHERE b.track_id = ANY (ARRAY(SELECT u.id FROM {summed} u))\n    GROUP BY b.track_id\n), added AS (\n    SELECT d.item_id AS track_id,\n           sum(d.n) FILTER (WHERE d.hour > {week_floor})  AS week_new,\n           sum(d.n) FILTER (WHERE d.hour > {month_floor}) AS month_new,\n           sum(d.n) FILTER (WHERE NOT pg_catalog.isfinite(d.hour)) AS infinite_new\n    FROM trending._capture_play_hours d\n    WHERE {consumed} AND d.item_id IN (SELECT a.id FROM {ids} a)\n    GROUP BY d.item_id\n), sums AS (\n    SELECT a.id AS track_id,\n           CASE WHEN m.summed THEN COALESCE(u.week_all, 0)\n                ELSE COALESCE(s.week_hours, 0) - COALESCE(o.week_out, 0) END + COALESCE(n.week_new, 0) AS week_hours,\n           CASE WHEN m.summed THEN COALESCE(u.month_all, 0)\n                ELSE COALESCE(s.month_hours, 0) - COALESCE(o.month_out, 0) END + COALESCE(n.month_new, 0) AS month_hours,\n           CASE WHEN m.summed THEN COALESCE(u.infinite_all, 0)\n                ELSE COALESCE(s.infinite_plays, 0) END + COALESCE(n.infinite_new, 0) AS infinite_plays\n    FROM {ids} a\n    CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM {summed} x WHERE x.id = a.id) AS summed) AS m\n    LEFT JOIN trending._state_tracks s ON s.track_id = a.id\n    LEFT JOIN left_windows o ON o.track_id = a.id\n    LEFT JOIN summed u ON u.track_id = a.id\n    LEFT JOIN added n ON n.track_id = a.id{not_fresh}\n)\nINSERT INTO pg_temp.trending_track_listens\nSELECT x.track_id, x.week_hours, x.month_hours, x.infinite_plays, x.week_hours, x.month_hours, x.infinite_plays\nFROM sums x\n"""\n\n# A staging table (staging_table): trending._state_write keeps these rows\n# (trending._state_track_actions).\n_TRACK_ENGAGEMENTS = """\nINSERT INTO pg_temp.trending_track_engagements\nSELECT r.repost_item_id::bigint AS track_id, true AS is_repost, r.user_id::bigint AS user_id, r.created_at\nFROM {src}.reposts r\nWHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), \'track\')  -- by label, no cast (docs/security.md)\n  AND r.is_current IS TRUE AND r.is_delete IS FALSE{reposts_in_scope}\nUNION ALL\nSELECT s.save_item_id::bigint, false, s.user_id::bigint, s.created_at\nFROM {src}.saves s\nWHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), \'track\')  -- by label, no cast (docs/security.md)\n  AND s.is_current IS TRUE AND s.is_delete IS FALSE{saves_in_scope}\n"""\n\n# Karma weight of a user: follower_count once per users row with a complete\n# profile, for tracks every row (current or not, as upstream), for playlists\n# the current ones (upstream filters is_current there). A negative\n# follower_count adds nothing, as if the user had no aggregate_user row\n# (docs/reference.md, Absurd rows). Also read by incremental.py for the\n# users the capture names.\n_USER_ROWS = {"track": "", "playlist": "u.is_current IS TRUE AND "}\n\n\ndef user_weights(kind: str, src: str, users_in_scope: str) -> str:\n    """The query of the karma weights of `kind` of the users in scope."""\n    return f"""\nSELECT u.user_id::bigint AS user_id, sum(au.follower_count) FILTER (WHERE au.follower_count >= 0)::numeric AS weight,\n       bool_or(au.follower_count < 0) AS negative\nFROM {src}.users u\nJOIN {src}.aggregate_user au ON au.user_id = u.user_id\nWHERE {_USER_ROWS[kind]}{_COMPLETE_PROFILE}{users_in_scope}\nGROUP BY u.user_id\n"""\n\n\n# An incremental cycle\'s weights of the contributors to the items whose\n# saves and reposts it reads again: the state\'s, or for a user the capture\n# named, the new one (incremental.py). Never the sources\' for a user not\n# named: the state\'s karma sums hold the state\'s weights, and a change not\n# yet named is applied, as a difference, when it is.\n_WEIGHTS_FROM_STATE = """\nCREATE TEMP TABLE trending_{kind}_weights AS\nSELECT e.user_id,\n       CASE WHEN n.user_id IS NULL THEN s.weight ELSE n.weight END AS weight,\n       CASE WHEN n.user_id IS NULL THEN s.negative ELSE n.negative END AS negative\nFROM (SELECT DISTINCT g.user_id FROM pg_temp.trending_{kind}_engagements g) AS e\nLEFT JOIN pg_temp.trending_{kind}_named_weights n ON n.user_id = e.user_id\nLEFT JOIN trending._state_{kind}_users s ON s.user_id = e.user_id\n"""\n\n\ndef _stage_weights(plpy, c: "Cycle", kind: str, scope: "Scope") -> None:\n    """pg_temp.trending_<kind>_weights: the karma weights of the contributors\n    to the items whose saves and reposts were read (every user\'s, reading\n    every item)."""\n    if scope.reread is not None:\n        plpy.execute(_WEIGHTS_FROM_STATE.format(kind=kind))\n    else:\n        users_in_scope = "" if scope.ids is None else (\n            f"\\n  AND u.user_id = ANY (ARRAY(SELECT DISTINCT e.user_id FROM pg_temp.trending_{kind}_engagements e))")\n        plpy.execute(f"CREATE TEMP TABLE trending_{kind}_weights AS" + user_weights(kind, c.source, users_in_scope))\n    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_weights")\n\n\n_TRACK_INPUTS = """\nCREATE TEMP TABLE trending_track_inputs AS\nWITH eligible AS (\n    -- an infinite created_at makes a track not eligible (counted)\n    SELECT c.* FROM pg_temp.trending_track_candidates c\n    WHERE c.current_rows = 1 AND c.listed AND pg_catalog.isfinite(c.created_at)\n),\n-- the whole hours after the hour that holds each window\'s start are in\n-- trending_track_listens; the partial hour that holds it, exactly (created_at > start):\nlisten_edges AS (\n    SELECT p.play_item_id AS track_id,\n           count(*) FILTER (WHERE p.created_at > {week_start} AND p.created_at < {week_floor} + interval \'1 hour\')\n               AS week_edge,\n           count(*) FILTER (WHERE p.created_at > {month_start} AND p.created_at < {month_floor} + interval \'1 hour\')\n               AS month_edge\n    FROM {src}.plays p\n    WHERE (p.created_at > {week_start} AND p.created_at < {week_floor} + interval \'1 hour\')\n       OR (p.created_at > {month_start} AND p.created_at < {month_floor} + interval \'1 hour\')\n    GROUP BY p.play_item_id\n),\nengagement_counts AS (\n    SELECT e.track_id,\n           count(*) FILTER (WHERE e.is_repost AND e.created_at > {week_start})      AS reposts_week,\n           count(*) FILTER (WHERE e.is_repost AND e.created_at > {month_start})     AS reposts_month,\n           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {week_start})  AS saves_week,\n           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {month_start}) AS saves_month,\n           sum(w.weight)                                                           AS karma,\n           count(*) FILTER (WHERE NOT pg_catalog.isfinite(e.created_at))           AS infinite_actions,\n           array_agg(e.user_id ORDER BY e.user_id) FILTER (WHERE w.negative)      AS negative_contributors\n    FROM pg_temp.trending_track_engagements e\n    LEFT JOIN pg_temp.trending_track_weights w ON w.user_id = e.user_id\n    GROUP BY e.track_id\n),\nengagement_inputs AS (\n    SELECT * FROM engagement_counts{engagements_from_state}\n)\nSELECT e.track_id,\n       -- too long for the genre index: stored as NULL (counted)\n       CASE WHEN pg_catalog.octet_length(e.genre) > {genre_max_bytes} THEN NULL ELSE e.genre END AS genre,\n       COALESCE(pg_catalog.octet_length(e.genre) > {genre_max_bytes}, false) AS genre_too_long,\n       e.owner_id,\n       au.follower_count                     AS owner_followers,\n       {age_days}                            AS age_days,\n       NOT COALESCE(pg_catalog.isfinite(e.release_date), true) AS release_date_infinite,\n       COALESCE(l.infinite_plays, 0) + COALESCE(g.infinite_actions, 0) AS infinite_events,\n       g.negative_contributors,\n       COALESCE(l.week_hours, 0) + COALESCE(x.week_edge, 0)   AS listens_week,\n       COALESCE(l.month_hours, 0) + COALESCE(x.month_edge, 0) AS listens_month,\n       COALESCE(g.reposts_week, 0)           AS reposts_week,\n       COALESCE(g.reposts_month, 0)          AS reposts_month,\n       COALESCE(g.saves_week, 0)             AS saves_week,\n       COALESCE(g.saves_month, 0)            AS saves_month,\n       COALESCE(at.repost_count, 0)          AS repost_total,\n       COALESCE(at.save_count, 0)            AS save_total,\n       ap.count                              AS play_total,\n       ap.play_item_id IS NOT NULL AND ap.count IS NULL AS null_play_count,\n       COALESCE(g.karma, 0)                  AS karma,\n       COALESCE(g.infinite_actions, 0)       AS infinite_actions\nFROM eligible e\nLEFT JOIN {src}.aggregate_user au     ON au.user_id = e.owner_id\nLEFT JOIN pg_temp.trending_track_listens l ON l.track_id = e.track_id\nLEFT JOIN listen_edges x              ON x.track_id = e.track_id\nLEFT JOIN engagement_inputs g         ON g.track_id = e.track_id\nLEFT JOIN {src}.aggregate_track at    ON at.track_id = e.track_id\nLEFT JOIN {src}.aggregate_plays ap    ON ap.play_item_id = e.track_id\n"""\n\n_PLAYLIST_CANDIDATES = """\nCREATE TEMP TABLE trending_playlist_candidates AS\nSELECT p.playlist_id,\n       count(*)                 AS current_rows,\n       min(p.playlist_owner_id) AS owner_id,\n       min(p.created_at)        AS created_at,\n       min(p.release_date)      AS release_date,\n       bool_and(p.is_delete IS FALSE AND p.is_private IS FALSE) AS listed,\n       bool_and(pg_catalog.jsonb_typeof(p.playlist_contents -> \'track_ids\') IS NOT DISTINCT FROM \'array\')\n                                AS track_ids_is_array,\n       min(CASE WHEN pg_catalog.jsonb_typeof(p.playlist_contents -> \'track_ids\') = \'array\'\n                THEN pg_catalog.jsonb_array_length(p.playlist_contents -> \'track_ids\') END)\n                                AS track_count\nFROM {src}.playlists p\nWHERE p.is_current IS TRUE{in_scope}\nGROUP BY p.playlist_id\n"""\n\n# the widest window bounds the read (all windows are nested), but for the\n# rows dated -infinity, read only to be counted\n_PLAYLIST_ENGAGEMENTS = """\nCREATE TEMP TABLE trending_playlist_engagements AS\nSELECT r.repost_item_id::bigint AS playlist_id, true AS is_repost, r.user_id::bigint AS user_id, r.created_at\nFROM {src}.reposts r\nWHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), \'playlist\')  -- by label, no cast (docs/security.md)\n  AND r.is_current IS TRUE AND r.is_delete IS FALSE\n  AND (r.created_at >= {year_start} OR r.created_at = {infinite}){reposts_in_scope}\nUNION ALL\nSELECT s.save_item_id::bigint, false, s.user_id::bigint, s.created_at\nFROM {src}.saves s\nWHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), \'playlist\')  -- by label, no cast (docs/security.md)\n  AND s.is_current IS TRUE AND s.is_delete IS FALSE\n  AND (s.created_at >= {year_start} OR s.created_at = {infinite}){saves_in_scope}\n"""\n\n_PLAYLIST_INPUTS = """\nCREATE TEMP TABLE trending_playlist_inputs AS\nWITH eligible AS (\n    SELECT c.*, au.follower_count AS owner_followers\n    FROM pg_temp.trending_playlist_candidates c\n    JOIN {src}.aggregate_user au ON au.user_id = c.owner_id\n    WHERE c.current_rows = 1 AND c.listed AND c.track_ids_is_array AND c.track_count >= 3\n      AND pg_catalog.isfinite(c.created_at)\n),\n-- counts take created_at > start, karma created_at >= start (as upstream)\nengagement_counts AS (\n    SELECT e.playlist_id,\n           {window_columns}\n    FROM pg_temp.trending_playlist_engagements e\n    LEFT JOIN pg_temp.trending_playlist_weights w ON w.user_id = e.user_id\n    GROUP BY e.playlist_id\n),\nengagement_inputs AS (\n    SELECT * FROM engagement_counts{engagements_from_state}\n)\nSELECT e.playlist_id,\n       e.owner_id,\n       e.owner_followers,\n       {age_days}                            AS age_days,\n       NOT COALESCE(pg_catalog.isfinite(e.release_date), true) AS release_date_infinite,\n       COALESCE(g.infinite_events, 0)        AS infinite_events,\n       g.negative_contributors,\n       {window_outputs},\n       COALESCE(ap.repost_count, 0)          AS repost_total,\n       COALESCE(ap.save_count, 0)            AS save_total\nFROM eligible e\nLEFT JOIN engagement_inputs g         ON g.playlist_id = e.playlist_id\nLEFT JOIN {src}.aggregate_playlist ap ON ap.playlist_id = e.playlist_id\n"""\n\n# A user with a negative follower_count is counted once per kind of item,\n# when met as the owner of an eligible item or as one of its karma\n# contributors (whose follower_count the karma would have summed).\n_NEGATIVE_FOLLOWER_USERS = """(SELECT count(DISTINCT n.user_id) FROM (\n           SELECT i.owner_id AS user_id FROM {inputs} i WHERE i.owner_followers < 0\n           UNION ALL\n           SELECT pg_catalog.unnest(i.negative_contributors) FROM {inputs} i\n           WHERE i.negative_contributors IS NOT NULL) AS n)"""\n\n_TRACK_BAD_ROWS = f"""\nSELECT (SELECT count(*) FROM pg_temp.trending_track_candidates WHERE current_rows > 1) AS duplicate_current_tracks,\n       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE null_play_count)      AS null_play_counts,\n       (SELECT count(*) FROM pg_temp.trending_track_candidates\n         WHERE current_rows = 1 AND listed AND NOT pg_catalog.isfinite(created_at))   AS tracks_created_at_infinite,\n       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE release_date_infinite)\n           AS tracks_release_date_infinite,\n       (SELECT COALESCE(sum(infinite_events), 0) FROM pg_temp.trending_track_inputs)\n           AS track_events_created_at_infinite,\n       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE genre_too_long)\n           AS track_genres_over_1000_bytes,\n       {_NEGATIVE_FOLLOWER_USERS.format(inputs="pg_temp.trending_track_inputs")}\n           AS track_users_negative_followers,\n       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE karma > {INT8_MAX})\n           AS track_karma_over_int8\n"""\n\n_PLAYLIST_BAD_ROWS = """\nSELECT (SELECT count(*) FROM pg_temp.trending_playlist_candidates WHERE current_rows > 1)\n           AS duplicate_current_playlists,\n       (SELECT count(*) FROM pg_temp.trending_playlist_candidates\n         WHERE current_rows = 1 AND listed AND NOT track_ids_is_array)\n           AS playlists_track_ids_not_array,\n       (SELECT count(*) FROM pg_temp.trending_playlist_inputs\n         WHERE greatest({karmas}) > 2147483647)\n           AS playlist_karma_over_int4,\n       (SELECT count(*) FROM pg_temp.trending_playlist_candidates\n         WHERE current_rows = 1 AND listed AND NOT pg_catalog.isfinite(created_at))\n           AS playlists_created_at_infinite,\n       (SELECT count(*) FROM pg_temp.trending_playlist_inputs WHERE release_date_infinite)\n           AS playlists_release_date_infinite,\n       (SELECT COALESCE(sum(infinite_events), 0) FROM pg_temp.trending_playlist_inputs)\n           AS playlist_events_created_at_infinite,\n       {negative_users}\n           AS playlist_users_negative_followers,\n       (SELECT count(*) FROM pg_temp.trending_playlist_inputs\n         WHERE greatest({karmas}) > {int8_max})\n           AS playlist_karma_over_int8\n"""\n\n\ndef _no_guard(point: str) -> None:\n    pass\n\n\ndef _in(ids: str | None, column: str) -> str:\n    """ AND column IN (the scope\'s ids), or nothing for every item."""\n    # = ANY (ARRAY(...)): one index probe per id, whatever the planner thinks\n    # of the ids\' range (a merge join would walk the index from its start)\n    return "" if ids is None else f"\\n  AND {column} = ANY (ARRAY(SELECT a.id FROM {ids} a))"\n\n\n_TRACK_ENGAGEMENT_COLUMNS = ("reposts_week", "reposts_month", "saves_week", "saves_month", "karma",\n                             "infinite_actions", "negative_contributors")\n\n\ndef _engagements_from_state(kind: str, scope: Scope, columns) -> str:\n    """An incremental cycle: the engagement counts and karma of the affected\n    items it does not read again are the state\'s, moved by differences.\n    - Tracks: by pg_temp.trending_track_action_delta (incremental.py,\n      stage_action_delta): the saves and reposts that came, left, or left or\n      entered a window, and the weight differences of the users who changed.\n      negative_contributors stays: a track where a negative follower count\n      is involved is read again (scope.reread).\n    - Playlists: their counts changed only if their saves or reposts did,\n      or a window moved over them (then they are in scope.reread); their\n      karma moves by the weight differences of the users who changed\n      (pg_temp.trending_playlist_karma_delta)."""\n    if scope.reread is None:\n        return ""\n    id_col = f"{kind}_id"\n    values = {c: f"st.{c}" for c in columns}\n    if kind == "track":\n        for column in (c for c in columns if c != "negative_contributors"):\n            values[column] = f"st.{column} + COALESCE(kd.{column}, 0)"\n        delta_join = "\\n    LEFT JOIN pg_temp.trending_track_action_delta kd ON kd.id = st.track_id"\n    else:\n        for karma in (c for c in columns if c.startswith("karma")):\n            # NULL stays NULL: a playlist karma without contributors has no difference to add\n            values[karma] = f"st.{karma} + COALESCE(kd.delta{karma[len(\'karma\'):]}, 0)"\n        delta_join = f"\\n    LEFT JOIN pg_temp.trending_{kind}_karma_delta kd ON kd.id = st.{id_col}"\n    return (f"\\n    UNION ALL\\n    SELECT st.{id_col}, " + ", ".join(values[c] for c in columns)\n            + f"\\n    FROM trending._state_{kind}s st{delta_join}"\n            f"\\n    WHERE st.{id_col} = ANY (ARRAY(SELECT a.id FROM {scope.ids} a"\n            f" WHERE NOT EXISTS (SELECT FROM {scope.reread} r WHERE r.id = a.id)))")\n\n\ndef _stage_listens(plpy, c: Cycle, scope: Scope) -> None:\n    """pg_temp.trending_track_listens (and, reading the sources, trending_play_hours)."""\n    plpy.execute(_LISTENS_TABLE)\n    if scope.plays == "state":\n        not_fresh = "" if scope.fresh is None else (\n            f"\\n    WHERE NOT EXISTS (SELECT FROM {scope.fresh} f WHERE f.id = a.id)")\n        plpy.execute(_LISTENS_FROM_STATE.format(ids=scope.ids, summed=scope.summed, consumed=scope.consumed,\n                                                week_floor=c.track_week_floor, month_floor=c.track_month_floor,\n                                                prev_week_floor=scope.prev_week_floor,\n                                                prev_month_floor=scope.prev_month_floor, infinite=_INFINITE,\n                                                not_fresh=not_fresh))\n    if scope.plays != "state" or scope.fresh is not None:\n        # every item\'s plays, or the fresh ones\' (their buckets are replaced: _state_write)\n        ids = scope.ids if scope.plays != "state" else scope.fresh\n        staging_table(plpy, "trending_play_hours")\n        after = "" if scope.after is None else _PLAY_HOURS_AFTER.format(\n            after=scope.after, keep_floor=c.track_month_keep, infinite=_INFINITE,\n            in_scope=_in(ids, "d.item_id"))\n        plpy.execute(_PLAY_HOURS_FROM_SOURCES.format(src=c.source, keep_floor=c.track_month_keep,\n                                                     infinite=_INFINITE, after=after,\n                                                     in_scope=_in(ids, "p.play_item_id")))\n        plpy.execute(_LISTENS_FROM_PLAY_HOURS.format(week_floor=c.track_week_floor, month_floor=c.track_month_floor,\n                                                     infinite=_INFINITE))\n    plpy.execute("ANALYZE pg_temp.trending_track_listens")\n\n\ndef stage_track_inputs(plpy, c: Cycle, guard=_no_guard, scope: Scope = EVERYTHING) -> dict[str, int]:\n    """Build trending_track_inputs for the scope\'s tracks; return the track\n    traps found among them. guard(point) runs before each statement that\n    reads the sources ("candidates", "plays", "engagements", "inputs")."""\n    guard("candidates")\n    plpy.execute(_TRACK_CANDIDATES.format(src=c.source, in_scope=_in(scope.ids, "t.track_id")))\n    plpy.execute("ANALYZE pg_temp.trending_track_candidates")\n    if scope.plays != "state" or scope.fresh is not None:\n        guard("plays")\n    _stage_listens(plpy, c, scope)\n    guard("engagements")\n    engaged = scope.reread or scope.ids\n    staging_table(plpy, "trending_track_engagements")\n    plpy.execute(_TRACK_ENGAGEMENTS.format(src=c.source, reposts_in_scope=_in(engaged, "r.repost_item_id"),\n                                           saves_in_scope=_in(engaged, "s.save_item_id")))\n    analyze_staging(plpy, "trending_track_engagements")\n    guard("inputs")\n    _stage_weights(plpy, c, "track", scope)\n    plpy.execute(_TRACK_INPUTS.format(src=c.source, week_start=c.track_week_start,\n                                      month_start=c.track_month_start, week_floor=c.track_week_floor,\n                                      month_floor=c.track_month_floor,\n                                      engagements_from_state=_engagements_from_state(\n                                          "track", scope, _TRACK_ENGAGEMENT_COLUMNS),\n                                      infinite=_INFINITE, genre_max_bytes=formulas.GENRE_MAX_BYTES,\n                                      age_days=_age_days(c, "e")))\n    plpy.execute("ANALYZE pg_temp.trending_track_inputs")\n    row = plpy.execute(_TRACK_BAD_ROWS)[0]\n    return {key: int(row[key]) for key in TRACK_BAD_ROWS}\n\n\ndef stage_playlist_inputs(plpy, c: Cycle, guard=_no_guard, scope: Scope = EVERYTHING) -> dict[str, int]:\n    """Build trending_playlist_inputs for the scope\'s playlists; return the playlist traps found."""\n    ranges = list(formulas.PLAYLIST_WINDOWS)\n    starts = c.playlist_starts\n    widest = max(ranges, key=lambda r: formulas.WINDOW_DAYS[r])\n    window_columns = ",\\n           ".join(\n        [f"count(*) FILTER (WHERE e.is_repost AND e.created_at > {starts[r]}) AS reposts_{r}" for r in ranges]\n        + [f"count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {starts[r]}) AS saves_{r}" for r in ranges]\n        + [f"sum(w.weight) FILTER (WHERE e.created_at >= {starts[r]}) AS karma_{r}" for r in ranges]\n        + ["count(*) FILTER (WHERE NOT pg_catalog.isfinite(e.created_at)) AS infinite_events",\n           # contributors to some window\'s karma (the widest window holds them all)\n           f"array_agg(e.user_id ORDER BY e.user_id) FILTER (WHERE w.negative AND e.created_at >= {starts[widest]})"\n           " AS negative_contributors"])\n    window_outputs = ",\\n       ".join(\n        [f"COALESCE(g.reposts_{r}, 0) AS reposts_{r}" for r in ranges]\n        + [f"COALESCE(g.saves_{r}, 0) AS saves_{r}" for r in ranges]\n        + [f"g.karma_{r} AS karma_{r}" for r in ranges])\n    guard("candidates")\n    plpy.execute(_PLAYLIST_CANDIDATES.format(src=c.source, in_scope=_in(scope.ids, "p.playlist_id")))\n    plpy.execute("ANALYZE pg_temp.trending_playlist_candidates")\n    guard("engagements")\n    engaged = scope.reread or scope.ids\n    plpy.execute(_PLAYLIST_ENGAGEMENTS.format(src=c.source, year_start=starts[widest], infinite=_INFINITE,\n                                              reposts_in_scope=_in(engaged, "r.repost_item_id"),\n                                              saves_in_scope=_in(engaged, "s.save_item_id")))\n    plpy.execute("ANALYZE pg_temp.trending_playlist_engagements")\n    guard("inputs")\n    _stage_weights(plpy, c, "playlist", scope)\n    engagement_columns = ([f"reposts_{r}" for r in ranges] + [f"saves_{r}" for r in ranges]\n                          + [f"karma_{r}" for r in ranges] + ["infinite_events", "negative_contributors"])\n    plpy.execute(_PLAYLIST_INPUTS.format(src=c.source,\n                                         engagements_from_state=_engagements_from_state(\n                                             "playlist", scope, engagement_columns),\n                                         window_columns=window_columns,\n                                         window_outputs=window_outputs,\n                                         age_days=_age_days(c, "e")))\n    plpy.execute("ANALYZE pg_temp.trending_playlist_inputs")\n    karmas = ", ".join(f"karma_{r}" for r in ranges)\n    row = plpy.execute(_PLAYLIST_BAD_ROWS.format(\n        karmas=karmas, int8_max=INT8_MAX,\n        negative_users=_NEGATIVE_FOLLOWER_USERS.format(inputs="pg_temp.trending_playlist_inputs")))[0]\n    return {key: int(row[key]) for key in PLAYLIST_BAD_ROWS}\n\n\n# What the state keeps of a staging (sql/schema/85_state.sql), in the state\n# tables\' column order; trending._state_write copies these temp tables.\n_TRACK_STATE = """\nINSERT INTO pg_temp.trending_track_state\nSELECT i.track_id, i.owner_id, c.created_at, greatest(c.release_date, c.created_at), c.release_date,\n       i.genre, i.genre_too_long, i.owner_followers, i.release_date_infinite, i.infinite_events,\n       i.negative_contributors, i.listens_week, i.listens_month, i.reposts_week, i.reposts_month,\n       i.saves_week, i.saves_month, i.repost_total, i.save_total, i.play_total, i.null_play_count, i.karma,\n       COALESCE(l.state_week_hours, 0), COALESCE(l.state_month_hours, 0), COALESCE(l.state_infinite_plays, 0),\n       i.infinite_actions\nFROM pg_temp.trending_track_inputs i\nJOIN pg_temp.trending_track_candidates c ON c.track_id = i.track_id\nLEFT JOIN pg_temp.trending_track_listens l ON l.track_id = i.track_id\n"""\n\n_PLAYLIST_STATE = """\nINSERT INTO pg_temp.trending_playlist_state\nSELECT i.playlist_id, i.owner_id, c.created_at, greatest(c.release_date, c.created_at), c.release_date,\n       i.owner_followers, i.release_date_infinite, i.infinite_events, i.negative_contributors,\n       i.reposts_week, i.reposts_month, i.reposts_year, i.saves_week, i.saves_month, i.saves_year,\n       i.karma_week, i.karma_month, i.karma_year, i.repost_total, i.save_total\nFROM pg_temp.trending_playlist_inputs i\nJOIN pg_temp.trending_playlist_candidates c ON c.playlist_id = i.playlist_id\n"""\n\n\ndef stage_state(plpy, c: Cycle, kind: str, incremental: bool = False) -> None:\n    """The temp tables trending._state_write copies into the state, from the\n    kind\'s staging: its inputs with their age\'s dates, each user\'s karma\n    weight as the karma sums hold it, and\n    - tracks: their live saves and reposts (pg_temp.trending_track_engagements,\n      staged by stage_track_inputs: every track\'s in a full staging, those\n      of the tracks read whole in an incremental one, which also stages the\n      pairs it read again: incremental.stage_action_delta);\n    - playlists: the hours of their live engagements that a window can\n      still leave (all of them in a full staging; an incremental one adds\n      those of the playlists it read whole: an hour left behind by an\n      undone save only makes a later cycle rescore the playlist once more),\n      and the owner of every playlist with one current row."""\n    staging_table(plpy, f"trending_{kind}_state")\n    plpy.execute(_TRACK_STATE if kind == "track" else _PLAYLIST_STATE)\n    if kind == "playlist":\n        floor = c.playlist_floors[max(formulas.PLAYLIST_WINDOWS, key=lambda r: formulas.WINDOW_DAYS[r])]\n        staging_table(plpy, "trending_playlist_engagement_hours")\n        plpy.execute("INSERT INTO pg_temp.trending_playlist_engagement_hours"\n                     " SELECT DISTINCT pg_catalog.date_trunc(\'hour\', e.created_at), e.playlist_id"\n                     f" FROM pg_temp.trending_playlist_engagements e WHERE e.created_at >= {floor}")\n    # each user\'s weight as the state\'s karma sums now hold it: every user\'s\n    # after a full staging, the named users\' after an incremental one\n    weights = f"trending_{kind}_named_weights" if incremental else f"trending_{kind}_weights"\n    staging_table(plpy, f"trending_{kind}_user_state")\n    plpy.execute(f"INSERT INTO pg_temp.trending_{kind}_user_state SELECT w.user_id, w.weight, w.negative"\n                 f" FROM pg_temp.{weights} w")\n    if kind == "playlist":\n        staging_table(plpy, "trending_playlist_owners")\n        plpy.execute("INSERT INTO pg_temp.trending_playlist_owners"\n                     " SELECT c.playlist_id, c.owner_id FROM pg_temp.trending_playlist_candidates c"\n                     " WHERE c.current_rows = 1")\n',
    'trending_pl.preview': '"""Preview a cycle: the rows a cycle at `now` would insert, update and delete.\n\ntrending.preview(now) runs the cycle\'s own staging (inputs.py, then\nslices.stage_changes) as the caller, so what it reports is what the next\ncycle at the same `now` would write, and keeps the result in\npg_temp.trending_preview for the SQL wrapper to return. Nothing else is\nwritten: no run row, no score, no cycle lease (a preview runs beside a\ncycle; neither waits for the other). The sources and score tables are read\nunder ACCESS SHARE only, as a cycle reads them.\n\nRanks are the API\'s (score DESC, id DESC within the slice), computed as sets\nwith window functions over each changed slice: old over the stored rows,\nnew over the stored rows with the changes applied. The stored rows are read\nagain by the statement that ranks them; should a cycle commit between the\nstaging and that statement, old values are those it left.\n"""\n\nfrom __future__ import annotations\n\nfrom . import config, cycle, inputs, slices, sources, validate\n\nRESULT = "pg_temp.trending_preview"\n\n\ndef stage(plpy, now: str) -> int:\n    """Build pg_temp.trending_preview for a cycle at `now`; return its row count.\n    The cycle\'s private tables are dropped before and after (also on error)."""\n    validate.cycle_inputs(plpy, now)\n    plan = cycle.plan(plpy)\n    cycle.apply_session_settings(plpy, plan["settings"])\n    schema = plan["source_schema"]\n    by_kind: dict[str, list] = {"track": [], "playlist": []}\n    removed: list = []\n    for step in plan["steps"]:\n        if "range" not in step:\n            continue\n        strategy = config.Strategy(step["type"], step["version"], step["kind"], (step["range"],), step["enabled"])\n        (by_kind[step["kind"]] if step["enabled"] else removed).append((strategy, step["range"]))\n\n    inputs.drop_temp_table(plpy, "trending_preview")  # one a failed preview in this session left\n    plpy.execute("CREATE TEMP TABLE trending_preview (kind text, type text, version text, time_range text,"\n                 " id integer, action text, old_score float8, new_score float8, old_rank bigint,"\n                 " new_rank bigint, old_genre text, new_genre text)")\n    inputs.drop_temp_tables(plpy)  # a failed run earlier in this session may have left them\n    try:\n        sources.lock_and_check(plpy, schema)\n        c = inputs.Cycle.start(plpy, now, schema)\n        for kind, enabled in by_kind.items():\n            if not enabled:\n                continue\n            step = cycle.INPUTS[kind]\n\n            # as a cycle\'s step: check the sources before each read and after the last\n            def guard(point: str, step=step) -> None:\n                sources.lock_and_check(plpy, schema, step)\n\n            stage_inputs = inputs.stage_track_inputs if kind == "track" else inputs.stage_playlist_inputs\n            stage_inputs(plpy, c, guard)\n            guard("end")\n            slices.stage_changes(plpy, kind, enabled)\n            _keep_changes(plpy, kind)\n        for strategy, time_range in removed:\n            _keep_removal(plpy, strategy, time_range)\n    finally:\n        inputs.drop_temp_tables(plpy)\n    return int(plpy.execute(f"SELECT count(*) AS n FROM {RESULT}")[0]["n"])\n\n\ndef _keep_changes(plpy, kind: str) -> None:\n    """The kind\'s staged changes, with both scores and both ranks, into the result."""\n    spec = slices.TABLES[kind]\n    table, id_col = spec["table"], spec["id"]\n    changes = slices.changes_table(kind)\n    new_genre, old_genre = ("c.genre", "t.genre::text") if spec["genre"] else ("NULL::text", "NULL::text")\n    slice_ = "type, version, time_range"\n    plpy.execute(f"""\nWITH ch AS (\n    SELECT c.type, c.version, c.time_range, c.stored_id, c.id AS new_id, c.score AS new_score,\n           {new_genre} AS new_genre\n    FROM {changes} c\n), touched AS (\n    SELECT DISTINCT {slice_} FROM ch\n), stored AS (\n    SELECT t.{id_col} AS id, t.type::text AS type, t.version::text AS version,\n           t.time_range::text AS time_range, t.score, {old_genre} AS genre\n    FROM {table} t\n    WHERE (t.type, t.version, t.time_range) IN (SELECT s.type, s.version, s.time_range FROM touched s)\n), old_ranked AS (\n    SELECT s.*, pg_catalog.row_number() OVER (PARTITION BY {slice_} ORDER BY s.score DESC, s.id DESC) AS rank\n    FROM stored s\n), new_slice AS (\n    SELECT s.id, s.type, s.version, s.time_range, s.score FROM stored s\n    WHERE NOT EXISTS (SELECT FROM ch WHERE ch.stored_id = s.id AND ch.type = s.type\n                                       AND ch.version = s.version AND ch.time_range = s.time_range)\n    UNION ALL\n    SELECT ch.new_id, ch.type, ch.version, ch.time_range, ch.new_score FROM ch WHERE ch.new_id IS NOT NULL\n), new_ranked AS (\n    SELECT n.*, pg_catalog.row_number() OVER (PARTITION BY {slice_} ORDER BY n.score DESC, n.id DESC) AS rank\n    FROM new_slice n\n)\nINSERT INTO {RESULT}\nSELECT {plpy.quote_literal(kind)}, ch.type, ch.version, ch.time_range, COALESCE(ch.new_id, ch.stored_id),\n       CASE WHEN ch.stored_id IS NULL THEN \'insert\' WHEN ch.new_id IS NULL THEN \'delete\' ELSE \'update\' END,\n       o.score, ch.new_score, o.rank, n.rank, o.genre, ch.new_genre\nFROM ch\nLEFT JOIN old_ranked o ON o.id = ch.stored_id AND o.type = ch.type AND o.version = ch.version\n                      AND o.time_range = ch.time_range\nLEFT JOIN new_ranked n ON n.id = ch.new_id AND n.type = ch.type AND n.version = ch.version\n                      AND n.time_range = ch.time_range""")\n\n\ndef _keep_removal(plpy, strategy: config.Strategy, time_range: str) -> None:\n    """A switched-off strategy\'s slice: the cycle deletes every stored row."""\n    spec = slices.TABLES[strategy.kind]\n    genre = "t.genre::text" if spec["genre"] else "NULL::text"\n    plpy.execute(plpy.prepare(f"""\nINSERT INTO {RESULT}\nSELECT $1, t.type, t.version, t.time_range, t.{spec[\'id\']}, \'delete\', t.score, NULL,\n       pg_catalog.row_number() OVER (ORDER BY t.score DESC, t.{spec[\'id\']} DESC), NULL, {genre}, NULL\nFROM {spec[\'table\']} t\nWHERE t.type = $2 AND t.version = $3 AND t.time_range = $4""", ["text", "text", "text", "text"]),\n                 [strategy.kind, strategy.type, strategy.version, time_range])\n',
    'trending_pl.recompute': '"""The two ways to run a cycle.\n\n- run(): `SELECT trending.recompute()`, one transaction. The caller sees\n  every error; nothing of a failed cycle stays, not even its run row.\n- start() / step(): `CALL trending.scheduled_recompute()`, the procedure\n  pg_cron runs, which commits after each step so that no snapshot or lock is\n  held for a whole cycle (the last slice, record_movers and write_state\n  commit together: cycle.transaction_steps). Its \'running\' row is committed\n  first; a failure is recorded in the row (with SQLSTATE and message) before\n  the procedure re-raises it, so pg_cron marks the job failed too.\n\nBoth plan the cycle the same way and run the same steps (cycle.py).\n"""\n\nfrom __future__ import annotations\n\nimport json\n\nfrom . import cycle, inputs, runs\nfrom . import validate\n\n\ndef _require_primary(plpy) -> None:\n    if plpy.execute("SELECT pg_catalog.pg_is_in_recovery() AS standby")[0]["standby"]:\n        plpy.error("trending: cannot run a cycle on a hot standby", sqlstate="25006",\n                   hint="Run it on the primary; the scheduled procedure returns quietly on a standby.")\n\n\ndef _now_text(plpy, now: str) -> str:\n    return plpy.execute(f"SELECT pg_catalog.to_char({plpy.quote_literal(now)}::timestamptz AT TIME ZONE \'UTC\',"\n                        " \'YYYY-MM-DD HH24:MI:SS.US\') AS t")[0]["t"].removesuffix(".000000")\n\n\ndef run(plpy, now: str, full: bool = False) -> str:\n    """One whole cycle in the caller\'s transaction; the summary as JSON text.\n    `full`: a full cycle even when an incremental one could run."""\n    validate.cycle_inputs(plpy, now)\n    _require_primary(plpy)\n    not_taken = runs.take_lease(plpy, "recompute", now)\n    if not_taken:\n        return json.dumps(not_taken)\n    runs.warn_if_before_current_scores(plpy, now)\n    plan = cycle.plan(plpy, full=bool(full))\n    run = runs.start(plpy, "recompute", now, plan)\n    try:\n        for index in range(len(plan["steps"])):\n            cycle.run_step(plpy, run, index)\n        finished = runs.finish(plpy, run["run_id"])\n        now_text = _now_text(plpy, now)\n        cycle.announce(plpy, run, now_text)  # sent when the caller commits\n        return json.dumps(cycle.summary(plan, finished, now_text, run.get("capture")))\n    finally:\n        runs.forget(run["run_id"])\n\n\ndef start(plpy, now: str, full: bool = False):\n    """First transaction of a scheduled run: the run id; None when another\n    cycle runs (recorded skipped); minus the id of the run recorded failed\n    when something but a cycle blocks the lease (the procedure commits it,\n    then raises). An error rolls the lease back with the rest of the\n    transaction."""\n    validate.cycle_inputs(plpy, now)\n    not_taken = runs.take_lease(plpy, "scheduled", now)\n    if not_taken:\n        return -not_taken["run_id"] if not_taken["status"] == "failed" else None\n    runs.warn_if_before_current_scores(plpy, now)\n    plan = cycle.plan(plpy, full=bool(full))\n    run_id = runs.start(plpy, "scheduled", now, plan)["run_id"]\n    plpy.notice(f"trending: run {run_id} started: {len(plan[\'steps\'])} steps")\n    return run_id\n\n\ndef step(plpy, run_id: int, index: int) -> str:\n    """Step `index` of a scheduled run (with the steps that share its\n    transaction: cycle.transaction_steps), as one subtransaction of the\n    procedure\'s current transaction. Returns JSON: {"state": "more"} while\n    steps remain, {"state": "ok", "summary": ...} after the last one, or\n    {"state": "failed", "sqlstate", "message", "detail", "hint"} after\n    recording the failure (the step\'s own work is rolled back).\n\n    Only the session that started the run continues it (runs.mine): another\n    session\'s run, or one this session does not hold, raises at once and is\n    left as it is."""\n    try:\n        with plpy.subtransaction():\n            state = runs.mine(plpy, run_id, index)\n    except Exception as error:\n        if _failed_own_row(plpy, run_id, error):\n            return _failed(error)\n        raise\n    try:\n        steps = cycle.transaction_steps(state["plan"], index)\n        last = steps[-1] == len(state["plan"]["steps"]) - 1\n        with plpy.subtransaction():\n            # the last slice, record_movers and write_state (which arms the\n            # change capture) in one transaction; marking the run ok goes\n            # with them, so that a run recorded failed has armed nothing\n            for each in steps:\n                cycle.run_step(plpy, state, each)\n            finished = runs.finish(plpy, run_id) if last else None\n            if last:\n                cycle.announce(plpy, state, _now_text(plpy, state["now"]))  # sent at the procedure\'s commit\n        state["next"] = steps.stop\n        if not last:\n            return json.dumps({"state": "more"})\n        summary = cycle.summary(state["plan"], finished, _now_text(plpy, state["now"]), state.get("capture"))\n        plpy.notice(f"trending: run {run_id} ok in {summary[\'ms\']:.0f} ms: "\n                    + ", ".join(f"{v} {k}" for k, v in summary["rows"].items()))\n        return json.dumps({"state": "ok", "summary": summary})\n    except Exception as error:  # every failure ends the run: record it (which frees the lease)\n        runs.fail(plpy, run_id, error)\n        inputs.drop_temp_tables(plpy)\n        return _failed(error)\n\n\ndef _failed(error) -> str:\n    return json.dumps({"state": "failed", "sqlstate": getattr(error, "sqlstate", None) or "XX000",\n                       "message": runs.error_message(error), "detail": getattr(error, "detail", None),\n                       "hint": getattr(error, "hint", None)})\n\n\ndef _failed_own_row(plpy, run_id: int, error) -> bool:\n    """A run whose row is this backend\'s own, running, but which this session\n    cannot continue (its plan is no longer in memory: the module was\n    reloaded by ALTER EXTENSION ... UPDATE; or a step out of order): record\n    it failed, which frees the lease, so later cycles do not skip; True. Whatever\n    the error (a cancel while checking counts too), any other session\'s run\n    is not touched (trending._run_fail refuses it): False."""\n    try:\n        with plpy.subtransaction():\n            runs.fail(plpy, run_id, error)\n    except Exception:\n        return False\n    inputs.drop_temp_tables(plpy)\n    return True\n',
    'trending_pl.runs': '"""Run history (trending.runs) and the lease that keeps cycles from overlapping.\n\nEvery cycle is one row of trending.runs: \'running\' while it works, then \'ok\',\n\'failed\' (with SQLSTATE and message) or, when its backend died or its lease\nwas broken, \'aborted\' (set by the next run). A call that finds another cycle\nrunning records a \'skipped\' row and returns at once; one that finds the\ncycle\'s lock blocked by anything but a cycle records a \'failed\' one.\n\nBoth entry points take the cycle lease (trending._lease_take; the table and\nits rules: sql/schema/55_cycle_lease.sql): recompute() holds its table lock\nuntil its caller\'s commit, the scheduled procedure commits the lease row and\nrenews it at each step. Only SECURITY DEFINER functions of the extension\'s\nowner take, check and free it, so a role that cannot run cycles cannot stop\nthem. _run_finish and _run_fail free it; a failed recompute() rolls it back.\n\nA role that runs cycles has no write privilege on trending.runs: every\nwrite goes through a SECURITY DEFINER function (trending._run_*) that checks\nthe run is the caller\'s own (sql/functions/_own_run.sql).\n"""\n\nfrom __future__ import annotations\n\nimport json\n\n\ndef take_lease(plpy, trigger: str, now: str) -> dict | None:\n    """Take the cycle lease for a run about to start in this transaction:\n    None when taken; else the summary of the \'skipped\' or \'failed\' run\n    recorded instead (with a NOTICE, or a WARNING for a failure)."""\n    row = json.loads(_one(plpy, "SELECT trending._lease_take($1, $2, $3) AS r", ["text", "timestamptz", "name"],\n                          [trigger, now, _current_user(plpy)])["r"])\n    if row["status"] == "taken":\n        # a run of this session still in memory was interrupted (a cancel in\n        # the procedure\'s COMMIT): the lease just taken ended it\n        _RUNS.clear()\n        return None\n    result = {"status": row["status"], "run_id": int(row["run_id"]), "message": row["message"]}\n    if row["status"] == "skipped":\n        plpy.notice(f"trending: skipped: {row[\'message\']}")\n    else:\n        plpy.warning(f"trending: failed: {row[\'message\']}",\n                     hint="Only a cycle should hold trending_private.cycle_lease\'s lock: end that backend "\n                          "(pg_terminate_backend) and find out why it tried; trending.status says unhealthy until "\n                          "a cycle succeeds.")\n    return result\n\n\ndef warn_if_before_current_scores(plpy, now: str) -> None:\n    """A cycle at a now earlier than the stored scores\' runs (a DBA may mean\n    it), but rewrites the live lists as of that earlier time, counting every\n    later event: say so. (trending.status, not trending.runs: a role that\n    runs cycles may not read the history table itself.)"""\n    row = plpy.execute(plpy.prepare("""\nSELECT pg_catalog.to_char(s.scores_as_of AT TIME ZONE \'UTC\', \'YYYY-MM-DD HH24:MI:SS\') AS scores_as_of,\n       s.scores_as_of > $1 AS later\nFROM trending.status s""", ["timestamptz"]), [now])\n    if row and row[0]["later"]:\n        plpy.warning(f"trending: this cycle\'s now is earlier than the current scores\' "\n                     f"({row[0][\'scores_as_of\']} UTC): the live score tables go back in time",\n                     hint="trending.preview(now) shows what a cycle at another time would write, "\n                          "without writing it; trending.recompute() with no argument computes as of now.")\n\n\n# The runs this session is running, by run id: the plan fixed when the run\n# started, `now`, the next step to run and what the steps left for later\n# ones (the score tables\' filenodes; the change capture\'s watermark, its\n# fingerprint and its snapshot, taken by the first step and used by\n# write_state: cycle.begin_capture, cycle.finish_capture). A run\'s plan is\n# never re-read from trending.runs (whose plan column is a record only): the scheduled procedure\'s steps are transactions of the\n# same session, so they find it here, and a session that did not start a\n# run cannot continue it.\n_RUNS: dict[int, dict] = {}\n\n\ndef _one(plpy, query: str, types: list[str], args: list):\n    return plpy.execute(plpy.prepare(query, types), args)[0]\n\n\ndef _current_user(plpy) -> str:\n    return plpy.execute("SELECT CURRENT_USER::text AS u")[0]["u"]\n\n\ndef start(plpy, trigger: str, now: str, plan: dict) -> dict:\n    """Begin a run (the caller took the lease): trending._run_begin marks the\n    runs of dead backends aborted, forgets runs older than the retention and\n    inserts the \'running\' row. The run\'s state, kept in this session."""\n    row = _one(plpy, "SELECT trending._run_begin($1, $2, $3, $4) AS run_id",\n               ["text", "timestamptz", "name", "jsonb"], [trigger, now, _current_user(plpy), json.dumps(plan)])\n    run = {"run_id": int(row["run_id"]), "now": now, "plan": plan, "next": 0, "filenodes": {}}\n    _RUNS[run["run_id"]] = run\n    return run\n\n\ndef mine(plpy, run_id: int, index: int) -> dict:\n    """The state of run `run_id` for its step `index`, if this session\n    started the run and the run\'s row agrees (pid = this backend, status\n    \'running\', the cycle lease its own: trending._own_run). Raises 42501 for\n    another session\'s run; 55000 for a run not running, or one this\n    session\'s memory does not hold, or a step out of order."""\n    _one(plpy, "SELECT trending._own_run($1) AS ok", ["bigint"], [run_id])\n    run = _RUNS.get(run_id)\n    if run is None:\n        plpy.error(f"trending: run {run_id} was not started by this session", sqlstate="55000",\n                   hint="Only the session that started a scheduled run continues it.")\n    if index != run["next"]:\n        plpy.error(f"trending: run {run_id} is at step {run[\'next\']}, not {index}", sqlstate="55000")\n    return run\n\n\ndef forget(run_id: int) -> None:\n    _RUNS.pop(run_id, None)\n\n\ndef record_step(plpy, run_id: int, name: str, ms: float, *, slice_key: str | None = None,\n                slice_result: dict | None = None, bad_rows: dict | None = None,\n                cycle: dict | None = None, affected: dict | None = None, drift: dict | None = None) -> None:\n    """Add one finished step to the run\'s row: its milliseconds and, for a\n    slice, its row counts; for an input step, the bad rows it counted, and\n    the items it rescored and the drift it found; for the step that decides\n    it, the kind of cycle and why ({"kind", "reason"})."""\n    plpy.execute(plpy.prepare("SELECT trending._run_step_done($1, $2, $3, $4, $5, $6, $7, $8, $9)",\n                              ["bigint", "text", "float8", "jsonb", "jsonb", "text", "text", "jsonb", "jsonb"]),\n                 [run_id, name, float(ms), None if slice_key is None else json.dumps(slice_result),\n                  json.dumps(bad_rows) if bad_rows else None,\n                  None if cycle is None else cycle["kind"], None if cycle is None else cycle["reason"],\n                  json.dumps(affected) if affected else None, json.dumps(drift) if drift else None])\n\n\ndef finish(plpy, run_id: int) -> dict:\n    """Mark the run ok; return its row (with the WAL the cycle wrote)."""\n    row = json.loads(_one(plpy, "SELECT trending._run_finish($1) AS r", ["bigint"], [run_id])["r"])\n    forget(run_id)\n    return row\n\n\ndef fail(plpy, run_id: int, error) -> None:\n    """Record a failed run with the error\'s SQLSTATE, message, detail and hint."""\n    forget(run_id)\n    plpy.execute(plpy.prepare("SELECT trending._run_fail($1, $2, $3, $4, $5)",\n                              ["bigint", "text", "text", "text", "text"]),\n                 [run_id, getattr(error, "sqlstate", None) or "XX000", error_message(error),\n                  _text(getattr(error, "detail", None)), _text(getattr(error, "hint", None))])\n\n\ndef _text(value):\n    return None if value is None else str(value)\n\n\ndef error_message(error) -> str:\n    text = str(error.args[0]) if getattr(error, "args", None) else str(error)\n    return text or type(error).__name__\n',
    'trending_pl.slices': '"""Score the slices (strategy x time range) and bring their rows up to date.\n\nPer kind of item (tracks, playlists), once per cycle, the `changes` step:\nevery enabled slice\'s new scores are computed as one set and compared with\nthe stored rows in one FULL JOIN (hash or merge: a full join cannot be a\nnested loop, so no estimate makes it quadratic). What differs is kept, with the stored rows\' ctids, in\npg_temp.trending_<kind>_changes: rows whose score or genre changed, new rows,\nand rows of items that left the eligible set.\n\nThen one step per slice applies that slice\'s changes in one statement (a\nreader sees the slice before or after, never in between): updates and deletes\nby ctid (a TID scan of exactly the rows that change), inserts of new rows in\nscore order. Unchanged rows are not touched and keep their created_at. The\nwrite is trending._apply_slice, a SECURITY DEFINER function (roles that run\ncycles have no write privilege on the score tables) that checks the run is\nthe caller\'s own and that the changes table is a plain temp table.\n\nThe changes table outlives the scheduled procedure\'s commits between steps.\nIts ctids are trusted only with care: the stored row\'s key is kept with its\nctid and an update or delete happens only where both still match, and a\nrewrite of the score table (VACUUM FULL, CLUSTER, pg_repack: a new filenode)\nsince the changes were staged makes the step stage them again first.\n"""\n\nfrom __future__ import annotations\n\nimport json\nimport time\n\nfrom . import formulas\nfrom .config import Strategy\nfrom .inputs import Cycle, analyze_staging, drop_temp_table, staging_table\n\n# How each kind of strategy is stored: its score table, id column, inputs,\n# and whether rows carry a genre.\nTABLES = {\n    "track": {"table": "trending.track_trending_scores", "id": "track_id",\n              "inputs": "pg_temp.trending_track_inputs", "genre": True},\n    "playlist": {"table": "trending.playlist_trending_scores", "id": "playlist_id",\n                 "inputs": "pg_temp.trending_playlist_inputs", "genre": False},\n}\n\n\ndef changes_table(kind: str) -> str:\n    return f"pg_temp.trending_{kind}_changes"\n\n\ndef staged_counts_table(kind: str) -> str:\n    return f"pg_temp.trending_{kind}_staged"\n\n\ndef score_expression(strategy: Strategy, time_range: str) -> tuple[str, str]:\n    if strategy.kind == "track":\n        return formulas.track_score(strategy.version, time_range)\n    return formulas.playlist_score(time_range)\n\n\ndef _slice_key(plpy, strategy: Strategy, time_range: str) -> str:\n    """The slice\'s (type, version, time_range) as a SQL row literal."""\n    return (f"({plpy.quote_literal(strategy.type)}, {plpy.quote_literal(strategy.version)},"\n            f" {plpy.quote_literal(time_range)})")\n\n\ndef _in_slice(plpy, strategy: Strategy, time_range: str, alias: str) -> str:\n    return f"({alias}.type, {alias}.version, {alias}.time_range) = {_slice_key(plpy, strategy, time_range)}"\n\n\ndef stage_changes(plpy, kind: str, slices: list[tuple[Strategy, str]], ids: str | None = None) -> dict[str, int]:\n    """Score every enabled slice of `kind` and keep what differs from the stored\n    rows in the kind\'s changes table, and each slice\'s number of non-zero\n    scores in its staged-counts table. One statement: the new scores are\n    computed, joined and counted in flight, never written out whole.\n    `ids`: a temp table (id bigint) of the items an incremental cycle staged;\n    only their stored rows are read (by the primary key) and compared.\n    Returns {"staged", "changed"}."""\n    spec = TABLES[kind]\n    table, id_col = spec["table"], spec["id"]\n    changes, counts = changes_table(kind), staged_counts_table(kind)\n    genre = ", i.genre" if spec["genre"] else ""\n    selects = []\n    for strategy, time_range in slices:\n        expression, row_filter = score_expression(strategy, time_range)\n        selects.append(\n            f"SELECT i.{id_col} AS id, {plpy.quote_literal(strategy.type)}::text AS type,"\n            f" {plpy.quote_literal(strategy.version)}::text AS version,"\n            f" {plpy.quote_literal(time_range)}::text AS time_range{genre}, {expression} AS score"\n            f" FROM {spec[\'inputs\']} i WHERE {row_filter}")\n    union = "\\n        UNION ALL\\n        ".join(selects)\n    keys = ", ".join(_slice_key(plpy, s, r) for s, r in slices)\n    # The stored rows to compare: every row of the slices, or (incremental)\n    # the affected items\' rows, each item looked up by its id alone, which\n    # only the primary key leads with; OFFSET 0 keeps the lookup a\n    # parameterized subquery. So no estimate (a score table the cold cycle\n    # filled before autovacuum analyzed it looks empty) can turn it into a\n    # walk of a whole slice through a ranking index, where the id is no\n    # leading key, as `id = ANY (...)` beside the slice keys did.\n    in_slices = f"(t.type, t.version, t.time_range) IN ({keys})"\n    stored = f"SELECT t.ctid, t.* FROM {table} t WHERE {in_slices}" if ids is None else (\n        f"SELECT t.* FROM {ids} a CROSS JOIN LATERAL"\n        f" (SELECT t.ctid, t.* FROM {table} t WHERE t.{id_col} = a.id OFFSET 0) AS t WHERE {in_slices}")\n    differs = "t.score IS DISTINCT FROM s.score"\n    stage_genre = kept_genre = ""\n    if spec["genre"]:\n        differs += " OR t.genre IS DISTINCT FROM s.genre"\n        stage_genre, kept_genre = ", s.genre", ", genre"\n    # the changes table is a staging table (the write reads it and checks its\n    # columns: sql/functions/_staging_columns.sql, _apply_slice.sql)\n    staging_table(plpy, f"trending_{kind}_changes")\n    drop_temp_table(plpy, f"trending_{kind}_staged")  # staged again when a slice restages\n    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_staged (type text, version text, time_range text, n bigint)")\n    plpy.execute(f"""\nWITH joined AS MATERIALIZED (\n    SELECT t.ctid AS stored_tid, t.{id_col} AS stored_id,\n           COALESCE(s.type, t.type::text) AS type, COALESCE(s.version, t.version::text) AS version,\n           COALESCE(s.time_range, t.time_range::text) AS time_range,\n           s.id, s.score{stage_genre},\n           t.{id_col} IS NULL OR s.id IS NULL OR {differs} AS differs\n    FROM (\n        SELECT scored.* FROM (\n        {union}\n        ) AS scored\n        WHERE scored.score <> 0\n    ) AS s\n    FULL JOIN ({stored}) AS t\n           ON t.{id_col} = s.id AND t.type = s.type AND t.version = s.version AND t.time_range = s.time_range\n), kept AS (\n    INSERT INTO {changes}\n    SELECT stored_tid, stored_id, type, version, time_range, id, score{kept_genre} FROM joined WHERE differs\n)\nINSERT INTO {counts}\nSELECT type, version, time_range, count(id) FROM joined GROUP BY type, version, time_range""")\n    analyze_staging(plpy, f"trending_{kind}_changes")\n    # read under the lock the diff\'s scan of the score table took, kept to\n    # the end of this transaction: the file the staged ctids point into\n    row = plpy.execute(f"SELECT (SELECT sum(n) FROM {counts}) AS staged, (SELECT count(*) FROM {changes}) AS changed,"\n                       f" pg_catalog.pg_relation_filenode({plpy.quote_literal(table)}::pg_catalog.regclass)"\n                       f"::pg_catalog.int8 AS filenode")[0]\n    return {"staged": int(row["staged"] or 0), "changed": int(row["changed"]),\n            "filenode": None if row["filenode"] is None else int(row["filenode"])}\n\n\ndef apply(plpy, run_id: int, c: Cycle, strategy: Strategy, time_range: str, filenode, restage) -> dict[str, int]:\n    """Write one slice\'s staged changes in one statement (trending._apply_slice);\n    its counts and ms. `filenode` is the score table\'s when the changes were\n    staged; `restage()` stages the kind\'s changes again and returns the new\n    one. The write refuses stale ctids: after a rewrite it writes nothing and\n    asks for a re-stage; rows no longer at their staged ctid are left alone,\n    counted as missed, and re-staged (the second write finds them)."""\n    started = time.monotonic()\n    counts = staged_counts_table(strategy.kind)\n    done = {"inserted": 0, "updated": 0, "deleted": 0}\n    plan = plpy.prepare("SELECT trending._apply_slice($1, $2, $3, $4, $5, $6, $7) AS r",\n                        ["bigint", "text", "text", "text", "text", "timestamp", "oid"])\n    for _attempt in range(3):\n        result = json.loads(plpy.execute(plan, [run_id, strategy.kind, strategy.type, strategy.version,\n                                                time_range, c.now_text, filenode])[0]["r"])\n        if not result.get("restage"):\n            for k in done:\n                done[k] += int(result[k])\n            if int(result["missed"]) == 0:\n                break\n        filenode = restage()\n    else:\n        plpy.error(f"trending: the rows of {strategy.key}/{time_range} kept moving while the cycle wrote them",\n                   sqlstate="40001", hint="Something other than a cycle is rewriting the score tables; run again.")\n    staged = plpy.execute(f"SELECT COALESCE(sum(n), 0) AS staged FROM {counts} c"\n                          f" WHERE {_in_slice(plpy, strategy, time_range, \'c\')}")[0]["staged"]\n    return {"inserted": done["inserted"], "updated": done["updated"], "deleted": done["deleted"],\n            "unchanged": int(staged) - done["inserted"] - done["updated"],\n            "ms": round((time.monotonic() - started) * 1000, 1)}\n\n\ndef remove(plpy, run_id: int, strategy: Strategy, time_range: str) -> dict[str, int]:\n    """A disabled strategy\'s slice: delete its rows (trending._remove_slice)."""\n    started = time.monotonic()\n    row = plpy.execute(plpy.prepare("SELECT trending._remove_slice($1, $2, $3, $4, $5) AS n",\n                                    ["bigint", "text", "text", "text", "text"]),\n                       [run_id, strategy.kind, strategy.type, strategy.version, time_range])[0]\n    return {"inserted": 0, "updated": 0, "deleted": int(row["n"]), "unchanged": 0,\n            "ms": round((time.monotonic() - started) * 1000, 1)}\n',
    'trending_pl.sources': '"""Check the source tables in every transaction that reads them.\n\nCREATE EXTENSION must not need the source tables (pg_restore creates\nextensions before tables), so the first moment we can check them is a cycle.\n\nThe source tables belong to another role (the service\'s indexer) and a cycle\nmay run as a superuser: nothing that role owns may run as the cycle. So a\nsource, and every partition or inheritance child a read scans, must be a plain\nor partitioned table without row-level security; every column a cycle reads\nmust have one of the built-in types listed below (by type OID: a domain or a\nlook-alike type is refused; an enum column must be an enum, compared without a\ncast); and no index, constraint, extended statistics object or partition key\nof them may use a function, operator or type owned by a non-superuser (the\nplanner evaluates those). trending._check_sources does it all in one catalog\nquery, AFTER taking the lock the reads take, so the check sees what the reads\nwill see; the scheduled procedure commits between steps, so every step that\nreads the sources calls lock_and_check first. A problem stops the cycle with\none error that names every problem, before any source row is read.\n"""\n\nfrom __future__ import annotations\n\nimport json\n\n# Accepted types per column: pg_catalog type names, compared by OID.\nINTEGER = ("int2", "int4", "int8")\nTEXT = ("text", "varchar", "bpchar")\nTIMESTAMP = ("timestamp",)  # without time zone, holding UTC (docs/reference.md): timestamptz would shift windows\nBOOLEAN = ("bool",)\nJSONB = ("jsonb",)\n\n\nclass Enum(tuple):\n    """An enum column: any enum type having these labels (compared by label, never cast)."""\n\n\nITEM_TYPE = Enum(("track", "playlist"))\n\n# Every column a cycle reads, by table, with the types it accepts.\nREQUIRED_COLUMNS: dict[str, dict[str, tuple]] = {\n    "tracks": {"track_id": INTEGER, "owner_id": INTEGER, "genre": TEXT, "created_at": TIMESTAMP,\n               "release_date": TIMESTAMP, "is_current": BOOLEAN, "is_delete": BOOLEAN,\n               "is_unlisted": BOOLEAN, "stem_of": JSONB},\n    "plays": {"play_item_id": INTEGER, "created_at": TIMESTAMP},\n    "saves": {"user_id": INTEGER, "save_item_id": INTEGER, "save_type": ITEM_TYPE, "is_current": BOOLEAN,\n              "is_delete": BOOLEAN, "created_at": TIMESTAMP},\n    "reposts": {"user_id": INTEGER, "repost_item_id": INTEGER, "repost_type": ITEM_TYPE,\n                "is_current": BOOLEAN, "is_delete": BOOLEAN, "created_at": TIMESTAMP},\n    "users": {"user_id": INTEGER, "is_current": BOOLEAN, "cover_photo": TEXT, "cover_photo_sizes": TEXT,\n              "profile_picture": TEXT, "profile_picture_sizes": TEXT, "bio": TEXT},\n    "aggregate_user": {"user_id": INTEGER, "follower_count": INTEGER, "following_count": INTEGER},\n    "aggregate_track": {"track_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},\n    "aggregate_plays": {"play_item_id": INTEGER, "count": INTEGER},\n    "aggregate_playlist": {"playlist_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},\n    "playlists": {"playlist_id": INTEGER, "playlist_owner_id": INTEGER, "is_current": BOOLEAN,\n                  "is_delete": BOOLEAN, "is_private": BOOLEAN, "playlist_contents": JSONB,\n                  "created_at": TIMESTAMP, "release_date": TIMESTAMP},\n}\n\n# The tables each reading step reads (inputs.py); the check_sources step checks them all.\nTABLES_READ = {\n    "track_inputs": ("tracks", "plays", "users", "aggregate_user", "reposts", "saves",\n                     "aggregate_track", "aggregate_plays"),\n    "playlist_inputs": ("playlists", "aggregate_user", "users", "reposts", "saves", "aggregate_playlist"),\n}\n\nINVALID_SCHEMA_NAME = "3F000"\nNOT_READ_COMMITTED = "25000"\n\n\ndef column_spec(tables=None) -> str:\n    """REQUIRED_COLUMNS (of `tables`, default all) as the jsonb trending._check_sources takes, in order."""\n    spec = []\n    for table, columns in REQUIRED_COLUMNS.items():\n        if tables is not None and table not in tables:\n            continue\n        for column, accepted in columns.items():\n            key = "enum" if isinstance(accepted, Enum) else "types"\n            spec.append({"table": table, "column": column, key: list(accepted)})\n    return json.dumps(spec)\n\n\ndef lock_and_check(plpy, schema: str, step: str | None = None) -> None:\n    """Lock the sources `step` reads (default: all) as its reads will, then\n    raise one clear error if they cannot feed a cycle or are not to be\n    trusted. Call it first in every transaction that reads the sources."""\n    spec = column_spec(TABLES_READ.get(step) if step else None)\n    rows = plpy.execute("SELECT c.sqlstate, c.problem, c.severity FROM trending._check_sources("\n                        f"{plpy.quote_literal(schema)}, {plpy.quote_literal(spec)}::pg_catalog.jsonb) c")\n    raise_problems(plpy, schema, list(rows))\n\n\ndef raise_problems(plpy, schema: str, problems) -> None:\n    """One error naming every problem, with the SQLSTATE of the most fundamental."""\n    if not problems:\n        return\n    first = min(problems, key=lambda p: p["severity"])\n    sqlstate = first["sqlstate"]\n    if sqlstate == NOT_READ_COMMITTED:\n        plpy.error(f"trending: {first[\'problem\']}", sqlstate=sqlstate,\n                   detail="Under REPEATABLE READ or SERIALIZABLE the check of the source tables would "\n                          "use a snapshot older than their lock, and could miss a change.",\n                   hint="Run the cycle in a READ COMMITTED transaction (the default): "\n                        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED, or check default_transaction_isolation.")\n    if sqlstate == INVALID_SCHEMA_NAME:\n        plpy.error(f\'trending: source schema "{schema}" does not exist\',\n                   hint="Set trending.settings.source_schema to the schema holding tracks, plays, ...: "\n                        "UPDATE trending.settings SET value = \'<schema>\' WHERE name = \'source_schema\';",\n                   sqlstate=sqlstate)\n    plpy.error(f\'trending: source schema "{schema}" cannot feed a cycle: \'\n               + "; ".join(p["problem"] for p in problems),\n               detail="trending reads these columns: " + describe_requirements()\n                      + ". See \\"What a cycle trusts and what it refuses\\" in docs/security.md.",\n               hint="Point trending.settings.source_schema at the service\'s schema of plain tables, "\n                    "or fix the objects named (a source table\'s owner must not be able to run code "\n                    "as the cycle\'s role).",\n               sqlstate=sqlstate)\n\n\ndef describe_requirements() -> str:\n    return "; ".join(f"{table}({\', \'.join(columns)})" for table, columns in REQUIRED_COLUMNS.items())\n',
    'trending_pl.validate': '"""What a cycle checks before it plans anything: its `now` and its settings.\n\nBoth entry points call cycle_inputs() first, so a bad value fails at once\nwith 22023 and a message that says what is accepted, instead of a Python\nTypeError, an overflow in the middle of a step, or a silently different\ncycle. The checks are SQL, on the value the server parsed: `now` arrives\nhere as text (None for NULL) and is never parsed in Python.\n"""\n\nfrom __future__ import annotations\n\n# The cycle\'s `now`, in UTC. The lower bound keeps every window start AD\n# (the longest window is 365 days: 0002-01-01 - 365 days = 0001-01-01; a BC\n# `now` or window start would lose its era in the run\'s row and summary);\n# the upper one keeps four-digit years everywhere a timestamp is written as\n# text.\nNOW_MIN = "0002-01-01 00:00:00"\nNOW_MAX = "9999-12-31 23:59:59.999999"\nNOW_ACCEPTED = (f"now must be a finite timestamptz from {NOW_MIN}+00 to {NOW_MAX}+00 (UTC):"\n                " AD, and a year before it still AD")\n\n\ndef now(plpy, value) -> None:\n    """Raise 22023 unless `value` (the text of a timestamptz, or None) is a\n    `now` a cycle can compute with."""\n    if value is None:\n        plpy.error("trending: invalid now NULL: " + NOW_ACCEPTED, sqlstate="22023",\n                   hint="Omit it (or pass NULL to scheduled_recompute) for the current time.")\n    row = plpy.execute(f"""\nSELECT pg_catalog.isfinite(n) AND n AT TIME ZONE \'UTC\'\n           BETWEEN {plpy.quote_literal(NOW_MIN)}::timestamp AND {plpy.quote_literal(NOW_MAX)}::timestamp AS ok,\n       pg_catalog.to_char(n AT TIME ZONE \'UTC\', \'YYYY-MM-DD HH24:MI:SS.US+00 AD\') AS utc\nFROM (SELECT {plpy.quote_literal(value)}::timestamptz AS n) AS given""")[0]\n    if not row["ok"]:\n        shown = row["utc"] or value  # infinity has no to_char\n        plpy.error(f"trending: invalid now {plpy.quote_literal(shown)}: {NOW_ACCEPTED}", sqlstate="22023",\n                   hint="Omit it for the current time.")\n\n\ndef settings(plpy) -> None:\n    """Raise 22023 unless every setting is one a cycle can use: the values\n    stored under an older version, or loaded by pg_restore, never went\n    through today\'s checks."""\n    try:\n        plpy.execute("SELECT trending._validate_setting(s.name, s.value) FROM trending.settings s ORDER BY s.name")\n    except plpy.SPIError as error:\n        # spidata: (sqlerrcode, detail, hint, ...); pass only what is set\n        spidata = getattr(error, "spidata", None) or ()\n        extra = {k: v for k, v in zip(("detail", "hint"), spidata[1:3]) if v}\n        plpy.error(f"trending: {error.args[0] if error.args else error}",\n                   sqlstate=getattr(error, "sqlstate", None) or "22023", **extra)\n\n\ndef cycle_inputs(plpy, now_value) -> None:\n    """Everything a cycle is given: its `now` and the settings."""\n    now(plpy, now_value)\n    settings(plpy)\n',
}
DIGEST = '10d2bea9a09a4224df4d6af576ccfd9d2ba736521da3736e7c2439d6d7d7b58c'
PACKAGE = "trending_pl"

loaded = sys.modules.get(PACKAGE)
if loaded is not None and getattr(loaded, "__trending_digest__", None) == DIGEST:
    return DIGEST

# another build's modules (or none): forget them and serve this build's
for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
    del sys.modules[name]
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "serves_trending_pl", False)]


class EmbeddedSources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    serves_trending_pl = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in SOURCES:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname == PACKAGE)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = "extension/" + module.__name__.replace(".", "/")
        path += "/__init__.py" if module.__name__ == PACKAGE else ".py"
        exec(compile(SOURCES[module.__name__], path, "exec"), module.__dict__)


sys.meta_path.insert(0, EmbeddedSources())
import trending_pl
trending_pl.__trending_digest__ = DIGEST
return DIGEST
$python$;

-- source: sql/functions/_raise.sql
-------------------------------------------------------------------------------
-- _raise
-- Raise an error with this message, SQLSTATE and, when not NULL or empty,
-- DETAIL and HINT (RAISE would print an empty DETAIL or HINT label, and
-- refuses a NULL one). recompute() and scheduled_recompute() re-raise the
-- cycle's errors through it.
CREATE FUNCTION trending._raise(p_message text, p_sqlstate text, p_detail text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_detail <> '' AND p_hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, DETAIL = p_detail, HINT = p_hint;
    ELSIF p_detail <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, DETAIL = p_detail;
    ELSIF p_hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, HINT = p_hint;
    END IF;
    RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate;
END;
$function$;

-- source: sql/functions/_recompute.sql
-------------------------------------------------------------------------------
-- _recompute
-- The cycle itself (extension/trending_pl/recompute.py): plan, run every step
-- in this transaction, return the summary. trending.recompute() wraps it to
-- present deliberate errors cleanly.
--
-- TimeZone and DateStyle are pinned so that nothing depends on the session:
-- source timestamps are UTC and `now` is converted to UTC explicitly.
--
-- work_mem, lock_timeout and max_parallel_workers_per_gather are set per
-- step from trending.settings (set_config(..., true)). Naming them in SET
-- clauses (the shipped defaults; each step overrides them) makes PostgreSQL
-- restore the caller's values when this function returns, so they do not
-- stay in force for the rest of the caller's transaction.
CREATE FUNCTION trending._recompute(now timestamptz, full boolean)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET work_mem = '128MB'
SET lock_timeout = '5s'
SET max_parallel_workers_per_gather = 2
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.run(plpy, now, full)
$python$;

-- source: sql/functions/_record_top.sql
-------------------------------------------------------------------------------
-- _record_top
-- At the end of the caller's own successful run (its last step, before
-- runs.finish): record the top p_top_n of every list the API reads in
-- trending.movers_top and keep only the previous generation besides it, so
-- the table stays bounded (2 x lists x N rows). One top-N scan of a ranking
-- index per list, no loop over rows. Genres: the p_max_genres genres with
-- the most scored tracks in each range, counted when p_recount_genres (full
-- and reconciling cycles: it reads the whole slice); an incremental cycle
-- keeps the previous run's genres.
-- SECURITY DEFINER (roles that run cycles have no write privilege on the
-- table); checks the run is the caller's own first.
--
-- Returns {"previous_run_id", "lists", "rows", "entries"}: entries counts the
-- ids new to a list's top N over the lists recorded in both generations
-- (the total the NOTIFY carries; movers() has the detail).
CREATE FUNCTION trending._record_top(p_run_id bigint, p_top_n integer, p_max_genres integer,
                                     p_recount_genres boolean)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET plan_cache_mode = force_custom_plan  -- a generic plan cannot see the LIMIT: it might sort a whole slice
AS $function$
DECLARE
    v_as_of timestamptz;
    v_previous bigint;
    v_list record;
    v_count bigint;
    v_rows bigint := 0;
    v_lists bigint := 0;
    v_entries bigint;
    v_wal_compression text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    v_wal_compression := trending._wal_compress();
    PERFORM trending._validate_setting('movers_top_n', p_top_n::text);
    PERFORM trending._validate_setting('movers_max_genres', p_max_genres::text);
    SELECT r.cycle_now INTO v_as_of FROM trending.runs r WHERE r.run_id = p_run_id;
    -- the last generation recorded before this run becomes the previous one;
    -- anything older (and this run's own rows, were it called twice) goes
    SELECT pg_catalog.max(m.run_id) INTO v_previous FROM trending.movers_top m WHERE m.run_id <> p_run_id;
    DELETE FROM trending.movers_top m WHERE m.run_id IS DISTINCT FROM v_previous;

    -- One statement per list, each a top-N scan of a ranking index (a
    -- loop over the lists, at most 3 x (1 + movers_max_genres) + 3 of
    -- them, never over rows): one statement for all lists would join the
    -- lists to the scores in a nested loop. The genres with the most scored
    -- tracks per range come from one aggregate over the TRACKS/pnagD rows.
    FOR v_list IN
        SELECT 'track'::text AS kind, r.time_range, ''::text AS genre
        FROM trending._strategy_defaults d, pg_catalog.unnest(d.time_ranges) AS r(time_range)
        WHERE d.type = 'TRACKS' AND d.version = 'pnagD'
        UNION ALL
        SELECT 'track', g.time_range, g.genre
        FROM (SELECT s.time_range::text AS time_range, s.genre::text AS genre,
                     pg_catalog.row_number() OVER (PARTITION BY s.time_range
                                                   ORDER BY pg_catalog.count(*) DESC, s.genre) AS place
              FROM trending.track_trending_scores s
              WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.genre <> ''
                AND (p_recount_genres OR v_previous IS NULL)
              GROUP BY s.time_range, s.genre) g
        WHERE g.place <= p_max_genres
        UNION ALL
        -- an incremental cycle reads no whole slice: it keeps the previous run's genres
        SELECT DISTINCT 'track', m.time_range, m.genre
        FROM trending.movers_top m
        WHERE NOT p_recount_genres AND m.run_id = v_previous AND m.kind = 'track' AND m.genre <> ''
        UNION ALL
        SELECT 'playlist', r.time_range, ''
        FROM trending._strategy_defaults d, pg_catalog.unnest(d.time_ranges) AS r(time_range)
        WHERE d.type = 'PLAYLISTS' AND d.version = 'pnagD'
    LOOP
        IF v_list.kind = 'playlist' THEN
            INSERT INTO trending.movers_top (run_id, as_of, kind, time_range, genre, rank, id, score)
            SELECT p_run_id, v_as_of, 'playlist', v_list.time_range, '',
                   pg_catalog.row_number() OVER (ORDER BY s.score DESC, s.playlist_id DESC), s.playlist_id, s.score
            FROM trending.playlist_trending_scores s
            WHERE s.type = 'PLAYLISTS' AND s.version = 'pnagD' AND s.time_range = v_list.time_range
            ORDER BY s.score DESC, s.playlist_id DESC
            LIMIT p_top_n;
        ELSIF v_list.genre = '' THEN
            INSERT INTO trending.movers_top (run_id, as_of, kind, time_range, genre, rank, id, score)
            SELECT p_run_id, v_as_of, 'track', v_list.time_range, '',
                   pg_catalog.row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score
            FROM trending.track_trending_scores s
            WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = v_list.time_range
            ORDER BY s.score DESC, s.track_id DESC
            LIMIT p_top_n;
        ELSE
            INSERT INTO trending.movers_top (run_id, as_of, kind, time_range, genre, rank, id, score)
            SELECT p_run_id, v_as_of, 'track', v_list.time_range, v_list.genre,
                   pg_catalog.row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score
            FROM trending.track_trending_scores s
            WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = v_list.time_range
              AND s.genre = v_list.genre
            ORDER BY s.score DESC, s.track_id DESC
            LIMIT p_top_n;
        END IF;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        v_rows := v_rows + v_count;
        v_lists := v_lists + (v_count > 0)::integer;
    END LOOP;

    -- entries: in a list's new top N, not in its previous one, over the
    -- lists recorded in both generations; one aggregate over the table
    SELECT pg_catalog.count(*) FILTER (WHERE x.is_new AND NOT x.was AND x.list_was) INTO v_entries
    FROM (SELECT pg_catalog.bool_or(m.run_id = p_run_id) AS is_new, pg_catalog.bool_or(m.run_id = v_previous) AS was,
                 pg_catalog.bool_or(pg_catalog.bool_or(m.run_id = v_previous))
                     OVER (PARTITION BY m.kind, m.time_range, m.genre) AS list_was
          FROM trending.movers_top m
          GROUP BY m.kind, m.time_range, m.genre, m.id) x;
    PERFORM trending._wal_compress(v_wal_compression);
    RETURN pg_catalog.jsonb_build_object('previous_run_id', v_previous, 'lists', v_lists, 'rows', v_rows,
                                         'entries', v_entries);
END;
$function$;

-- source: sql/functions/_remove_slice.sql
-------------------------------------------------------------------------------
-- _remove_slice
-- A disabled strategy's slice: delete its rows, for the caller's own running
-- run; the number deleted. SECURITY DEFINER like _apply_slice.
CREATE FUNCTION trending._remove_slice(p_run_id bigint, p_kind text, p_type text, p_version text,
                                       p_time_range text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_deleted bigint;
    v_wal_compression text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    v_wal_compression := trending._wal_compress();
    IF p_kind = 'track' THEN
        DELETE FROM trending.track_trending_scores t
        WHERE t.type = p_type AND t.version = p_version AND t.time_range = p_time_range;
    ELSIF p_kind = 'playlist' THEN
        DELETE FROM trending.playlist_trending_scores t
        WHERE t.type = p_type AND t.version = p_version AND t.time_range = p_time_range;
    ELSE
        RAISE EXCEPTION 'trending: unknown kind %', p_kind USING ERRCODE = '22023';
    END IF;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    PERFORM trending._wal_compress(v_wal_compression);
    RETURN v_deleted;
END;
$function$;

-- source: sql/functions/_require_local_pg_cron.sql
-------------------------------------------------------------------------------
-- _require_local_pg_cron
-- Raise a clear error, with a HINT saying what to do, unless pg_cron is
-- preloaded and installed in this very database: trending.schedule(),
-- unschedule(), pause() and resume() (p_action: which one) only handle that
-- case. pg_cron lives in one database per cluster (cron.database_name), and
-- SQL in another database cannot reach it: the hint names the `trending`
-- CLI command that does (it connects to the cron database), and the SQL to
-- run there.
CREATE FUNCTION trending._require_local_pg_cron(p_action text)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cron_database text := current_setting('cron.database_name', true);
    -- this database's job, for the SQL to run in the cron database
    v_job text := ' FROM cron.job WHERE jobname = ''trending-recompute'' AND database = '
                  || quote_literal(current_database());
BEGIN
    IF v_cron_database IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not loaded in this server'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Add pg_cron to shared_preload_libraries in postgresql.conf, restart, then '
                           'CREATE EXTENSION pg_cron in the database named by cron.database_name '
                           '(default postgres). `trending doctor` checks every step.';
    END IF;
    IF v_cron_database <> current_database() THEN
        RAISE EXCEPTION 'pg_cron lives in database %, not in %', quote_ident(v_cron_database),
                        quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = CASE p_action
                        WHEN 'pause' THEN
                            format('Pause from the shell: trending pause --dsn ''dbname=%s'' (it runs cron.alter_job '
                                   'in %s), or in %s: %s;', current_database(), v_cron_database, v_cron_database,
                                   'SELECT cron.alter_job(jobid, active => false)' || v_job)
                        WHEN 'resume' THEN
                            format('Resume from the shell: trending resume --dsn ''dbname=%s'' (it runs cron.alter_job '
                                   'in %s), or in %s: %s;', current_database(), v_cron_database, v_cron_database,
                                   'SELECT cron.alter_job(jobid, active => true)' || v_job)
                        WHEN 'unschedule' THEN
                            format('Stop the schedule from the shell: trending pause --dsn ''dbname=%s'' (trending '
                                   'resume starts it again; trending uninstall removes the job with the extension), '
                                   'or remove the job in %s: %s;', current_database(), v_cron_database,
                                   'SELECT cron.unschedule(jobid)' || v_job)
                        ELSE
                            format('Schedule from the shell: trending install --schedule ''0 * * * *'' --dsn ''dbname=%s'' '
                                   '(it uses cron.schedule_in_database in %s), or in %s: '
                                   'SELECT cron.schedule_in_database(''trending-recompute'', ''0 * * * *'', '
                                   '''CALL trending.scheduled_recompute()'', %L);',
                                   current_database(), v_cron_database, v_cron_database, current_database())
                    END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is loaded but not installed in database %', quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = format('CREATE EXTENSION pg_cron; (as a superuser), then call trending.%s() again.', p_action);
    END IF;
END;
$function$;

-- source: sql/functions/_run_begin.sql
-------------------------------------------------------------------------------
-- _run_begin
-- Begin a run for the caller, who took the cycle lease in this transaction
-- (trending._lease_take): mark the runs of dead backends aborted (holding the
-- lease means no other cycle is alive), forget runs older than the
-- run_retention setting, insert the 'running' row and name it in the lease.
-- SECURITY DEFINER: roles that run cycles write trending.runs only through
-- these functions (see docs/security.md). The plan is stored for the record
-- only: a run's steps follow the plan the session keeps in memory, never
-- this row. p_run_by must be a role the session's user is a member of.
CREATE FUNCTION trending._run_begin(p_trigger text, p_now timestamptz, p_run_by name, p_plan jsonb)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_run_id bigint;
BEGIN
    IF NOT EXISTS (
        SELECT FROM trending_private.cycle_lease c
        WHERE c.run_id IS NULL AND c.pid = pg_catalog.pg_backend_pid()
          AND c.taken_xact OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id()) THEN
        RAISE EXCEPTION 'trending: a run can only begin in the transaction that took the cycle lease'
            USING ERRCODE = '55000', HINT = 'Run a cycle with trending.recompute() or trending.scheduled_recompute().';
    END IF;
    IF p_run_by IS NULL OR NOT pg_catalog.pg_has_role(SESSION_USER, p_run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'trending: a run can only be recorded as run by the session''s own role'
            USING ERRCODE = '42501';
    END IF;
    UPDATE trending.runs
    SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(),
        message = pg_catalog.format('the run''s backend (pid %s) ended before the run finished', pid)
    WHERE status = 'running';
    DELETE FROM trending.runs
    WHERE started_at < pg_catalog.now() - (SELECT s.value FROM trending.settings s
                                           WHERE s.name = 'run_retention')::pg_catalog.interval
      AND status <> 'running';
    INSERT INTO trending.runs (trigger, status, cycle_now, run_by, source_schema, plan, wal_start_lsn)
    VALUES (p_trigger, 'running', p_now, p_run_by, p_plan OPERATOR(pg_catalog.->>) 'source_schema', p_plan,
            pg_catalog.pg_current_wal_insert_lsn())
    RETURNING run_id INTO v_run_id;
    UPDATE trending_private.cycle_lease SET run_id = v_run_id;
    RETURN v_run_id;
END;
$function$;

-- source: sql/functions/_run_fail.sql
-------------------------------------------------------------------------------
-- _run_fail
-- Record the caller's own running run as failed, with the error's SQLSTATE,
-- message, detail and hint; free the cycle lease.
CREATE FUNCTION trending._run_fail(p_run_id bigint, p_sqlstate text, p_message text, p_detail text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM trending._own_run(p_run_id);
    UPDATE trending_private.cycle_lease
    SET run_id = NULL, pid = NULL, backend_start = NULL, role = NULL, taken_at = NULL, taken_xact = NULL,
        renewed_at = NULL;
    UPDATE trending.runs
    SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
        sqlstate = p_sqlstate, message = p_message, detail = p_detail, hint = p_hint,
        wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)
    WHERE run_id = p_run_id;
END;
$function$;

-- source: sql/functions/_run_finish.sql
-------------------------------------------------------------------------------
-- _run_finish
-- Mark the caller's own running run ok and free the cycle lease; its row as jsonb (run_id, step_ms,
-- slice_rows, bad_rows, wal_bytes, ms, cycle_kind, cycle_reason) for the summary.
CREATE FUNCTION trending._run_finish(p_run_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_row jsonb;
BEGIN
    PERFORM trending._own_run(p_run_id);
    UPDATE trending_private.cycle_lease
    SET run_id = NULL, pid = NULL, backend_start = NULL, role = NULL, taken_at = NULL, taken_xact = NULL,
        renewed_at = NULL;
    UPDATE trending.runs
    SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
        wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)
    WHERE run_id = p_run_id
    RETURNING pg_catalog.jsonb_build_object(
        'run_id', run_id, 'step_ms', step_ms, 'slice_rows', slice_rows, 'bad_rows', bad_rows,
        'wal_bytes', wal_bytes, 'cycle_kind', cycle_kind, 'cycle_reason', cycle_reason,
        'affected', affected, 'drift', drift,
        'ms', pg_catalog.round(EXTRACT(epoch FROM finished_at - started_at) * 1000, 1))
    INTO v_row;
    RETURN v_row;
END;
$function$;

-- source: sql/functions/_run_step_done.sql
-------------------------------------------------------------------------------
-- _run_step_done
-- Add one finished step to the caller's own running run: its milliseconds,
-- for a slice its row counts, for an input step the bad rows it counted;
-- for the step that decides it (check_sources), the kind of cycle and why
-- (NULL: unchanged). Renews the run's cycle lease.
CREATE FUNCTION trending._run_step_done(p_run_id bigint, p_step text, p_ms double precision,
                                        p_slice_rows jsonb, p_bad_rows jsonb,
                                        p_cycle_kind text, p_cycle_reason text,
                                        p_affected jsonb, p_drift jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM trending._own_run(p_run_id);
    UPDATE trending_private.cycle_lease SET renewed_at = pg_catalog.clock_timestamp();
    UPDATE trending.runs
    SET step_ms = step_ms || pg_catalog.jsonb_build_object(p_step, p_ms),
        slice_rows = CASE WHEN p_slice_rows IS NULL THEN slice_rows
                          ELSE slice_rows || pg_catalog.jsonb_build_object(p_step, p_slice_rows) END,
        bad_rows = bad_rows || COALESCE(p_bad_rows, '{}'),
        cycle_kind = COALESCE(p_cycle_kind, cycle_kind),
        cycle_reason = COALESCE(p_cycle_reason, cycle_reason),
        affected = CASE WHEN p_affected IS NULL THEN affected ELSE COALESCE(affected, '{}') || p_affected END,
        drift = CASE WHEN p_drift IS NULL THEN drift ELSE COALESCE(drift, '{}') || p_drift END
    WHERE run_id = p_run_id;
END;
$function$;

-- source: sql/functions/_safe_temp_table.sql
-------------------------------------------------------------------------------
-- _safe_temp_table
-- The session's temp table pg_temp.<p_name>, once it is known to be safe for
-- a SECURITY DEFINER function to read: made by trending._staging_table, so
-- owned by the extension's owner (the current user in the definer functions
-- that call this), which is what makes it safe: the caller could attach
-- nothing to it (docs/security.md, "What a definer function reads"). As a
-- second line, the checks of 1.1: a plain heap table in this session's temp
-- schema with exactly the columns p_columns of the built-in types p_types
-- (default collation, none generated), and no index, rule, trigger, policy,
-- inheritance parent or child, or extended statistics. Raises 55000
-- otherwise. Called only by the writer functions (as their owner); no grant.
CREATE FUNCTION trending._safe_temp_table(p_name text, p_columns text[], p_types regtype[])
RETURNS regclass
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_oid oid;
    v_problem text;
BEGIN
    SELECT c.oid INTO v_oid FROM pg_catalog.pg_class c
    WHERE c.relname = p_name AND c.relnamespace = pg_catalog.pg_my_temp_schema();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'trending: pg_temp.% does not exist in this session', p_name
            USING ERRCODE = '55000', HINT = 'A slice is written by the run that staged its changes.';
    END IF;
    SELECT CASE
        WHEN c.relowner IS DISTINCT FROM (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
            THEN 'the session made it, not trending._staging_table'
        WHEN c.relkind <> 'r' OR c.relpersistence <> 't' THEN 'it is not a plain temporary table'
        WHEN c.relam IS DISTINCT FROM (SELECT a.oid FROM pg_catalog.pg_am a WHERE a.amname = 'heap')
            THEN 'it is not a heap table'
        WHEN c.reloftype <> 0 OR c.relispartition THEN 'it is typed or a partition'
        WHEN c.relrowsecurity OR c.relforcerowsecurity
             OR EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) THEN 'it has row-level security'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) THEN 'it has an index'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid) THEN 'it has a rule'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) THEN 'it has a trigger'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits h WHERE h.inhrelid = c.oid OR h.inhparent = c.oid)
            THEN 'it has an inheritance parent or child'
        WHEN EXISTS (SELECT FROM pg_catalog.pg_statistic_ext s WHERE s.stxrelid = c.oid)
            THEN 'it has extended statistics'
        WHEN (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) IS DISTINCT FROM p_columns
          OR (SELECT pg_catalog.array_agg(a.atttypid ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
             IS DISTINCT FROM p_types::oid[]
          OR EXISTS (SELECT FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                       AND (a.attgenerated <> '' OR a.attcollation NOT IN (0, 100)))
            THEN 'its columns are not the expected ones'
        END
    INTO v_problem
    FROM pg_catalog.pg_class c WHERE c.oid = v_oid;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'trending: refusing to read pg_temp.%: %', p_name, v_problem
            USING ERRCODE = '55000',
                  DETAIL = 'A cycle''s writer functions read only the temp tables trending._staging_table made for it.',
                  HINT = 'Drop the relation and run the cycle again: the cycle stages through trending._staging_table.';
    END IF;
    RETURN v_oid::pg_catalog.regclass;
END;
$function$;

-- source: sql/functions/_scheduled_start.sql
-------------------------------------------------------------------------------
-- _scheduled_start
-- First transaction of trending.scheduled_recompute(): take the cycle lease
-- (trending._lease_take; its row outlives the procedure's commits), plan the
-- cycle and insert its 'running' row. NULL when another cycle runs
-- (recorded 'skipped'); minus the run id when something that is not a cycle
-- blocks the lease (recorded 'failed': the procedure commits, then raises).
CREATE FUNCTION trending._scheduled_start(now timestamptz, full boolean)
RETURNS bigint
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.start(plpy, now, full)
$python$;

-- source: sql/functions/_scheduled_step.sql
-------------------------------------------------------------------------------
-- _scheduled_step
-- One step of a scheduled run, in a subtransaction; the last slice's runs
-- with record_movers and write_state, each recorded as a step of its own,
-- so that the three commit together (cycle.py, transaction_steps). Returns
-- {"state": "more"}, {"state": "ok", "summary": ...} after the last step, or
-- {"state": "failed", "sqlstate", "message", "detail", "hint"} once the failure is
-- recorded in trending.runs (which frees the cycle lease). Never raises for a
-- failed step, so the procedure can commit the failure before re-raising it.
-- Continues only a run this session started: the plan is in this session's
-- memory, and the run's row must say pid = this backend, status 'running'.
-- Another session's run raises 42501 and is left alone (see
-- extension/trending_pl/runs.py).
CREATE FUNCTION trending._scheduled_step(run_id bigint, step integer)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.step(plpy, run_id, step)
$python$;

-- source: sql/functions/_staging_analyze.sql
-------------------------------------------------------------------------------
-- _staging_analyze
-- ANALYZE the staging table pg_temp.<p_name> (made by
-- trending._staging_table): the cycle's later statements are planned with
-- its statistics, and only its owner may analyze it. Its columns are of
-- built-in types and nothing is attached to it, so ANALYZE runs only
-- PostgreSQL's own code. SECURITY DEFINER; 55000 for any other relation.
CREATE FUNCTION trending._staging_analyze(p_name text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_relation oid;
BEGIN
    SELECT c.oid INTO v_relation FROM pg_catalog.pg_class c
    WHERE c.relname = p_name AND c.relnamespace = pg_catalog.pg_my_temp_schema();
    IF NOT trending._staging_own(v_relation) THEN
        RAISE EXCEPTION 'trending: pg_temp.% is not a staging table trending made in this session', p_name
            USING ERRCODE = '55000', HINT = 'Stage it with trending._staging_table first.';
    END IF;
    EXECUTE pg_catalog.format('ANALYZE pg_temp.%I', p_name);
END;
$function$;

-- source: sql/functions/_staging_columns.sql
-------------------------------------------------------------------------------
-- _staging_columns
-- The catalogue of the temp tables a cycle stages for its SECURITY DEFINER
-- writers to read: for each name, its column definitions (built-in types
-- only, no default, no constraint); NULL for any other name. The state
-- stagings take the columns of the state tables they replace rows of
-- (trending's own tables). trending._staging_table creates these tables as
-- the extension's owner, so the calling role owns nothing it could attach
-- code to (docs/security.md, "What a definer function reads"). Called only
-- by the staging functions (as their owner); no grant.
CREATE FUNCTION trending._staging_columns(p_name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN CASE
        -- a slice's changes (extension/trending_pl/slices.py), read by _apply_slice
        WHEN p_name IN ('trending_track_changes', 'trending_playlist_changes') THEN
            'stored_tid pg_catalog.tid, stored_id pg_catalog.int4, type pg_catalog.text, version pg_catalog.text, '
            'time_range pg_catalog.text, id pg_catalog.int4, score pg_catalog.float8'
            || CASE WHEN p_name = 'trending_track_changes' THEN ', genre pg_catalog.varchar' ELSE '' END
        -- the rest are read by _state_write
        WHEN p_name = 'trending_play_hours' THEN
            'track_id pg_catalog.int8, hour pg_catalog.timestamp, n_source pg_catalog.int8, n_after pg_catalog.int8'
        WHEN p_name IN ('trending_track_state', 'trending_playlist_state') THEN
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname,
                                                            pg_catalog.format_type(a.atttypid, a.atttypmod)),
                                          ', ' ORDER BY a.attnum)
             FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = CASE p_name WHEN 'trending_track_state' THEN 'trending._state_tracks'::pg_catalog.regclass
                                            ELSE 'trending._state_playlists'::pg_catalog.regclass END
               AND a.attnum > 0 AND NOT a.attisdropped)
        WHEN p_name = 'trending_playlist_engagement_hours' THEN 'hour pg_catalog.timestamp, item_id pg_catalog.int8'
        -- the tracks' live saves and reposts (a full staging's all, an
        -- incremental one's of the tracks read whole) and those of the pairs
        -- the capture named (trending._state_track_actions)
        WHEN p_name IN ('trending_track_engagements', 'trending_track_pair_rows') THEN
            'track_id pg_catalog.int8, is_repost pg_catalog.bool, user_id pg_catalog.int8, created_at pg_catalog.timestamp'
        WHEN p_name = 'trending_track_action_pairs' THEN
            'track_id pg_catalog.int8, user_id pg_catalog.int8, is_repost pg_catalog.bool'
        WHEN p_name IN ('trending_track_user_state', 'trending_playlist_user_state') THEN
            'user_id pg_catalog.int8, weight pg_catalog.numeric, negative pg_catalog.bool'
        WHEN p_name = 'trending_playlist_owners' THEN 'playlist_id pg_catalog.int8, owner_id pg_catalog.int8'
        WHEN p_name IN ('trending_track_affected', 'trending_playlist_affected', 'trending_track_fresh',
                        'trending_track_reread')
            THEN 'id pg_catalog.int8'
        WHEN p_name = 'trending_rotation' THEN 'rotation pg_catalog.jsonb, reconciled_at pg_catalog.timestamp'
    END;
END;
$function$;

-- source: sql/functions/_staging_drop.sql
-------------------------------------------------------------------------------
-- _staging_drop
-- Drop this session's staging tables (those trending._staging_table made):
-- the caller cannot, it does not own them. Relations of the same names that
-- the session made itself are left to it. The number dropped. SECURITY
-- DEFINER.
CREATE FUNCTION trending._staging_drop()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_names text;
    v_count integer;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('pg_temp.%I', c.relname), ', '), pg_catalog.count(*)
    INTO v_names, v_count
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND trending._staging_own(c.oid);
    IF v_count > 0 THEN
        EXECUTE 'DROP TABLE ' || v_names;
    END IF;
    RETURN v_count;
END;
$function$;

-- source: sql/functions/_staging_own.sql
-------------------------------------------------------------------------------
-- _staging_own
-- Whether relation p_relation is one of the cycle's staging tables as
-- trending._staging_table makes them: a plain temporary table of this
-- session, named in the catalogue (trending._staging_columns), owned by the
-- current user, which in the definer functions that call this is the
-- extension's owner. Only its owner (or a superuser) can alter such a table.
-- No grant.
CREATE FUNCTION trending._staging_own(p_relation oid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT COALESCE((
        SELECT c.relkind = 'r' AND c.relpersistence = 't'
               AND c.relnamespace = pg_catalog.pg_my_temp_schema()
               AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
               AND trending._staging_columns(c.relname::text) IS NOT NULL
        FROM pg_catalog.pg_class c WHERE c.oid = p_relation), false)
$function$;

-- source: sql/functions/_staging_table.sql
-------------------------------------------------------------------------------
-- _staging_table
-- Create the cycle's temp table pg_temp.<p_name> (one of the catalogue of
-- trending._staging_columns) empty, owned by the extension's owner, and let
-- the session's roles fill and read it (INSERT, SELECT: a temp table is
-- visible to its own session only). The SECURITY DEFINER writers read only
-- tables made so (trending._safe_temp_table checks the owner): the calling
-- role owns nothing there, so it can add no constraint, default, index,
-- rule, trigger, policy or statistics for the owner's planner or executor to
-- run. A table of that name this function made before (an earlier step or
-- run of the session) is dropped and made anew; any other relation of that
-- name is refused (55000): the caller made it. SECURITY DEFINER: the table's
-- owner is this function's.
CREATE FUNCTION trending._staging_table(p_name text)
RETURNS regclass
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET default_table_access_method = heap
AS $function$
DECLARE
    v_columns text := trending._staging_columns(p_name);
    v_existing oid;
BEGIN
    IF v_columns IS NULL THEN
        RAISE EXCEPTION 'trending: % is not a staging table', p_name USING ERRCODE = '22023';
    END IF;
    SELECT c.oid INTO v_existing FROM pg_catalog.pg_class c
    WHERE c.relname = p_name AND c.relnamespace = pg_catalog.pg_my_temp_schema();
    IF FOUND THEN
        IF NOT trending._staging_own(v_existing) THEN
            RAISE EXCEPTION 'trending: pg_temp.% exists and was not made by trending', p_name
                USING ERRCODE = '55000',
                      DETAIL = 'A cycle stages into tables the extension''s owner creates; this session made its own.',
                      HINT = pg_catalog.format('DROP it (pg_temp.%I) and run the cycle again.', p_name);
        END IF;
        EXECUTE pg_catalog.format('DROP TABLE pg_temp.%I', p_name);
    END IF;
    EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE %I (%s)', p_name, v_columns);
    EXECUTE pg_catalog.format('GRANT SELECT, INSERT ON TABLE pg_temp.%I TO PUBLIC', p_name);
    RETURN pg_catalog.format('pg_temp.%I', p_name)::pg_catalog.regclass;
END;
$function$;

-- source: sql/functions/_state_advance.sql
-------------------------------------------------------------------------------
-- _state_advance
-- In the transaction of an incremental cycle's last step, before the capture's
-- watermark moves to the cycle's snapshot (trending._capture_advance prunes
-- the delta rows visible in it): add the plays of the delta rows this cycle
-- consumes (of the transactions visible in the armed row's next_snapshot
-- and not in its snapshot) to the play buckets, so that every delta row is
-- counted exactly once: here, in the same transaction that moves the
-- watermark past it; a transaction still open is visible in neither, and
-- its rows are counted by the cycle whose snapshot sees it commit (a bucket whose plays were
-- deleted keeps its 0 until its hour is dropped). Then drop the buckets
-- before p_track_keep and the playlists' item hours before p_playlist_keep,
-- which no later window can reach (inputs.Cycle.track_month_keep); the hour
-- of -infinity stays: its plays are counted as absurd rows.
-- SECURITY DEFINER: roles that run cycles have no write privilege on the state.
CREATE FUNCTION trending._state_advance(p_run_id bigint, p_track_keep timestamp, p_playlist_keep timestamp)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_since bigint;
    v_rows bigint;
    v_armed trending._capture_armed;
BEGIN
    PERFORM trending._own_run(p_run_id);
    SELECT m.since INTO v_since FROM trending._state_meta m WHERE m.valid FOR UPDATE;
    SELECT a.* INTO v_armed FROM trending._capture_armed a;
    IF v_since IS NULL OR v_since IS DISTINCT FROM v_armed.since OR v_armed.snapshot IS NULL
       OR v_armed.next_snapshot IS NULL THEN
        RAISE EXCEPTION 'trending: the incremental state is not at the capture''s watermark'
            USING ERRCODE = '55000', HINT = 'Run a full cycle: SELECT trending.recompute(full => true).';
    END IF;
    WITH delta AS (
        SELECT h.item_id AS track_id, h.hour, pg_catalog.sum(h.n)::bigint AS n
        FROM trending._capture_play_hours h
        WHERE pg_catalog.pg_visible_in_snapshot(h.tx, v_armed.next_snapshot)
          AND NOT pg_catalog.pg_visible_in_snapshot(h.tx, v_armed.snapshot) AND h.item_id IS NOT NULL
          AND (h.hour >= p_track_keep OR h.hour = '-infinity')
        GROUP BY h.item_id, h.hour
        HAVING pg_catalog.sum(h.n) <> 0
    )
    INSERT INTO trending._state_play_buckets AS b (track_id, hour, plays)
    SELECT d.track_id, d.hour, d.n FROM delta d
    ON CONFLICT (track_id, hour) DO UPDATE SET plays = b.plays + excluded.plays;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    DELETE FROM trending._state_play_buckets b WHERE b.hour < p_track_keep AND b.hour <> '-infinity';
    DELETE FROM trending._state_playlist_hours h WHERE h.hour < p_playlist_keep;
    RETURN v_rows;
END;
$function$;

-- source: sql/functions/_state_finish.sql
-------------------------------------------------------------------------------
-- _state_finish
-- In the transaction of a cycle's last step, after the capture was armed
-- (full) or advanced (incremental): the state is valid at the capture's
-- watermark and at this cycle's now. When the capture is not armed (arming
-- refused, or a trigger found altered), the state is marked invalid and the
-- next cycle runs full. p_kind: 'full' (the state rebuilt from the
-- sources) or 'incremental' (a reconciling cycle is one: the end of its
-- round of reconciliation is written by _state_write 'rotation').
-- SECURITY DEFINER: roles that run cycles have no write privilege on the state.
CREATE FUNCTION trending._state_finish(p_run_id bigint, p_now timestamp, p_fingerprint text, p_kind text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_since bigint;
BEGIN
    PERFORM trending._own_run(p_run_id);
    IF p_kind NOT IN ('full', 'incremental') THEN
        RAISE EXCEPTION 'trending: unknown kind of cycle %', p_kind USING ERRCODE = '22023';
    END IF;
    SELECT a.since INTO v_since FROM trending._capture_armed a WHERE a.snapshot IS NOT NULL;
    IF NOT FOUND OR (p_kind = 'incremental'
                     AND NOT EXISTS (SELECT FROM trending._state_meta m WHERE m.valid)) THEN
        INSERT INTO trending._state_meta AS m (valid, run_id) VALUES (false, p_run_id)
        ON CONFLICT (one) DO UPDATE SET valid = false, run_id = excluded.run_id;
        RETURN false;
    END IF;
    INSERT INTO trending._state_meta AS m (valid, cycle_now, since, fingerprint, built_at, reconciled_at, run_id)
    VALUES (true, p_now, v_since, p_fingerprint, p_now, p_now, p_run_id)
    ON CONFLICT (one) DO UPDATE
    SET valid = true, cycle_now = excluded.cycle_now, since = excluded.since, fingerprint = excluded.fingerprint,
        built_at = CASE WHEN p_kind = 'full' THEN excluded.built_at ELSE m.built_at END,
        reconciled_at = CASE WHEN p_kind = 'incremental' THEN m.reconciled_at ELSE excluded.reconciled_at END,
        -- a state rebuilt whole starts a new round of reconciliation; an
        -- incremental cycle wrote its own (_state_write 'rotation')
        rotation = CASE WHEN p_kind = 'incremental' THEN m.rotation END,
        run_id = excluded.run_id;
    RETURN true;
END;
$function$;

-- source: sql/functions/_state_load.sql
-------------------------------------------------------------------------------
-- _state_load
-- Replace one incremental state table whole (a full cycle's write, from
-- trending._state_write): TRUNCATE it, drop its secondary indexes, insert the
-- rows of p_rows (a query from _state_write, ordered by the table's primary
-- key), build the indexes again and ANALYZE (the next cycle plans on it).
-- Why: maintaining every index row by row for millions of rows in random
-- order is what made a full cycle with the state about 2x a plain one
-- (issue 18); measured at medium, 894k play buckets took 9.1 s that way,
-- 2.2 s loaded bare and indexed after, and 184k track rows 2.5 s against
-- 0.8 s (docs/benchmark.md, "A full cycle's state write").
-- The index definitions are read from the catalog just before they are
-- dropped, so sql/schema/85_state.sql stays their only source. Only the
-- state's own tables are accepted; no role but the owner may call it
-- (EXECUTE is revoked from PUBLIC), and the TRUNCATE's ACCESS EXCLUSIVE
-- lock, held to the commit, keeps every other session out meanwhile.
CREATE FUNCTION trending._state_load(p_table regclass, p_rows text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_definitions text[];
    v_index regclass;
    v_definition text;
    v_rows bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c
                   WHERE c.oid = p_table AND c.relnamespace = 'trending'::pg_catalog.regnamespace
                     AND c.relkind = 'r' AND pg_catalog.starts_with(c.relname::text, '_state_')) THEN
        RAISE EXCEPTION 'trending: % is not a table of the incremental state', p_table USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format('TRUNCATE %s', p_table);
    SELECT pg_catalog.array_agg(pg_catalog.pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid)
    INTO v_definitions
    FROM pg_catalog.pg_index i WHERE i.indrelid = p_table AND NOT i.indisprimary;
    FOR v_index IN SELECT i.indexrelid::pg_catalog.regclass FROM pg_catalog.pg_index i
                   WHERE i.indrelid = p_table AND NOT i.indisprimary LOOP
        EXECUTE pg_catalog.format('DROP INDEX %s', v_index);
    END LOOP;
    EXECUTE pg_catalog.format('INSERT INTO %s %s', p_table, p_rows);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    FOREACH v_definition IN ARRAY COALESCE(v_definitions, '{}') LOOP
        EXECUTE v_definition;
    END LOOP;
    EXECUTE pg_catalog.format('ANALYZE %s', p_table);
    RETURN v_rows;
END;
$function$;

-- source: sql/functions/_state_write.sql
-------------------------------------------------------------------------------
-- _state_write
-- Store what a cycle computed into the incremental state (sql/schema/85_state.sql),
-- for the caller's own running run, from the caller's temp tables (each found
-- plain by _safe_temp_table, with exactly the columns expected):
--   'begin'        the state is marked invalid: by a full cycle at an
--                  earlier now (in its first step: the scores it writes are
--                  not the state's), and by a full cycle's last step just
--                  before it replaces the state and _state_finish marks it
--                  valid again.
--   'track'        pg_temp.trending_track_state (the columns of
--                  trending._state_tracks) and the tracks' live saves and
--                  reposts, pg_temp.trending_track_engagements.
--                  Full (p_full): both are replaced whole (trending._state_load).
--                  Incremental: the rows of the ids in
--                  pg_temp.trending_track_affected are replaced; the saves
--                  and reposts of the tracks in trending_track_reread are
--                  replaced by those staged, and the rows of each pair
--                  (track, user, kind) in trending_track_action_pairs by
--                  those of trending_track_pair_rows.
--   'playlist'     pg_temp.trending_playlist_state, the hours of the
--                  playlists' live engagements (trending_playlist_engagement_hours)
--                  and pg_temp.trending_playlist_owners: full, replaced
--                  whole; incremental, the affected rows replaced and the
--                  item hours given added (an hour kept too long only
--                  makes a later cycle rescore its item once more).
--   'track_users', 'playlist_users'
--                  pg_temp.trending_<kind>_user_state (user_id, weight,
--                  negative): full, every user's karma weight for the kind;
--                  incremental, the new weight of each user the capture
--                  named (their rows are replaced; a user without a weight
--                  keeps none).
--   'play_buckets' pg_temp.trending_play_hours: the plays per track and
--                  hour a cycle read, less those of the delta rows above the
--                  watermark it arms or advances to (n_after), which the
--                  next incremental cycle adds (trending._state_advance).
--                  Full: every track's (the buckets are replaced whole:
--                  trending._state_load).
--                  Incremental (after _state_advance): the buckets of the
--                  tracks in pg_temp.trending_track_fresh, whose buckets the
--                  reconciliation found wrong, are replaced.
--   'rotation'     (incremental only) pg_temp.trending_rotation (rotation,
--                  reconciled_at): how far the round of reconciliation got,
--                  and when the cycle completed it (else NULL).
-- SECURITY DEFINER: roles that run cycles have no write privilege on the state.
CREATE FUNCTION trending._state_write(p_run_id bigint, p_what text, p_full boolean)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_rows bigint := 0;
    v_state regclass;
    v_id text;
    v_src regclass;
    v_affected regclass;
    v_hours regclass;
    v_owners regclass;
    v_actions regclass;
    v_reread regclass;
    v_pairs regclass;
    v_pair_rows regclass;
    v_columns text;
    v_values text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    IF p_what = 'begin' THEN
        INSERT INTO trending._state_meta AS m (valid, run_id) VALUES (false, p_run_id)
        ON CONFLICT (one) DO UPDATE SET valid = false, run_id = excluded.run_id;
        RETURN 0;
    END IF;
    IF p_what = 'play_buckets' THEN
        v_src := trending._safe_temp_table('trending_play_hours',
                                           ARRAY['track_id', 'hour', 'n_source', 'n_after'],
                                           ARRAY['pg_catalog.int8', 'pg_catalog.timestamp',
                                                 'pg_catalog.int8', 'pg_catalog.int8']::pg_catalog.regtype[]);
        v_values := pg_catalog.format(
            '(track_id, hour, plays)
             SELECT h.track_id, h.hour, h.n_source - h.n_after FROM %s h
             WHERE h.track_id IS NOT NULL AND h.hour IS NOT NULL AND h.n_source <> h.n_after', v_src);
        IF p_full THEN
            RETURN trending._state_load('trending._state_play_buckets', v_values || ' ORDER BY h.track_id, h.hour');
        END IF;
        v_affected := trending._safe_temp_table('trending_track_fresh', ARRAY['id'],
                                                ARRAY['pg_catalog.int8']::pg_catalog.regtype[]);
        EXECUTE pg_catalog.format('DELETE FROM trending._state_play_buckets b
                                   WHERE b.track_id = ANY (ARRAY(SELECT f.id FROM %s f))', v_affected);
        EXECUTE pg_catalog.format('INSERT INTO trending._state_play_buckets %s
                                   AND h.track_id = ANY (ARRAY(SELECT f.id FROM %s f))', v_values, v_affected);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RETURN v_rows;
    END IF;
    IF p_what = 'rotation' THEN
        IF p_full THEN
            RAISE EXCEPTION 'trending: a full cycle starts a new round of reconciliation (_state_finish)'
                USING ERRCODE = '22023';
        END IF;
        v_src := trending._safe_temp_table('trending_rotation', ARRAY['rotation', 'reconciled_at'],
                                           ARRAY['pg_catalog.jsonb', 'pg_catalog.timestamp']::pg_catalog.regtype[]);
        EXECUTE pg_catalog.format(
            'UPDATE trending._state_meta m SET rotation = r.rotation, reconciled_at = COALESCE(r.reconciled_at, m.reconciled_at)
             FROM (SELECT x.rotation, x.reconciled_at FROM %s x LIMIT 1) AS r WHERE m.valid', v_src);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RETURN v_rows;
    END IF;
    IF p_what IN ('track_users', 'playlist_users') THEN
        v_state := CASE p_what WHEN 'track_users' THEN 'trending._state_track_users'
                               ELSE 'trending._state_playlist_users' END;
        v_src := trending._safe_temp_table('trending_' || pg_catalog.replace(p_what, '_users', '') || '_user_state',
                                           ARRAY['user_id', 'weight', 'negative'],
                                           ARRAY['pg_catalog.int8', 'pg_catalog.numeric',
                                                 'pg_catalog.bool']::pg_catalog.regtype[]);
        v_values := pg_catalog.format(
            '(user_id, weight, negative)
             SELECT DISTINCT ON (u.user_id) u.user_id, u.weight, COALESCE(u.negative, false) FROM %s u
             WHERE u.user_id IS NOT NULL AND (u.weight IS NOT NULL OR u.negative)
             ORDER BY u.user_id', v_src);
        IF p_full THEN
            RETURN trending._state_load(v_state, v_values);
        END IF;
        EXECUTE pg_catalog.format('DELETE FROM %s s WHERE s.user_id = ANY (ARRAY(SELECT u.user_id FROM %s u))',
                                  v_state, v_src);
        EXECUTE pg_catalog.format('INSERT INTO %s %s', v_state, v_values);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RETURN v_rows;
    END IF;
    IF p_what = 'track' THEN
        v_state := 'trending._state_tracks'; v_id := 'track_id';
        v_actions := trending._safe_temp_table('trending_track_engagements',
                                               ARRAY['track_id', 'is_repost', 'user_id', 'created_at'],
                                               ARRAY['pg_catalog.int8', 'pg_catalog.bool', 'pg_catalog.int8',
                                                     'pg_catalog.timestamp']::pg_catalog.regtype[]);
    ELSIF p_what = 'playlist' THEN
        v_state := 'trending._state_playlists'; v_id := 'playlist_id';
    ELSE
        RAISE EXCEPTION 'trending: unknown state part %', p_what USING ERRCODE = '22023';
    END IF;

    v_src := trending._safe_temp_table(
        'trending_' || p_what || '_state',
        (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_state AND a.attnum > 0 AND NOT a.attisdropped),
        (SELECT pg_catalog.array_agg(a.atttypid::pg_catalog.regtype ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_state AND a.attnum > 0 AND NOT a.attisdropped));
    IF p_what = 'playlist' THEN
        v_hours := trending._safe_temp_table('trending_playlist_engagement_hours', ARRAY['hour', 'item_id'],
                                             ARRAY['pg_catalog.timestamp', 'pg_catalog.int8']::pg_catalog.regtype[]);
        v_owners := trending._safe_temp_table('trending_playlist_owners', ARRAY['playlist_id', 'owner_id'],
                                              ARRAY['pg_catalog.int8', 'pg_catalog.int8']::pg_catalog.regtype[]);
    END IF;

    IF p_full THEN
        v_rows := trending._state_load(v_state, pg_catalog.format('SELECT x.* FROM %s x ORDER BY x.%I', v_src, v_id));
        IF v_actions IS NOT NULL THEN
            PERFORM trending._state_load('trending._state_track_actions', pg_catalog.format(
                '(track_id, is_repost, user_id, created_at) SELECT e.track_id, e.is_repost, e.user_id, e.created_at
                 FROM %s e WHERE e.track_id IS NOT NULL AND e.is_repost IS NOT NULL', v_actions));
        END IF;
        IF v_hours IS NOT NULL THEN
            PERFORM trending._state_load('trending._state_playlist_hours', pg_catalog.format(
                '(hour, item_id) SELECT DISTINCT h.hour, h.item_id FROM %s h
                 WHERE h.hour IS NOT NULL AND h.item_id IS NOT NULL ORDER BY 1, 2', v_hours));
        END IF;
        IF v_owners IS NOT NULL THEN
            PERFORM trending._state_load('trending._state_playlist_owners', pg_catalog.format(
                '(playlist_id, owner_id) SELECT o.playlist_id, pg_catalog.min(o.owner_id) FROM %s o
                 WHERE o.playlist_id IS NOT NULL GROUP BY o.playlist_id ORDER BY 1', v_owners));
        END IF;
        RETURN v_rows;
    END IF;

    v_affected := trending._safe_temp_table('trending_' || p_what || '_affected', ARRAY['id'],
                                            ARRAY['pg_catalog.int8']::pg_catalog.regtype[]);
    -- rows gone (the affected ids the staging does not hold: found
    -- between the temp tables, so only those are looked up), rows
    -- changed in place (HOT: an item's dates and owner, the indexed
    -- columns, rarely change), and the staged rows no update found: new
    EXECUTE pg_catalog.format('DELETE FROM %s s WHERE s.%I = ANY (ARRAY(
                                   SELECT a.id FROM %s a WHERE NOT EXISTS (SELECT FROM %s x WHERE x.%I = a.id)))',
                              v_state, v_id, v_affected, v_src, v_id);
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum),
           pg_catalog.string_agg('x.' || pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
    INTO v_columns, v_values
    FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_state AND a.attnum > 0 AND NOT a.attisdropped;
    -- (a row the cycle read again and found the same, as most of the
    -- reconciliation's share is, is left alone: no dead tuple)
    EXECUTE pg_catalog.format('WITH updated AS (UPDATE %1$s s SET (%2$s) = ROW(%3$s) FROM %4$s x
                                                WHERE s.%5$I = x.%5$I AND ROW(s.*) IS DISTINCT FROM ROW(x.*)
                                                RETURNING 1),
                                    inserted AS (INSERT INTO %1$s SELECT x.* FROM %4$s x
                                                 WHERE NOT EXISTS (SELECT FROM %1$s s WHERE s.%5$I = x.%5$I)
                                                 RETURNING 1)
                               SELECT (SELECT pg_catalog.count(*) FROM updated)
                                      + (SELECT pg_catalog.count(*) FROM inserted)',
                              v_state, v_columns, v_values, v_src, v_id)
    INTO v_rows;
    IF v_actions IS NOT NULL THEN
        -- the saves and reposts read again: of whole tracks (their rows
        -- replaced), and of the pairs the capture named (the pair's rows
        -- replaced: a pair's rows are always the sources' as some cycle read
        -- them, and a later change to them is named again)
        v_reread := trending._safe_temp_table('trending_track_reread', ARRAY['id'],
                                              ARRAY['pg_catalog.int8']::pg_catalog.regtype[]);
        v_pairs := trending._safe_temp_table('trending_track_action_pairs', ARRAY['track_id', 'user_id', 'is_repost'],
                                             ARRAY['pg_catalog.int8', 'pg_catalog.int8',
                                                   'pg_catalog.bool']::pg_catalog.regtype[]);
        v_pair_rows := trending._safe_temp_table('trending_track_pair_rows',
                                                 ARRAY['track_id', 'is_repost', 'user_id', 'created_at'],
                                                 ARRAY['pg_catalog.int8', 'pg_catalog.bool', 'pg_catalog.int8',
                                                       'pg_catalog.timestamp']::pg_catalog.regtype[]);
        -- Only the rows that differ are written: most of what is read again
        -- (the reconciliation's share) is what the state holds, and an
        -- insert costs a heap tuple and three index entries. Stored and read
        -- rows are compared as multisets, counted per distinct row (a NULL
        -- matches a NULL): where the state holds more copies, the extra
        -- ones are deleted (by ctid); where it holds fewer, the missing
        -- ones are inserted.
        EXECUTE pg_catalog.format(
            'WITH stored AS MATERIALIZED (
                 SELECT s.track_id, s.is_repost, s.user_id IS NULL AS user_null, COALESCE(s.user_id, 0) AS user_value,
                        s.created_at IS NULL AS created_null, COALESCE(s.created_at, ''-infinity'') AS created_value,
                        pg_catalog.count(*) AS n, pg_catalog.array_agg(s.tid) AS tids
                 FROM (SELECT e.ctid AS tid, e.track_id, e.is_repost, e.user_id, e.created_at
                       FROM trending._state_track_actions e
                       WHERE e.track_id = ANY (ARRAY(SELECT r.id FROM %3$s r))
                       UNION ALL
                       SELECT e.ctid, e.track_id, e.is_repost, e.user_id, e.created_at
                       FROM %4$s p
                       JOIN trending._state_track_actions e
                         ON e.track_id = p.track_id AND e.user_id = p.user_id AND e.is_repost = p.is_repost
                       WHERE NOT EXISTS (SELECT FROM %3$s r WHERE r.id = p.track_id)) AS s
                 GROUP BY s.track_id, s.is_repost, s.user_id, s.created_at
             ), fresh AS MATERIALIZED (
                 SELECT f.track_id, f.is_repost, f.user_id, f.created_at, f.user_id IS NULL AS user_null,
                        COALESCE(f.user_id, 0) AS user_value, f.created_at IS NULL AS created_null,
                        COALESCE(f.created_at, ''-infinity'') AS created_value, pg_catalog.count(*) AS n
                 FROM (SELECT e.track_id, e.is_repost, e.user_id, e.created_at FROM %1$s e
                       WHERE e.track_id IS NOT NULL AND e.is_repost IS NOT NULL
                       UNION ALL
                       SELECT n.track_id, n.is_repost, n.user_id, n.created_at FROM %2$s n
                       WHERE n.track_id IS NOT NULL AND n.is_repost IS NOT NULL
                         AND NOT EXISTS (SELECT FROM %3$s r WHERE r.id = n.track_id)) AS f
                 GROUP BY f.track_id, f.is_repost, f.user_id, f.created_at
             ), differing AS MATERIALIZED (
                 SELECT s.tids[1:COALESCE(s.n, 0) - COALESCE(f.n, 0)] AS gone,
                        COALESCE(f.n, 0) - COALESCE(s.n, 0) AS missing, f.track_id, f.is_repost, f.user_id, f.created_at
                 FROM stored s
                 FULL JOIN fresh f
                   ON f.track_id = s.track_id AND f.is_repost = s.is_repost AND f.user_null = s.user_null
                  AND f.user_value = s.user_value AND f.created_null = s.created_null
                  AND f.created_value = s.created_value
                 WHERE s.n IS DISTINCT FROM f.n
             ), deleted AS (
                 DELETE FROM trending._state_track_actions e
                 WHERE e.ctid = ANY (ARRAY(SELECT pg_catalog.unnest(d.gone) FROM differing d WHERE d.missing < 0))
             )
             INSERT INTO trending._state_track_actions (track_id, is_repost, user_id, created_at)
             SELECT d.track_id, d.is_repost, d.user_id, d.created_at
             FROM differing d CROSS JOIN LATERAL pg_catalog.generate_series(1, d.missing) AS copy
             WHERE d.missing > 0',
            v_actions, v_pair_rows, v_reread, v_pairs);
    END IF;
    IF v_hours IS NOT NULL THEN
        -- most of the hours given are kept already: leave out those the
        -- items' own index range holds, rather than probe for each hour
        EXECUTE pg_catalog.format('INSERT INTO trending._state_playlist_hours (hour, item_id)
                                   SELECT h.hour, h.item_id FROM %1$s h WHERE h.hour IS NOT NULL AND h.item_id IS NOT NULL
                                   EXCEPT
                                   SELECT k.hour, k.item_id FROM trending._state_playlist_hours k
                                   WHERE k.item_id = ANY (ARRAY(SELECT DISTINCT i.item_id FROM %1$s i))',
                                  v_hours);
    END IF;
    IF v_owners IS NOT NULL THEN
        EXECUTE pg_catalog.format('DELETE FROM trending._state_playlist_owners o
                                   WHERE o.playlist_id = ANY (ARRAY(SELECT a.id FROM %s a))', v_affected);
        EXECUTE pg_catalog.format('INSERT INTO trending._state_playlist_owners (playlist_id, owner_id)
                                   SELECT o.playlist_id, pg_catalog.min(o.owner_id) FROM %s o
                                   WHERE o.playlist_id IS NOT NULL GROUP BY o.playlist_id', v_owners);
    END IF;
    RETURN v_rows;
END;
$function$;

-- source: sql/functions/_validate_choice.sql
-------------------------------------------------------------------------------
-- _validate_choice
-- Raise 22023 unless p_value is one of p_valid; the message names them all,
-- so a bad argument never looks like an empty result.
CREATE FUNCTION trending._validate_choice(p_name text, p_value text, p_valid text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_value IS NULL OR NOT (p_value = ANY (p_valid)) THEN
        RAISE EXCEPTION 'invalid % %: valid values are %', p_name,
              COALESCE(quote_literal(p_value), 'NULL'), array_to_string(p_valid, ', ')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;

-- source: sql/functions/_validate_page.sql
-------------------------------------------------------------------------------
-- _validate_page
-- Raise 22023 unless 1 <= p_lim <= 1000 and p_off >= 0.
CREATE FUNCTION trending._validate_page(p_lim integer, p_off integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_lim IS NULL OR p_lim < 1 OR p_lim > 1000 THEN
        RAISE EXCEPTION 'invalid lim %: valid values are 1 to 1000', COALESCE(p_lim::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_off IS NULL OR p_off < 0 THEN
        RAISE EXCEPTION 'invalid off %: valid values are 0 or more', COALESCE(p_off::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;

-- source: sql/functions/_validate_setting.sql
-------------------------------------------------------------------------------
-- _validate_setting
-- Raise 22023 unless p_value is acceptable for setting p_name. The source
-- schema is only checked for shape here: it may legitimately not exist yet
-- (pg_restore loads settings before the service's tables); a cycle checks it.
--
-- Each value is checked by doing what a cycle does with it, so the two
-- cannot disagree: the server parameters are applied with set_config() (as
-- cycle.apply_session_settings does), inside a block that is always rolled
-- back; run_retention is subtracted from now() (as runs.start does). A cycle
-- calls this again for every setting when it starts (validate.py), which
-- also covers overrides loaded by pg_restore, which bypass the trigger.
--
-- Numbers may not have leading zeros: the server reads an integer parameter
-- with strtol(..., 0), so '010' would mean 8 and '0999' is an error.
CREATE FUNCTION trending._validate_setting(p_name text, p_value text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_parameter text;
    v_accepted  text;
    v_problem   text;
    v_interval  interval;
    v_minimum   interval;
    v_maximum   interval;
BEGIN
    CASE p_name
    WHEN 'source_schema' THEN
        -- octet_length: a longer name would be truncated to another schema's
        IF p_value IS NULL OR p_value = '' OR pg_catalog.octet_length(p_value) > 63 THEN
            RAISE EXCEPTION 'invalid source_schema %: a schema name of 1 to 63 bytes',
                  pg_catalog.quote_nullable(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN;
    WHEN 'work_mem' THEN
        v_parameter := 'work_mem';
        v_accepted := 'a size from 64kB to 64GB in kB, MB or GB, without leading zeros, e.g. ''256MB''';
        IF p_value !~ '^[1-9][0-9]{0,7} ?(kB|MB|GB)$'
           OR pg_catalog.pg_size_bytes(p_value) < 64 * 1024
           OR pg_catalog.pg_size_bytes(p_value) > pg_catalog.pg_size_bytes('64GB') THEN
            v_problem := 'out of range or malformed';
        END IF;
    WHEN 'lock_timeout' THEN
        v_parameter := 'lock_timeout';
        -- the server's limit is INT_MAX ms: 2147483647ms = 2147483s = 35791min
        v_accepted := 'a positive duration in ms, s or min up to 2147483647ms (35791min), without leading zeros, e.g. ''5s''';
        IF p_value !~ '^[1-9][0-9]{0,9} ?(ms|s|min)$' THEN
            v_problem := 'out of range or malformed';
        END IF;
    WHEN 'parallel_workers' THEN
        v_parameter := 'max_parallel_workers_per_gather';
        v_accepted := 'a whole number from 0 to 1024, without leading zeros';
        IF p_value !~ '^(0|[1-9][0-9]{0,3})$' THEN
            v_problem := 'out of range or malformed';
        END IF;
    WHEN 'run_retention', 'stale_after', 'reconcile_every' THEN
        -- run_retention: at least a day, so that a cycle never deletes the
        -- run history it was just asked about. stale_after: at least a
        -- minute (pg_cron's finest schedule). At most 100 years, so that
        -- now() - value (runs.start, trending.status) stays far inside the
        -- timestamp range. reconcile_every: from an hour (the cycles' own
        -- pace: every cycle then checks the whole state) to 7 days (each
        -- cycle checks a share of the state, so that the whole of it is
        -- checked within this; longer would leave drift unrepaired for
        -- longer than a week of cycles: issue 18).
        v_minimum := CASE p_name WHEN 'run_retention' THEN interval '1 day' WHEN 'reconcile_every' THEN interval '1 hour'
                                 ELSE interval '1 minute' END;
        v_maximum := CASE p_name WHEN 'reconcile_every' THEN interval '7 days' ELSE interval '100 years' END;
        v_accepted := pg_catalog.format('an interval from %s to %s in minutes, hours, days, weeks, months or years, e.g. %L',
                          CASE p_name WHEN 'run_retention' THEN '1 day' WHEN 'reconcile_every' THEN '1 hour' ELSE '1 minute' END,
                          CASE p_name WHEN 'reconcile_every' THEN '7 days' ELSE '100 years' END,
                          CASE p_name WHEN 'run_retention' THEN '30 days' WHEN 'reconcile_every' THEN '1 day' ELSE '2 hours' END);
        IF p_value !~ '^[0-9]{1,9} ?(mins?|minutes?|hours?|days?|weeks?|mons?|months?|years?)$' THEN
            v_problem := 'malformed';
        ELSE
            BEGIN
                v_interval := p_value::interval;
                PERFORM pg_catalog.now() - v_interval;
            EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
                v_problem := 'out of range';
            END;
            IF v_problem IS NULL
               AND (v_interval < v_minimum OR v_interval > v_maximum) THEN
                v_problem := 'out of range';
            END IF;
        END IF;
    WHEN 'lease_idle_timeout' THEN
        -- at least a second, at most a day: a working cycle runs its steps
        -- back to back (and holds the lease's lock during each), so only a
        -- run that stopped working loses the lease
        v_accepted := 'an interval from 1 second to 1 day in seconds, minutes, hours or days, e.g. ''10 minutes''';
        IF p_value !~ '^[0-9]{1,9} ?(s|secs?|seconds?|mins?|minutes?|hours?|days?)$' THEN
            v_problem := 'malformed';
        ELSE
            v_interval := p_value::interval;
            IF v_interval < interval '1 second' OR v_interval > interval '1 day' THEN
                v_problem := 'out of range';
            END IF;
        END IF;
    WHEN 'capture_max_pause' THEN
        -- a day covers an overnight pause of an hourly schedule; 30 days
        -- bounds the backlog (after a long pause the next cycle weighs
        -- finding what changed against a full cycle: incremental.decide)
        v_accepted := 'an interval from 1 minute to 30 days in minutes, hours or days, e.g. ''1 day''';
        IF p_value !~ '^[0-9]{1,6} ?(mins?|minutes?|hours?|days?)$' THEN
            v_problem := 'malformed';
        ELSIF p_value::interval < interval '1 minute' OR p_value::interval > interval '30 days' THEN
            v_problem := 'out of range';
        END IF;
    WHEN 'movers_top_n', 'movers_max_genres' THEN
        -- movers_top_n: at least 1; both at most 1000, so that the movers
        -- table stays small (2 x lists x N rows) and its WAL a cycle's noise
        v_accepted := CASE p_name WHEN 'movers_top_n' THEN 'a whole number from 1 to 1000, without leading zeros, e.g. ''100'''
                                  ELSE 'a whole number from 0 to 1000, without leading zeros, e.g. ''50''' END;
        IF p_value !~ '^(0|[1-9][0-9]{0,2}|1000)$' OR (p_name = 'movers_top_n' AND p_value = '0') THEN
            v_problem := 'out of range or malformed';
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown setting %', pg_catalog.quote_nullable(p_name)
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The settings are listed in trending.settings.';
    END CASE;

    IF p_value IS NULL THEN
        v_problem := 'NULL';
    ELSIF v_problem IS NULL AND v_parameter IS NOT NULL THEN
        -- Apply it as a cycle will; the sentinel error rolls the setting back.
        BEGIN
            PERFORM pg_catalog.set_config(v_parameter, p_value, true);
            RAISE EXCEPTION USING ERRCODE = 'TRVOK', MESSAGE = 'accepted';
        EXCEPTION
            WHEN SQLSTATE 'TRVOK' THEN
                NULL;
            WHEN invalid_parameter_value THEN
                v_problem := SQLERRM;
        END;
    END IF;

    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid % %: %', p_name, pg_catalog.quote_nullable(p_value), v_accepted
              USING ERRCODE = 'invalid_parameter_value',
                    DETAIL = v_problem,
                    HINT = pg_catalog.format('Set it with UPDATE trending.settings SET value = ... WHERE name = %L;'
                                             ' DELETE restores the default.', p_name);
    END IF;
END;
$function$;

-- source: sql/functions/_wal_compress.sql
-------------------------------------------------------------------------------
-- _wal_compress
-- Compress the full-page images of the rest of the caller's transaction's
-- WAL (wal_compression), and return the value it replaced; called with that
-- value, put it back. Why: the rows an hourly cycle changes are spread over
-- the score tables and their indexes, so its WAL is mostly one full-page
-- image per page it touches first after a checkpoint (docs/benchmark.md,
-- "What bounds WAL"); lz4 makes those images about 2.9x smaller (the
-- cycle's WAL about 2.5x) for little CPU.
-- Only a superuser may set wal_compression: the score writers are SECURITY
-- DEFINER, owned by the extension's owner, and under an owner that is not
-- a superuser nothing changes. A server already set to compress keeps its
-- own choice; pglz where the server was built without lz4.
CREATE FUNCTION trending._wal_compress(p_restore text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_current text := pg_catalog.current_setting('wal_compression');
BEGIN
    IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), false) THEN
        RETURN v_current;
    END IF;
    IF p_restore IS NOT NULL THEN
        PERFORM pg_catalog.set_config('wal_compression', p_restore, true);
    ELSIF v_current = 'off' THEN
        PERFORM pg_catalog.set_config('wal_compression',
            CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_settings s
                              WHERE s.name = 'wal_compression' AND 'lz4' = ANY (s.enumvals))
                 THEN 'lz4' ELSE 'pglz' END, true);
    END IF;
    RETURN v_current;
END;
$function$;

-- source: sql/functions/_write_setting.sql
-------------------------------------------------------------------------------
-- _write_setting
-- INSTEAD OF trigger on the view trending.settings. UPDATE ... SET value
-- stores an override (or removes it when the value is the default or NULL);
-- DELETE restores the default; INSERT is refused (the settings are fixed).
-- SECURITY DEFINER so that UPDATE on the view is the only privilege a DBA
-- needs to grant.
CREATE FUNCTION trending._write_setting()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'unknown setting %', quote_literal(NEW.name)
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The settings are listed in trending.settings; change one with UPDATE.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM trending._setting_overrides o WHERE o.name = OLD.name;
        RETURN OLD;
    END IF;

    IF NEW.name IS DISTINCT FROM OLD.name
       OR NEW.default_value IS DISTINCT FROM OLD.default_value
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        RAISE EXCEPTION 'only the value of a setting can be changed'
              USING ERRCODE = 'feature_not_supported';
    END IF;

    IF NEW.value IS NULL OR NEW.value = OLD.default_value THEN
        DELETE FROM trending._setting_overrides o WHERE o.name = OLD.name;
        NEW.value := OLD.default_value;
    ELSE
        PERFORM trending._validate_setting(OLD.name, NEW.value);
        INSERT INTO trending._setting_overrides AS o (name, value) VALUES (OLD.name, NEW.value)
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now();
    END IF;
    NEW.is_default := NEW.value = OLD.default_value;
    RETURN NEW;
END;
$function$;

-- source: sql/functions/_write_strategy.sql
-------------------------------------------------------------------------------
-- _write_strategy
-- INSTEAD OF trigger on the view trending.strategies: a plain
--   UPDATE trending.strategies SET enabled = false WHERE type = 'PLAYLISTS';
-- switches a strategy; the next cycle adds or removes its rows. Only the
-- user's deviation from the default is stored (and dumped), so CREATE
-- EXTENSION during a restore never collides with it. NULL restores the default.
CREATE FUNCTION trending._write_strategy()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'strategies are registered by the extension and cannot be added or removed'
              USING ERRCODE = 'feature_not_supported',
                    HINT = 'Switch one on or off: UPDATE trending.strategies SET enabled = false WHERE type = ... AND version = ...;';
    END IF;
    IF NEW.type IS DISTINCT FROM OLD.type OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.time_ranges IS DISTINCT FROM OLD.time_ranges
       OR NEW.enabled_by_default IS DISTINCT FROM OLD.enabled_by_default
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        RAISE EXCEPTION 'only "enabled" of a strategy can be changed'
              USING ERRCODE = 'feature_not_supported';
    END IF;

    IF NEW.enabled IS NULL OR NEW.enabled = OLD.enabled_by_default THEN
        DELETE FROM trending._strategy_overrides o WHERE o.type = OLD.type AND o.version = OLD.version;
        NEW.enabled := OLD.enabled_by_default;
    ELSE
        INSERT INTO trending._strategy_overrides AS o (type, version, enabled)
        VALUES (OLD.type, OLD.version, NEW.enabled)
        ON CONFLICT (type, version) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now();
    END IF;
    RETURN NEW;
END;
$function$;

-- source: sql/functions/compare_scores.sql
-------------------------------------------------------------------------------
-- compare_scores
-- The evidence before a switch-over: a legacy score table (the service's
-- own, or any relation with its columns) against trending's, per slice
-- (type, version, time_range): rows on one side only, scores differing
-- beyond a relative tolerance, genres differing, and how the top N of each
-- side overlap (the API's order: score DESC, id DESC).
--
-- Zero scores: trending stores none (they are never trending), the upstream
-- stored them until its latest version. A legacy zero-score row is therefore
-- counted apart (legacy_zero_rows) and left out of every other figure.
--
-- SECURITY INVOKER: the caller reads the legacy relation with its own
-- privileges (and runs whatever that relation runs: name a table you trust).
-- The relation is a parameter, so the query is dynamic; every name in it
-- is quoted or schema-qualified, and it is one set-based statement.
CREATE FUNCTION trending.compare_scores(
    legacy    regclass,
    kind      text             DEFAULT 'track',
    tolerance double precision DEFAULT 1e-9,
    top_n     integer          DEFAULT 100)
RETURNS TABLE (
    type              text,
    version           text,
    time_range        text,
    trending_enabled  boolean,
    legacy_rows       bigint,
    trending_rows     bigint,
    legacy_zero_rows  bigint,
    only_legacy       bigint,
    only_trending     bigint,
    score_differs     bigint,
    max_relative_diff double precision,
    genre_differs     bigint,
    top_compared      bigint,
    top_overlap       bigint,
    top_same_order    boolean)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_id       text;
    v_mine     regclass;
    v_genre    boolean;
    v_missing  text[];
BEGIN
    PERFORM trending._validate_choice('kind', compare_scores.kind, ARRAY['track', 'playlist']);
    IF compare_scores.legacy IS NULL THEN
        RAISE EXCEPTION 'legacy must name a relation'
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'For example trending.compare_scores(''public.track_trending_scores'').';
    END IF;
    IF compare_scores.tolerance IS NULL OR NOT (compare_scores.tolerance >= 0 AND compare_scores.tolerance < 1) THEN
        RAISE EXCEPTION 'invalid tolerance %: a relative difference in [0, 1)',
              COALESCE(compare_scores.tolerance::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF compare_scores.top_n IS NULL OR compare_scores.top_n < 1 THEN
        RAISE EXCEPTION 'invalid top_n %: at least 1', COALESCE(compare_scores.top_n::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF compare_scores.kind = 'track' THEN
        v_id := 'track_id';
        v_mine := 'trending.track_trending_scores'::regclass;
    ELSE
        v_id := 'playlist_id';
        v_mine := 'trending.playlist_trending_scores'::regclass;
    END IF;
    IF compare_scores.legacy = v_mine THEN
        RAISE EXCEPTION 'legacy is trending''s own score table %', v_mine
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Name the service''s old table, e.g. public.'
                           || pg_catalog.split_part(v_mine::text, '.', 2) || '.';
    END IF;

    SELECT pg_catalog.array_agg(w.col ORDER BY w.ord)
      INTO v_missing
      FROM pg_catalog.unnest(ARRAY[v_id, 'type', 'version', 'time_range', 'score']) WITH ORDINALITY AS w(col, ord)
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = compare_scores.legacy AND a.attname = w.col
                         AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'relation % lacks the column(s) % of a % score table', compare_scores.legacy,
              pg_catalog.array_to_string(v_missing, ', '), compare_scores.kind
              USING ERRCODE = 'undefined_column',
                    HINT = 'The legacy relation needs ' || v_id || ', type, version, time_range and score '
                           '(genre optional); for the other kind pass kind => '
                           || CASE WHEN compare_scores.kind = 'track' THEN '''playlist''' ELSE '''track''' END || '.';
    END IF;
    v_genre := compare_scores.kind = 'track' AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = compare_scores.legacy AND a.attname = 'genre' AND a.attnum > 0 AND NOT a.attisdropped);

    -- One statement: both sides normalized to (slice, id, score, genre), a
    -- FULL JOIN on the key for the row figures, and the top N of each side
    -- FULL JOINed on the id for the overlap.
    RETURN QUERY EXECUTE pg_catalog.format($q$
WITH legacy_all AS (
    SELECT x.%1$I::pg_catalog.int8 AS id, x.type::pg_catalog.text AS type, x.version::pg_catalog.text AS version,
           x.time_range::pg_catalog.text AS time_range, x.score::pg_catalog.float8 AS score,
           %3$s AS genre
    FROM %2$s x),
legacy AS (
    SELECT * FROM legacy_all l WHERE l.score IS DISTINCT FROM 0::pg_catalog.float8),
mine AS (
    SELECT s.%1$I::pg_catalog.int8 AS id, s.type::pg_catalog.text AS type, s.version::pg_catalog.text AS version,
           s.time_range::pg_catalog.text AS time_range, s.score AS score, %4$s AS genre
    FROM %5$s s),
joined AS (
    SELECT COALESCE(l.type, m.type) AS type, COALESCE(l.version, m.version) AS version,
           COALESCE(l.time_range, m.time_range) AS time_range,
           l.id AS l_id, m.id AS m_id, l.score AS l_score, m.score AS m_score, l.genre AS l_genre, m.genre AS m_genre,
           pg_catalog.abs(l.score - m.score)
               / NULLIF(GREATEST(pg_catalog.abs(l.score), pg_catalog.abs(m.score)), 0::pg_catalog.float8) AS rel
    FROM legacy l
    FULL JOIN mine m ON m.id = l.id AND m.type = l.type AND m.version = l.version AND m.time_range = l.time_range),
per_slice AS (
    SELECT j.type, j.version, j.time_range,
           pg_catalog.count(j.l_id) AS legacy_rows,
           pg_catalog.count(j.m_id) AS trending_rows,
           pg_catalog.count(*) FILTER (WHERE j.m_id IS NULL) AS only_legacy,
           pg_catalog.count(*) FILTER (WHERE j.l_id IS NULL) AS only_trending,
           pg_catalog.count(*) FILTER (WHERE j.l_id IS NOT NULL AND j.m_id IS NOT NULL
                                         AND j.l_score IS DISTINCT FROM j.m_score
                                         AND NOT COALESCE(j.rel <= $1, false)) AS score_differs,
           pg_catalog.max(COALESCE(j.rel, 0::pg_catalog.float8))
               FILTER (WHERE j.l_id IS NOT NULL AND j.m_id IS NOT NULL) AS max_relative_diff,
           CASE WHEN %6$s THEN pg_catalog.count(*) FILTER (WHERE j.l_id IS NOT NULL AND j.m_id IS NOT NULL
                                                        AND j.l_genre IS DISTINCT FROM j.m_genre) END AS genre_differs
    FROM joined j
    GROUP BY j.type, j.version, j.time_range),
zeros AS (
    SELECT z.type, z.version, z.time_range, pg_catalog.count(*) AS legacy_zero_rows
    FROM legacy_all z WHERE z.score = 0::pg_catalog.float8
    GROUP BY z.type, z.version, z.time_range),
legacy_top AS (
    SELECT r.* FROM (SELECT l.type, l.version, l.time_range, l.id,
                            pg_catalog.row_number() OVER (PARTITION BY l.type, l.version, l.time_range
                                                          ORDER BY l.score DESC NULLS LAST, l.id DESC) AS rank
                     FROM legacy l) r
    WHERE r.rank <= $2),
mine_top AS (
    SELECT r.* FROM (SELECT m.type, m.version, m.time_range, m.id,
                            pg_catalog.row_number() OVER (PARTITION BY m.type, m.version, m.time_range
                                                          ORDER BY m.score DESC, m.id DESC) AS rank
                     FROM mine m) r
    WHERE r.rank <= $2),
tops AS (
    SELECT COALESCE(a.type, b.type) AS type, COALESCE(a.version, b.version) AS version,
           COALESCE(a.time_range, b.time_range) AS time_range,
           GREATEST(pg_catalog.count(a.id), pg_catalog.count(b.id)) AS top_compared,
           pg_catalog.count(*) FILTER (WHERE a.id IS NOT NULL AND b.id IS NOT NULL) AS top_overlap,
           pg_catalog.bool_and(a.rank IS NOT DISTINCT FROM b.rank) AS top_same_order
    FROM legacy_top a
    FULL JOIN mine_top b ON b.type = a.type AND b.version = a.version AND b.time_range = a.time_range AND b.id = a.id
    GROUP BY 1, 2, 3),
slices AS (
    SELECT r.type, r.version, r.time_range FROM per_slice r
    UNION
    SELECT z.type, z.version, z.time_range FROM zeros z)
SELECT s.type, s.version, s.time_range,
       COALESCE((SELECT st.enabled AND s.time_range = ANY (st.time_ranges)
                 FROM trending.strategies st
                 WHERE st.type = s.type AND st.version = s.version AND st.kind = %7$L), false),
       COALESCE(r.legacy_rows, 0), COALESCE(r.trending_rows, 0), COALESCE(z.legacy_zero_rows, 0),
       COALESCE(r.only_legacy, 0), COALESCE(r.only_trending, 0), COALESCE(r.score_differs, 0),
       r.max_relative_diff, CASE WHEN %6$s THEN COALESCE(r.genre_differs, 0) END,
       COALESCE(t.top_compared, 0), COALESCE(t.top_overlap, 0), COALESCE(t.top_same_order, true)
FROM slices s
LEFT JOIN per_slice r ON r.type = s.type AND r.version = s.version AND r.time_range = s.time_range
LEFT JOIN zeros z ON z.type = s.type AND z.version = s.version AND z.time_range = s.time_range
LEFT JOIN tops t ON t.type = s.type AND t.version = s.version AND t.time_range = s.time_range
ORDER BY s.type, s.version, s.time_range
$q$,
        v_id,                                                        -- %1$I the id column
        compare_scores.legacy,                                       -- %2$s the legacy relation
        CASE WHEN v_genre THEN 'x.genre::pg_catalog.text' ELSE 'NULL::pg_catalog.text' END,   -- %3$s
        CASE WHEN compare_scores.kind = 'track' THEN 's.genre::pg_catalog.text'
             ELSE 'NULL::pg_catalog.text' END,                       -- %4$s
        v_mine,                                                      -- %5$s trending's table
        v_genre::pg_catalog.text,                                    -- %6$s
        compare_scores.kind)                                         -- %7$L
    USING compare_scores.tolerance, compare_scores.top_n::pg_catalog.int8;
END;
$function$;

-- source: sql/functions/explain_playlist.sql
-------------------------------------------------------------------------------
-- explain_playlist
-- Explain one playlist's score of PLAYLISTS/pnagD for a time range (week, month, year) as one jsonb
-- document: every input (windowed counts, totals, karma and its biggest
-- contributors, age in days, owner followers), each term of the formula, the
-- decay and K, the computed score, the stored score with its created_at and
-- whether the two agree (relative 1e-12); for an item that is not eligible,
-- the rule (or bad-row counter) that excludes it. A NULL now is the now of
-- the stored scores (trending.status.scores_as_of), so that the two agree.
-- docs/operations.md describes the document.
--
-- A thin PL/pgSQL layer over _explain, presenting deliberate errors cleanly.
CREATE FUNCTION trending.explain_playlist(playlist_id integer, time_range text DEFAULT 'week', now timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_message text;
    v_sqlstate text;
    v_detail text;
    v_hint text;
BEGIN
    RETURN trending._explain('playlist', explain_playlist.playlist_id, explain_playlist.time_range, 'pnagD', explain_playlist.now);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;

-- source: sql/functions/explain_track.sql
-------------------------------------------------------------------------------
-- explain_track
-- Explain one track's score of TRACKS/<version> for a time range (week, month, allTime) as one jsonb
-- document: every input (windowed counts, totals, karma and its biggest
-- contributors, age in days, owner followers), each term of the formula, the
-- decay and K, the computed score, the stored score with its created_at and
-- whether the two agree (relative 1e-12); for an item that is not eligible,
-- the rule (or bad-row counter) that excludes it. A NULL now is the now of
-- the stored scores (trending.status.scores_as_of), so that the two agree.
-- docs/operations.md describes the document.
--
-- A thin PL/pgSQL layer over _explain, presenting deliberate errors cleanly.
CREATE FUNCTION trending.explain_track(track_id integer, time_range text DEFAULT 'week', version text DEFAULT 'pnagD', now timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_message text;
    v_sqlstate text;
    v_detail text;
    v_hint text;
BEGIN
    RETURN trending._explain('track', explain_track.track_id, explain_track.time_range, explain_track.version, explain_track.now);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;

-- source: sql/functions/grant_configure.sql
-------------------------------------------------------------------------------
-- grant_configure
-- Let role_name change trending.settings and switch trending.strategies (UPDATE, DELETE on the views).
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.grant_configure(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('configure', grant_configure.role_name, true);
$function$;

-- source: sql/functions/grant_cycle.sql
-------------------------------------------------------------------------------
-- grant_cycle
-- Let role_name run cycles (trending.recompute() and CALL trending.scheduled_recompute()) and nothing more: see trending._privileges and docs/security.md. Call again after changing source_schema.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.grant_cycle(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('cycle', grant_cycle.role_name, true);
$function$;

-- source: sql/functions/grant_read.sql
-------------------------------------------------------------------------------
-- grant_read
-- Let role_name read the scores: the score tables, status, metrics and the read functions.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.grant_read(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('read', grant_read.role_name, true);
$function$;

-- source: sql/functions/install_capture.sql
-------------------------------------------------------------------------------
-- install_capture
-- Put the change-capture triggers on the source tables of the source_schema
-- setting (superuser only; docs/incremental.md). Takes a SHARE ROW
-- EXCLUSIVE lock on each table in turn (writers wait, readers do not; at
-- most the lock_timeout setting), and says so. Idempotent: intact triggers
-- are kept; missing, disabled or altered ones are replaced; capture
-- triggers left on other relations (a renamed table, an old schema) are
-- removed. Grants nothing: the triggers run as the role trending_capture
-- (SECURITY DEFINER; sql/grants.sql), so any writer, however it got its
-- privilege, writes as before. Returns what it did as jsonb. The next
-- cycle runs full and arms the capture.
CREATE FUNCTION trending.install_capture()
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import capture
return capture.install(plpy)
$python$;

-- source: sql/functions/movers.sql
-------------------------------------------------------------------------------
-- movers
-- Who moved in one list between the previous successful cycle and the last
-- one (trending.movers_top, recorded by _record_top): the entries into the
-- top N (movement 'entry', no previous rank), the exits from it ('exit', no
-- rank) and the climbs ('climb': in both, ranked higher now; climb =
-- previous_rank - rank), with both ranks and scores and the two cycles' now.
-- Entries first by rank, then climbs biggest first, then exits by their
-- previous rank. A list recorded in only one generation (the first cycle, a
-- genre entering the movers_max_genres cap) has no movers yet.
--
-- Lists: kind 'track' is TRACKS/pnagD, overall (genre NULL or '') or for a
-- genre; kind 'playlist' is PLAYLISTS/pnagD (no genre). SECURITY INVOKER: it
-- reads movers_top, which PUBLIC may read like the score tables.
CREATE FUNCTION trending.movers(
    time_range text DEFAULT 'week',
    genre      text DEFAULT NULL,
    kind       text DEFAULT 'track')
RETURNS TABLE(movement text, id integer, previous_rank integer, rank integer, climb integer,
              previous_score double precision, score double precision,
              since timestamptz, as_of timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_genre text := COALESCE(movers.genre, '');
BEGIN
    PERFORM trending._validate_choice('kind', movers.kind, ARRAY['track', 'playlist']);
    PERFORM trending._validate_choice('time_range', movers.time_range,
        (SELECT d.time_ranges FROM trending._strategy_defaults d
         WHERE d.type = CASE movers.kind WHEN 'track' THEN 'TRACKS' ELSE 'PLAYLISTS' END AND d.version = 'pnagD'));
    IF movers.kind = 'playlist' AND v_genre <> '' THEN
        RAISE EXCEPTION 'trending: playlists have no genre lists'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Call trending.movers(time_range, NULL, ''playlist'').';
    END IF;

    RETURN QUERY
    WITH list AS (
        SELECT m.run_id, m.as_of, m.rank, m.id, m.score
        FROM trending.movers_top m
        WHERE m.kind = movers.kind AND m.time_range = movers.time_range AND m.genre = v_genre
    ), generations AS (  -- the table holds two at most; a list in only one has no movers
        SELECT pg_catalog.min(l.run_id) AS previous, pg_catalog.max(l.run_id) AS last
        FROM list l
        HAVING pg_catalog.min(l.run_id) < pg_catalog.max(l.run_id)
    ), before AS (
        SELECT l.* FROM list l JOIN generations g ON l.run_id = g.previous
    ), after AS (
        SELECT l.* FROM list l JOIN generations g ON l.run_id = g.last
    ), moved AS (
        SELECT CASE WHEN b.id IS NULL THEN 'entry' WHEN a.id IS NULL THEN 'exit' ELSE 'climb' END AS movement,
               COALESCE(a.id, b.id) AS id, b.rank AS previous_rank, a.rank AS rank, b.rank - a.rank AS climb,
               b.score AS previous_score, a.score AS score
        FROM after a
        FULL JOIN before b ON b.id = a.id
        WHERE b.id IS NULL OR a.id IS NULL OR a.rank < b.rank
    )
    SELECT mv.movement, mv.id, mv.previous_rank, mv.rank, mv.climb, mv.previous_score, mv.score,
           (SELECT pg_catalog.min(b.as_of) FROM before b), (SELECT pg_catalog.min(a.as_of) FROM after a)
    FROM moved mv
    ORDER BY CASE mv.movement WHEN 'entry' THEN 1 WHEN 'climb' THEN 2 ELSE 3 END,
             mv.climb DESC NULLS LAST, mv.rank, mv.previous_rank, mv.id;
END;
$function$;

-- source: sql/functions/pause.sql
-------------------------------------------------------------------------------
-- pause
-- Pause this database's pg_cron job 'trending-recompute' (whichever role it
-- runs as; pg_cron lets only its owner or a superuser change it): its
-- schedule and run history stay; trending.resume() makes it run again.
-- Returns true if there was a job, false if nothing was scheduled. A run in
-- progress is not stopped (cancel it with pg_cancel_backend(running_pid)
-- from trending.status). While paused, the change capture records for
-- capture_max_pause at most; the first cycle after that runs full.
-- pg_cron must live in this database; from the service's own database,
-- where it usually does not, the error's hint names the CLI command
-- (`trending pause --dsn ...`), which reaches pg_cron's database.
CREATE FUNCTION trending.pause()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_jobs bigint[];
    v_job_id bigint;
BEGIN
    PERFORM trending._require_local_pg_cron('pause');
    EXECUTE 'SELECT pg_catalog.array_agg(j.jobid ORDER BY j.jobid) FROM cron.job j
             WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()'
       INTO v_jobs USING 'trending-recompute';
    FOREACH v_job_id IN ARRAY COALESCE(v_jobs, '{}') LOOP
        EXECUTE 'SELECT cron.alter_job(job_id => $1, active => false)' USING v_job_id;
    END LOOP;
    RETURN v_jobs IS NOT NULL;
END;
$function$;

-- source: sql/functions/preview.sql
-------------------------------------------------------------------------------
-- preview
-- A dry run: the rows a cycle at `now` would insert, update and delete, per
-- slice (kind, type, version, time_range) and id, with the old and new score,
-- the old and new rank (score DESC, id DESC within the slice, as the API
-- orders) and, for tracks, the old and new genre. Nothing is written, no run
-- is recorded and no lock is taken that a cycle or a reader waits on: it reads
-- the sources and the score tables under ACCESS SHARE, as a cycle does.
--
-- A thin PL/pgSQL layer over _preview (as recompute over _recompute): it
-- returns the staged result, drops it, and presents deliberate errors
-- cleanly. On error the block's subtransaction takes the temp tables with it.
CREATE FUNCTION trending.preview(now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (kind text, type text, version text, time_range text, id integer, action text,
               old_score double precision, new_score double precision, old_rank bigint, new_rank bigint,
               old_genre text, new_genre text)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_message text;
    v_sqlstate text;
    v_detail text;
    v_hint text;
BEGIN
    PERFORM trending._preview(preview.now);
    RETURN QUERY
        SELECT p.kind, p.type, p.version, p.time_range, p.id, p.action, p.old_score, p.new_score,
               p.old_rank, p.new_rank, p.old_genre, p.new_genre
        FROM pg_temp.trending_preview p
        ORDER BY p.kind DESC, p.type, p.version, p.time_range, COALESCE(p.new_rank, p.old_rank), p.id;
    DROP TABLE pg_temp.trending_preview;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;

-- source: sql/functions/recompute.sql
-------------------------------------------------------------------------------
-- recompute
-- One cycle of every enabled strategy, in the caller's transaction: stage the
-- shared inputs, score every slice as a set, write only the rows that
-- changed; return the summary. On any error it raises and nothing changes.
--
-- The cycle is incremental when the change capture and the state allow it
-- (docs/incremental.md); full => true asks for a full one.
--
-- A thin PL/pgSQL layer over _recompute: PL/Python prefixes the errors it
-- raises on purpose with "plpy.Error: "; re-raised from here they read as
-- plain messages with their SQLSTATE, DETAIL and HINT. Every other error
-- passes through untouched.
CREATE FUNCTION trending.recompute(now timestamptz DEFAULT pg_catalog.now(), full boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_message text;
    v_sqlstate text;
    v_detail text;
    v_hint text;
BEGIN
    RETURN trending._recompute(recompute.now, recompute.full);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;

-- source: sql/functions/resume.sql
-------------------------------------------------------------------------------
-- resume
-- Make this database's pg_cron job 'trending-recompute' run again after
-- trending.pause() (whichever role it runs as; pg_cron lets only its owner
-- or a superuser change it). Returns true; raises when there is no job.
-- The first cycle after a pause longer than capture_max_pause runs full.
-- pg_cron must live in this database; from the service's own database,
-- where it usually does not, the error's hint names the CLI command
-- (`trending resume --dsn ...`), which reaches pg_cron's database.
CREATE FUNCTION trending.resume()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_jobs bigint[];
    v_job_id bigint;
BEGIN
    PERFORM trending._require_local_pg_cron('resume');
    EXECUTE 'SELECT pg_catalog.array_agg(j.jobid ORDER BY j.jobid) FROM cron.job j
             WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()'
       INTO v_jobs USING 'trending-recompute';
    IF v_jobs IS NULL THEN
        RAISE EXCEPTION 'no pg_cron job trending-recompute runs trending in database %', pg_catalog.current_database()
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Schedule it: SELECT trending.schedule();';
    END IF;
    FOREACH v_job_id IN ARRAY v_jobs LOOP
        EXECUTE 'SELECT cron.alter_job(job_id => $1, active => true)' USING v_job_id;
    END LOOP;
    RETURN true;
END;
$function$;

-- source: sql/functions/revoke_configure.sql
-------------------------------------------------------------------------------
-- revoke_configure
-- Take back UPDATE and DELETE on trending.settings and trending.strategies.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.revoke_configure(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('configure', revoke_configure.role_name, false);
$function$;

-- source: sql/functions/revoke_cycle.sql
-------------------------------------------------------------------------------
-- revoke_cycle
-- Take back what grant_cycle gave (not USAGE on schema trending nor SELECT on its score tables, settings and strategies, which other sets share).
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.revoke_cycle(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('cycle', revoke_cycle.role_name, false);
$function$;

-- source: sql/functions/revoke_read.sql
-------------------------------------------------------------------------------
-- revoke_read
-- Take back what grant_read gave on status, metrics and the read functions.
-- Idempotent; raises 42704 for a role that does not exist.
CREATE FUNCTION trending.revoke_read(role_name name)
RETURNS void
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT trending._privileges('read', revoke_read.role_name, false);
$function$;

-- source: sql/functions/schedule.sql
-------------------------------------------------------------------------------
-- schedule
-- Run trending.scheduled_recompute() on a cron schedule with pg_cron, as the
-- job 'trending-recompute' (scheduling again replaces the schedule: one job,
-- whatever the number of calls). Returns the job id. If this database's job
-- already runs as another role (`trending install --schedule` makes it run
-- as trending_job), it is re-timed in place and keeps its role (pg_cron
-- lets only its owner or a superuser do that).
--
-- pg_cron 1.4 knows minutes, not seconds, and runs schedules in GMT; a
-- malformed schedule is refused here with the accepted forms. For pg_cron
-- in another database, see _require_local_pg_cron's hint (the CLI).
CREATE FUNCTION trending.schedule(cron text DEFAULT '0 * * * *')
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_field  text := '(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*';
    v_job_id bigint;
BEGIN
    IF cron IS NULL OR NOT (
           btrim(cron) ~ ('^' || v_field || '(\s+' || v_field || '){4}$')
           OR btrim(cron) IN ('@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@annually')) THEN
        RAISE EXCEPTION 'invalid schedule %: pg_cron 1.4 takes five cron fields (minute hour day month weekday, in GMT)',
                        COALESCE(quote_literal(cron), 'NULL')
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'For example ''0 * * * *'' (hourly, the default), ''*/15 * * * *'' or ''@hourly''. '
                           'Intervals in seconds need pg_cron 1.5 or later.';
    END IF;
    PERFORM trending._require_local_pg_cron('schedule');
    EXECUTE 'SELECT j.jobid FROM cron.job j WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()
             AND j.username <> CURRENT_USER ORDER BY j.jobid LIMIT 1'
       INTO v_job_id USING 'trending-recompute';
    IF v_job_id IS NOT NULL THEN
        EXECUTE 'SELECT cron.alter_job(job_id => $1, schedule => $2)' USING v_job_id, btrim(cron);
        RETURN v_job_id;
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
       INTO v_job_id
      USING 'trending-recompute', btrim(cron), 'CALL trending.scheduled_recompute()';
    RETURN v_job_id;
END;
$function$;

-- source: sql/functions/scheduled_recompute.sql
-------------------------------------------------------------------------------
-- scheduled_recompute
-- The cycle pg_cron runs: CALL trending.scheduled_recompute();
--
-- Same steps as trending.recompute(), but it COMMITs after each one: the
-- 'running' run row first, then each step (staging the inputs, each slice;
-- the last slice with record_movers and write_state, which move the
-- incremental state with the last scores), so no snapshot or lock is held
-- for a whole cycle and a reader sees each slice switch atomically when its
-- step commits. A failed step is recorded
-- in trending.runs (SQLSTATE, message) and committed, then re-raised so the
-- cron job is marked failed; the slices already committed keep their new
-- scores, the others their previous ones. On a hot standby it returns
-- quietly, so one schedule survives a failover. Another cycle running: it
-- returns at once (a 'skipped' run and a NOTICE); the cycle lease's lock
-- blocked by anything but a cycle: a 'failed' run, committed, then 55P03.
--
-- A procedure that commits may not have a SET clause nor be SECURITY
-- DEFINER, and must be called at top level (not inside BEGIN): it therefore
-- schema-qualifies every name, type and operator (a variable declared as
-- plain `jsonb` would be resolved on the caller's search_path, where a
-- look-alike type with an assignment cast could run code) and does its work
-- in functions that pin their search_path.
CREATE PROCEDURE trending.scheduled_recompute(now timestamptz DEFAULT NULL, full boolean DEFAULT false)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_run_id pg_catalog.int8;
    v_step   pg_catalog.int4 := 0;
    v_result pg_catalog.jsonb;
    v_message pg_catalog.text;
    v_sqlstate pg_catalog.text;
    v_detail pg_catalog.text;
    v_hint pg_catalog.text;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RETURN;
    END IF;
    -- Inside BEGIN ... or a function this fails at once (2D000), before a
    -- session lock is taken that would outlive the aborted call.
    COMMIT;
    -- A refusal before the run starts (a bad now or setting) reads as the
    -- plain message, as from trending.recompute(). The handler's block ends before
    -- the next COMMIT (a COMMIT inside it would be refused).
    BEGIN
        v_run_id := trending._scheduled_start(COALESCE(scheduled_recompute.now, pg_catalog.now()),
                                              COALESCE(scheduled_recompute.full, false));
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        IF pg_catalog.starts_with(v_message, 'plpy.Error: ') IS NOT TRUE THEN
            RAISE;
        END IF;
        PERFORM trending._raise(pg_catalog.substr(v_message, 13), v_sqlstate, v_detail, v_hint);
    END;
    IF v_run_id IS NULL THEN
        RETURN;
    END IF;
    IF v_run_id OPERATOR(pg_catalog.<) 0 THEN
        COMMIT;  -- the 'failed' row, then fail the job too
        PERFORM trending._raise(
            pg_catalog.format('trending: run %s failed: the cycle lease''s lock is blocked by a backend that is not a cycle',
                              OPERATOR(pg_catalog.-) v_run_id),
            '55P03', NULL, 'trending.status.unhealthy_reason names the backend and its role.');
    END IF;
    COMMIT;
    LOOP
        v_result := trending._scheduled_step(v_run_id, v_step);
        COMMIT;
        EXIT WHEN v_result OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.<>) 'more';
        v_step := v_step OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF v_result OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.<>) 'failed' THEN
        RETURN;
    END IF;
    -- re-raise the recorded failure, now committed
    PERFORM trending._raise(v_result OPERATOR(pg_catalog.->>) 'message',
                            v_result OPERATOR(pg_catalog.->>) 'sqlstate',
                            v_result OPERATOR(pg_catalog.->>) 'detail',
                            v_result OPERATOR(pg_catalog.->>) 'hint');
END;
$procedure$;

-- source: sql/functions/top_playlists.sql
-------------------------------------------------------------------------------
-- top_playlists
-- Trending playlists of one range (PLAYLISTS/pnagD), by score then id, as a
-- top-N scan of the ranking index. rank is the absolute position.
CREATE FUNCTION trending.top_playlists(
    time_range text    DEFAULT 'week',
    lim        integer DEFAULT 30,
    off        integer DEFAULT 0)
RETURNS SETOF trending.ranked_playlist
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
BEGIN
    PERFORM trending._validate_choice('time_range', top_playlists.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'PLAYLISTS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(top_playlists.lim, top_playlists.off);

    RETURN QUERY
    SELECT row_number() OVER (ORDER BY s.score DESC, s.playlist_id DESC), s.playlist_id, s.score
    FROM trending.playlist_trending_scores s
    WHERE s.type = 'PLAYLISTS' AND s.version = 'pnagD' AND s.time_range = top_playlists.time_range
    ORDER BY s.score DESC, s.playlist_id DESC
    LIMIT top_playlists.lim OFFSET top_playlists.off;
END;
$function$;

-- source: sql/functions/top_tracks.sql
-------------------------------------------------------------------------------
-- top_tracks
-- The API's hot read: trending tracks of one range, overall or for a genre,
-- as a top-N scan of a ranking index (no Sort). rank is the absolute
-- position, so page 2 starts at off + 1.
--
-- plan_cache_mode: a generic plan cannot see the limit and may prefer a
-- sort of the whole slice; a custom plan is cheap here and always right.
CREATE FUNCTION trending.top_tracks(
    time_range text    DEFAULT 'week',
    genre      text    DEFAULT NULL,
    lim        integer DEFAULT 100,
    off        integer DEFAULT 0,
    version    text    DEFAULT 'pnagD')
RETURNS SETOF trending.ranked_track
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
BEGIN
    PERFORM trending._validate_choice('time_range', top_tracks.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_choice('version', top_tracks.version,
        ARRAY(SELECT d.version FROM trending.strategies d
              WHERE d.type = 'TRACKS' ORDER BY d.version DESC));
    PERFORM trending._validate_page(top_tracks.lim, top_tracks.off);

    IF COALESCE(top_tracks.genre, '') = '' THEN
        RETURN QUERY
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = top_tracks.version AND s.time_range = top_tracks.time_range
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT top_tracks.lim OFFSET top_tracks.off;
    ELSE
        RETURN QUERY
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = top_tracks.version AND s.time_range = top_tracks.time_range
          AND s.genre = top_tracks.genre
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT top_tracks.lim OFFSET top_tracks.off;
    END IF;
END;
$function$;

-- source: sql/functions/underground_tracks.sql
-------------------------------------------------------------------------------
-- underground_tracks
-- "Underground" trending (docs/reference.md): the TRACKS/pnagD list of a range/genre
-- without its overall top 20, keeping tracks whose owner has an
-- aggregate_user row with fewer than 1500 followers and 1500 followings.
--
-- First find the 20th entry (a top-20 index scan), then read on from just
-- after it: one query level with the LIMIT in sight, so the planner walks the
-- ranking index in order and stops, whatever the owner filter's selectivity.
-- The owners live in the source schema (a setting), hence dynamic SQL; that
-- schema's tables are checked first, as a cycle checks them (_check_sources).
CREATE FUNCTION trending.underground_tracks(
    time_range text    DEFAULT 'week',
    genre      text    DEFAULT NULL,
    lim        integer DEFAULT 100,
    off        integer DEFAULT 0)
RETURNS SETOF trending.ranked_track
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
DECLARE
    v_source    text;
    v_genre     text := NULLIF(underground_tracks.genre, '');
    v_cut_score double precision;
    v_cut_id    integer;
    v_problems  text;
    v_sqlstate  text;
BEGIN
    PERFORM trending._validate_choice('time_range', underground_tracks.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(underground_tracks.lim, underground_tracks.off);

    SELECT s.score, s.track_id INTO v_cut_score, v_cut_id
    FROM trending.track_trending_scores s
    WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = underground_tracks.time_range
      AND (v_genre IS NULL OR s.genre = v_genre)
    ORDER BY s.score DESC, s.track_id DESC
    OFFSET 19 LIMIT 1;
    IF NOT FOUND THEN
        RETURN;  -- 20 tracks or fewer: nothing below the top 20
    END IF;

    SELECT s.value INTO v_source FROM trending.settings s WHERE s.name = 'source_schema';
    -- The two source tables belong to another role and this runs as the
    -- caller: lock and check them as a cycle does (docs/security.md). The
    -- columns are those the query below reads, with sources.py's types.
    SELECT pg_catalog.string_agg(c.problem, '; '),
           (pg_catalog.array_agg(c.sqlstate ORDER BY c.severity))[1]
      INTO v_problems, v_sqlstate
      FROM trending._check_sources(v_source, $spec$[
          {"table": "tracks", "column": "track_id", "types": ["int2", "int4", "int8"]},
          {"table": "tracks", "column": "owner_id", "types": ["int2", "int4", "int8"]},
          {"table": "tracks", "column": "is_current", "types": ["bool"]},
          {"table": "aggregate_user", "column": "user_id", "types": ["int2", "int4", "int8"]},
          {"table": "aggregate_user", "column": "follower_count", "types": ["int2", "int4", "int8"]},
          {"table": "aggregate_user", "column": "following_count", "types": ["int2", "int4", "int8"]}
          ]$spec$::pg_catalog.jsonb) c;
    IF v_problems IS NOT NULL THEN
        PERFORM trending._raise(
            pg_catalog.format('trending: source schema "%s" cannot serve underground_tracks: %s',
                              v_source, v_problems),
            v_sqlstate, NULL,
            CASE WHEN v_sqlstate = '25000'
                 THEN 'Call underground_tracks() in a READ COMMITTED transaction (the default).'
                 ELSE 'Point trending.settings.source_schema at the service''s schema of plain tables, '
                      'or fix the objects named (docs/security.md).' END);
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = $1 %1$s
          AND (s.score, s.track_id) < ($5, $6)
          AND EXISTS (
              SELECT FROM %2$I.tracks t
              JOIN %2$I.aggregate_user au ON au.user_id = t.owner_id
              WHERE t.track_id = s.track_id AND t.is_current IS TRUE
                AND au.follower_count < 1500 AND au.following_count < 1500)
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT $3 OFFSET $4
        $query$, CASE WHEN v_genre IS NULL THEN '' ELSE 'AND s.genre = $2' END, v_source)
    USING underground_tracks.time_range, v_genre, underground_tracks.lim, underground_tracks.off,
          v_cut_score, v_cut_id;
END;
$function$;

-- source: sql/functions/uninstall_capture.sql
-------------------------------------------------------------------------------
-- uninstall_capture
-- Remove every change-capture trigger (wherever it is) and the capture's
-- state: the service's tables are left as they were before
-- install_capture() (superuser only; DROP
-- TRIGGER takes an ACCESS EXCLUSIVE lock on each table for a moment, and
-- says so). Idempotent. Returns what it did as jsonb.
CREATE FUNCTION trending.uninstall_capture()
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import capture
return capture.uninstall(plpy)
$python$;

-- source: sql/functions/unschedule.sql
-------------------------------------------------------------------------------
-- unschedule
-- Remove this database's job 'trending-recompute', whichever role it runs
-- as (`trending install --schedule` makes it trending_job; pg_cron lets only
-- its owner or a superuser remove it); true if there was one. (pg_cron 1.4's
-- cron.unschedule raises on a missing name, so look first.) A run in
-- progress is not stopped: cancel it with pg_cancel_backend(running_pid)
-- from trending.status. To stop the schedule but keep the job: trending.pause().
CREATE FUNCTION trending.unschedule()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_jobs bigint[];
    v_job_id bigint;
BEGIN
    PERFORM trending._require_local_pg_cron('unschedule');
    EXECUTE 'SELECT array_agg(j.jobid ORDER BY j.jobid) FROM cron.job j
             WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()'
       INTO v_jobs USING 'trending-recompute';
    FOREACH v_job_id IN ARRAY COALESCE(v_jobs, '{}') LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING v_job_id;
    END LOOP;
    RETURN v_jobs IS NOT NULL;
END;
$function$;

-- source: sql/triggers.sql
-- Make the settings and strategies views writable (see their trigger functions).
CREATE TRIGGER settings_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON trending.settings
    FOR EACH ROW EXECUTE FUNCTION trending._write_setting();

CREATE TRIGGER strategies_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON trending.strategies
    FOR EACH ROW EXECUTE FUNCTION trending._write_strategy();

-- Change capture (issue 9, sql/functions/_capture_guard_drop.sql): a bare
-- DROP EXTENSION trending while capture triggers are installed fails with a
-- hint naming trending.uninstall_capture().
CREATE EVENT TRIGGER trending_capture_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION trending._capture_guard_drop();

-- Change capture follows DDL (issue 16, sql/functions/_capture_follow_ddl.sql):
-- after any role's CREATE TABLE, ALTER TABLE or ALTER TYPE, the capture
-- triggers go on new partitions of a source table and off relations they
-- can no longer read. ENABLE ALWAYS: it fires in session_replication_role
-- replica too. (1.1 -> 1.2: sql/updates/1.1--1.2-finish.sql creates it.)
CREATE EVENT TRIGGER trending_capture_follow_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER TYPE')
    EXECUTE FUNCTION trending._capture_follow_ddl();
ALTER EVENT TRIGGER trending_capture_follow_ddl ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER trending_capture_follow_ddl IS 'Change capture: keeps the capture triggers on every partition of a source table and off relations they can no longer read (sql/functions/_capture_follow_ddl.sql).';

-- source: sql/grants.sql
-- Privileges, all explicit. PUBLIC may read the scores and the configuration
-- and call the read functions; nothing written in an untrusted language
-- (plpython3u) is granted to PUBLIC. Running a cycle and changing the
-- configuration are for superusers and the roles a DBA grants them to with
-- trending.grant_cycle(role), trending.grant_configure(role) (and
-- trending.grant_read(role) for readers when PUBLIC's grants are revoked):
-- see sql/functions/_privileges.sql and docs/security.md. No role but the
-- extension's owner may write trending.runs or the score tables: a cycle
-- writes them through the SECURITY DEFINER functions _run_* and _apply_slice,
-- which check that the run is the caller's own.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA trending FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA trending FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA trending FROM PUBLIC;

GRANT USAGE ON SCHEMA trending TO PUBLIC;
GRANT SELECT ON trending.track_trending_scores, trending.playlist_trending_scores,
                trending.settings, trending.strategies, trending.status TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    trending.top_tracks(text, text, integer, integer, text),
    trending.underground_tracks(text, text, integer, integer),
    trending.top_playlists(text, integer, integer),
    trending._validate_choice(text, text, text[]),
    trending._validate_page(integer, integer)
TO PUBLIC;

-- compare_scores: a read, SECURITY INVOKER (the caller needs SELECT on the legacy relation).
GRANT EXECUTE ON FUNCTION trending.compare_scores(regclass, text, double precision, integer) TO PUBLIC;

-- Monitoring: anyone who may read the status may scrape its figures.
GRANT SELECT ON trending.metrics TO PUBLIC;

-- _check_sources (issue 8): plpgsql, SECURITY INVOKER, reads the catalog and
-- takes ACCESS SHARE locks with the caller's own SELECT privilege; every
-- reader of the sources calls it (cycles, underground_tracks).
GRANT EXECUTE ON FUNCTION trending._check_sources(text, jsonb) TO PUBLIC;

-- Change capture (issue 9, docs/incremental.md). capture_status: like
-- status, anyone may see whether the capture works. The trigger functions,
-- install/uninstall and the watermark routines stay revoked from PUBLIC
-- (EXECUTE is checked when a trigger is created: no writer can put a
-- capture trigger on a table of its own to forge delta rows); cycles call
-- _capture_snapshot, _capture_arm and _capture_advance (SECURITY DEFINER,
-- cycle lease required).
GRANT SELECT ON trending.capture_status TO PUBLIC;

-- The cycle lease (issue 17, sql/schema/55_cycle_lease.sql): no privilege on
-- schema trending_private nor on its table for anyone, so no role but the
-- owner can name, lock or write it (explicit, whatever default privileges
-- a DBA set). trending.status reads who holds it through _cycle_holder
-- (SECURITY DEFINER, returns only pids, roles and times): its readers need
-- to call it.
REVOKE ALL ON SCHEMA trending_private FROM PUBLIC;
REVOKE ALL ON TABLE trending_private.cycle_lease FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trending._cycle_holder() TO PUBLIC;

-- Issue 16: the capture triggers run as trending_capture (SECURITY
-- DEFINER), so the service's writers need nothing in schema trending and
-- may write nothing there. A cluster-wide NOLOGIN NOINHERIT role with no
-- other attribute and no membership; created here when missing (CREATE
-- EXTENSION runs as a superuser), refused when it exists with more, since it
-- could then be used to forge delta rows. It owns the ten trigger functions
-- and may exactly: use schema trending, append to the delta tables, draw
-- their sequence, read the armed row. The delta tables, the sequence, the
-- state and the scores stay the extension owner's.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'trending_capture') THEN
        CREATE ROLE trending_capture NOLOGIN NOINHERIT;
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.rolname = 'trending_capture'
                    AND (r.rolsuper OR r.rolcanlogin OR r.rolinherit OR r.rolcreaterole OR r.rolcreatedb
                         OR r.rolreplication OR r.rolbypassrls))
       OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                  WHERE 'trending_capture'::pg_catalog.regrole IN (m.roleid, m.member)) THEN
        RAISE EXCEPTION 'trending: role trending_capture exists with attributes or memberships it must not have'
            USING ERRCODE = '42501',
                  DETAIL = 'The capture triggers run as trending_capture: any way to log in or act as it could forge captured changes.',
                  HINT = 'Make it NOLOGIN NOINHERIT with no other attribute and no role membership (or drop it), then retry.';
    END IF;
END;
$do$;
ALTER FUNCTION trending._capture_tracks() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_plays() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_saves() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_reposts() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_users() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_user() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_track() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_plays() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_aggregate_playlist() OWNER TO trending_capture;
ALTER FUNCTION trending._capture_playlists() OWNER TO trending_capture;
GRANT USAGE ON SCHEMA trending TO trending_capture;
GRANT INSERT ON trending._capture_changes, trending._capture_plays, trending._capture_truncates TO trending_capture;
GRANT USAGE ON SEQUENCE trending._capture_seq TO trending_capture;
GRANT SELECT ON trending._capture_armed TO trending_capture;

-- Insight (issue 11): preview() and explain_track()/explain_playlist() read
-- the source tables as the caller and run plpython3u: not for PUBLIC.
-- Superusers, and the roles given trending.grant_cycle() (they read what a
-- cycle reads), may call them.

-- Movers (issue 11): a read like the score tables. movers() is SECURITY
-- INVOKER and reads trending.movers_top, which PUBLIC may read; cycles write
-- the table only through _record_top (SECURITY DEFINER, own run checked),
-- given by trending.grant_cycle().
GRANT SELECT ON trending.movers_top TO PUBLIC;
GRANT EXECUTE ON FUNCTION trending.movers(text, text, text) TO PUBLIC;

-- source: sql/comments.sql
-- Every public object documents itself in \d+ and \df+.
COMMENT ON TABLE trending.track_trending_scores IS
    'Trending scores of tracks, one row per (track, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by the API and trending.top_tracks().';
COMMENT ON COLUMN trending.track_trending_scores.genre IS 'The track''s genre when its score was written (NULL when it has none).';
COMMENT ON COLUMN trending.track_trending_scores.score IS 'The slice''s score (docs/reference.md); never 0 (zero scores are not stored).';
COMMENT ON COLUMN trending.track_trending_scores.created_at IS 'The cycle''s now (UTC) when this row''s current score or genre was written; unchanged rows keep it.';
COMMENT ON TABLE trending.playlist_trending_scores IS
    'Trending scores of playlists, one row per (playlist, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by trending.top_playlists().';
COMMENT ON COLUMN trending.playlist_trending_scores.created_at IS 'The cycle''s now (UTC) when this row''s current score was written; unchanged rows keep it.';

COMMENT ON VIEW trending.settings IS
    'Settings of the extension: UPDATE trending.settings SET value = ... WHERE name = ...; (NULL or DELETE restores the default). Overrides survive pg_dump/pg_restore.';
COMMENT ON VIEW trending.strategies IS
    'Registered scoring strategies: UPDATE trending.strategies SET enabled = ... WHERE type = ... AND version = ...; the next cycle writes or removes their rows. Choices survive pg_dump/pg_restore.';
COMMENT ON TABLE trending._setting_defaults IS 'Shipped defaults of trending.settings (not dumped: CREATE EXTENSION recreates them).';
COMMENT ON TABLE trending._setting_overrides IS 'The user''s settings (dumped by pg_dump). Edit through the view trending.settings.';
COMMENT ON TABLE trending._strategy_defaults IS 'Registered strategies as shipped (not dumped: CREATE EXTENSION recreates them).';
COMMENT ON TABLE trending._strategy_overrides IS 'The user''s on/off choices (dumped by pg_dump). Edit through the view trending.strategies.';

COMMENT ON TYPE trending.ranked_track IS 'A row of top_tracks() and underground_tracks(): absolute rank, track, score, genre.';
COMMENT ON TYPE trending.ranked_playlist IS 'A row of top_playlists(): absolute rank, playlist, score.';

COMMENT ON FUNCTION trending.recompute(timestamptz, boolean) IS
    'Run one cycle of every enabled strategy at now (default: the transaction''s start), in the caller''s transaction; returns a jsonb summary (rows inserted/updated/deleted/unchanged and ms per strategy and range, bad rows found, WAL bytes), or {"status": "skipped"} at once when another cycle is running. Raises on failure; nothing of a failed cycle stays.';
COMMENT ON FUNCTION trending.top_tracks(text, text, integer, integer, text) IS
    'Trending tracks: top_tracks(time_range => week|month|allTime, genre => NULL for all, lim => 1..1000, off => 0.., version => pnagD|AnlGe).';
COMMENT ON FUNCTION trending.underground_tracks(text, text, integer, integer) IS
    'Underground trending: the TRACKS/pnagD list without its top 20, owners with < 1500 followers and followings.';
COMMENT ON FUNCTION trending.top_playlists(text, integer, integer) IS
    'Trending playlists: top_playlists(time_range => week|month|year, lim => 1..1000, off => 0..).';
COMMENT ON FUNCTION trending._recompute(timestamptz, boolean) IS 'Internal: the cycle itself, in PL/Python; call trending.recompute().';
COMMENT ON FUNCTION trending._python_init() IS 'Internal: makes the embedded trending_pl package importable in this session.';
COMMENT ON FUNCTION trending._validate_choice(text, text, text[]) IS 'Internal: raises 22023 naming the valid values.';
COMMENT ON FUNCTION trending._validate_page(integer, integer) IS 'Internal: raises 22023 unless 1 <= lim <= 1000 and off >= 0.';
COMMENT ON FUNCTION trending._validate_setting(text, text) IS 'Internal: raises 22023 for a value a setting cannot take.';
COMMENT ON FUNCTION trending._write_setting() IS 'Internal: INSTEAD OF trigger making trending.settings writable.';
COMMENT ON FUNCTION trending._write_strategy() IS 'Internal: INSTEAD OF trigger making trending.strategies writable.';

COMMENT ON TABLE trending.runs IS
    'Run history: one row per cycle (running, ok, failed, aborted, skipped) with the now used, per-step milliseconds, per-slice row counts, WAL bytes and, on failure, SQLSTATE and message. Kept for the run_retention setting.';
COMMENT ON COLUMN trending.runs.trigger IS 'recompute: SELECT trending.recompute(); scheduled: CALL trending.scheduled_recompute() (pg_cron).';
COMMENT ON COLUMN trending.runs.cycle_now IS 'The now the scores were computed for.';
COMMENT ON COLUMN trending.runs.step_ms IS 'Milliseconds of each finished step: check_sources, track_inputs, track_changes, playlist_inputs, playlist_changes, one per slice (TYPE/version/range), then record_movers and write_state.';
COMMENT ON COLUMN trending.runs.slice_rows IS 'Per slice: rows inserted, updated, deleted and left unchanged.';
COMMENT ON COLUMN trending.runs.wal_bytes IS 'WAL written in the cluster between the run''s start and end (includes other sessions'' writes).';
COMMENT ON COLUMN trending.runs.cycle_kind IS 'full (every score recomputed), incremental (only the affected items, and a share of the incremental state compared with the sources) or reconcile (an incremental cycle that completes a round of that comparison: reconcile_every; in 1.1, a full cycle); NULL for a skipped call.';
COMMENT ON COLUMN trending.runs.cycle_reason IS 'Why the cycle was of its kind: for a full one, the first reason the change capture gave (trending.capture_status), e.g. not installed or not armed.';
COMMENT ON VIEW trending.status IS
    'One row: last successful run and the age of the scores (its now against the clock), last failed or aborted run with its SQLSTATE and message, the cycle holding the lease now, if any, the last broken lease, healthy and why not (unhealthy_reason), and the change capture''s backlog (capture_*: pending changes and plays, time since a cycle consumed it, its bound capture_max_pause, whether it records, the open transactions holding changes back).';
COMMENT ON PROCEDURE trending.scheduled_recompute(timestamptz, boolean) IS
    'The cycle pg_cron runs (CALL trending.scheduled_recompute()): commits after each step, records failures in trending.runs and re-raises them, returns quietly on a standby or when a cycle is running. Call at top level, not inside BEGIN.';
COMMENT ON FUNCTION trending._scheduled_start(timestamptz, boolean) IS 'Internal: first step of trending.scheduled_recompute().';
COMMENT ON FUNCTION trending._scheduled_step(bigint, integer) IS 'Internal: one step of trending.scheduled_recompute(); continues only a run this session started (else 42501 or 55000).';
COMMENT ON FUNCTION trending.schedule(text) IS
    'Schedule CALL trending.scheduled_recompute() with pg_cron as job trending-recompute (default hourly, ''0 * * * *'', GMT); idempotent; returns the job id. Needs pg_cron in this database; otherwise use the trending CLI.';
COMMENT ON FUNCTION trending.unschedule() IS
    'Remove the pg_cron job trending-recompute; true if it existed. Does not stop a run in progress.';
COMMENT ON FUNCTION trending._require_local_pg_cron(text) IS 'Internal: raise with a hint (the CLI command that does the given action from here) unless pg_cron is loaded and installed in this database.';
COMMENT ON FUNCTION trending.pause() IS
    'Pause this database''s pg_cron job trending-recompute (schedule and history kept; trending.resume() restarts it); true if there was one. Needs pg_cron in this database; otherwise: trending pause --dsn ... (the CLI).';
COMMENT ON FUNCTION trending.resume() IS
    'Make this database''s paused pg_cron job trending-recompute run again; raises when there is none. Needs pg_cron in this database; otherwise: trending resume --dsn ... (the CLI).';
COMMENT ON FUNCTION trending._raise(text, text, text, text) IS 'Internal: raise with a message, SQLSTATE and optional DETAIL and HINT.';
COMMENT ON FUNCTION trending.compare_scores(regclass, text, double precision, integer) IS
    'Compare a legacy score table (any relation with track_id or playlist_id, type, version, time_range, score; genre optional) with trending''s, per slice: compare_scores(legacy => ''public.track_trending_scores'', kind => track|playlist, tolerance => 1e-9 relative, top_n => 100). Returns per (type, version, time_range): whether trending computes it, rows on each side, legacy zero-score rows (left out: trending stores none), rows on one side only, scores differing beyond the tolerance and the largest relative difference, genres differing (NULL without a legacy genre column), and the overlap of each side''s top N (score DESC, id DESC) and whether its order is the same. SECURITY INVOKER: the caller reads the legacy relation.';

COMMENT ON VIEW trending.metrics IS
    'One row per monitoring figure (metric, labels kind and counter, value, help): scores age, last run duration, WAL, rows per kind and action, bad rows per counter, run in progress, stale, healthy, and the change capture''s backlog (capture_pending, capture_unconsumed_seconds, capture_max_seconds, capture_recording, capture_held_back). docs/monitoring/queries.yaml exposes it to prometheus-postgres-exporter.';
COMMENT ON COLUMN trending.status.stale IS 'true when no run has succeeded within the stale_after setting (or none ever has).';
COMMENT ON COLUMN trending.status.healthy IS 'true when not stale and the last finished run (ok, failed or aborted) succeeded; running and skipped runs change neither.';
COMMENT ON COLUMN trending.status.last_cycle_kind IS 'Kind of the last successful run: full, incremental or reconcile.';
COMMENT ON COLUMN trending.status.last_reconcile_at IS 'When the last round of reconciliation completed: its reconciling run finished (reconcile_every; NULL: none yet).';
COMMENT ON COLUMN trending.status.last_reconcile_drift IS 'The drift that round found and repaired, over all its cycles (the reconciling run''s trending.runs.drift).';
COMMENT ON COLUMN trending.status.drift_found IS 'true when the last round of reconciliation found drift: a change the incremental cycles missed (repaired; worth a bug report).';
COMMENT ON COLUMN trending.status.last_cycle_reason IS 'Why the last successful run was of its kind (trending.runs.cycle_reason).';
COMMENT ON FUNCTION trending._check_sources(text, jsonb) IS
    'Internal: lock the source tables as a read would, then list every reason not to read them (missing, not a plain table, row-level security, a column type not listed, code owned by a non-superuser); docs/security.md.';

-- Issue 8: who may do what (docs/security.md).
COMMENT ON FUNCTION trending.grant_cycle(name) IS
    'Let a role run cycles (recompute(), CALL scheduled_recompute()) and nothing more: EXECUTE on the entry points, the routines they call and the checked writer functions; USAGE on the configured source schema and SELECT on exactly its source tables; TEMP on this database. No write privilege on any table. Idempotent; call again after changing source_schema.';
COMMENT ON FUNCTION trending.revoke_cycle(name) IS
    'Take back what grant_cycle gave (USAGE on schema trending and SELECT on the score tables, settings and strategies stay: other sets share them).';
COMMENT ON FUNCTION trending.grant_read(name) IS
    'Let a role read the scores: SELECT on the score tables, status, metrics, settings and strategies, EXECUTE on top_tracks, underground_tracks and top_playlists. Idempotent.';
COMMENT ON FUNCTION trending.revoke_read(name) IS 'Take back what grant_read gave on status, metrics and the read functions.';
COMMENT ON FUNCTION trending.grant_configure(name) IS
    'Let a role change trending.settings and switch trending.strategies (UPDATE, DELETE on the two views; the writes are validated). It cannot run cycles nor touch the run history. Idempotent.';
COMMENT ON FUNCTION trending.revoke_configure(name) IS 'Take back UPDATE and DELETE on trending.settings and trending.strategies.';
COMMENT ON FUNCTION trending._privileges(text, name, boolean) IS 'Internal: the body of grant_* and revoke_* (sets cycle, read, configure, cycle_routines).';
COMMENT ON FUNCTION trending._wal_compress(text) IS
    'Internal: the score writers compress the full-page images of their WAL (wal_compression lz4, or pglz; only as a superuser, only when the server does not compress already); called with the value it returned, puts it back.';
COMMENT ON FUNCTION trending._own_run(bigint) IS
    'Internal: raise unless the run is this backend''s own running run (pid, status, cycle lease held): 42501 for another session''s run, 55000 for one not running or whose lease was broken.';
COMMENT ON FUNCTION trending._run_begin(text, timestamptz, name, jsonb) IS
    'Internal, SECURITY DEFINER: begin a run in the transaction that took the cycle lease (mark dead runs aborted, prune by run_retention, insert the running row, name it in the lease).';
COMMENT ON FUNCTION trending._lease_take(text, timestamptz, name) IS
    'Internal, SECURITY DEFINER: take the cycle lease for a run about to begin, or record the call skipped (another cycle runs) or failed (a non-cycle blocks the lease''s lock).';
COMMENT ON FUNCTION trending._lease_held() IS
    'Internal, SECURITY DEFINER: raise 55000 unless this session holds the cycle lease for a running run of its own.';
COMMENT ON FUNCTION trending._cycle_holder() IS
    'Internal, SECURITY DEFINER: the live cycle holding the lease (pid, run, role, since) and the last broken lease; read by trending.status.';
COMMENT ON SCHEMA trending_private IS
    'Internal: objects no role but the extension''s owner may even name (the cycle lease).';
COMMENT ON TABLE trending_private.cycle_lease IS
    'Internal: the cycle lease (one row): the run and backend (pid, backend_start) allowed to run a cycle, and the last lease broken. No role has any privilege on it; only the extension''s SECURITY DEFINER functions take, renew, check and free it.';
COMMENT ON FUNCTION trending._run_step_done(bigint, text, double precision, jsonb, jsonb, text, text, jsonb, jsonb) IS
    'Internal, SECURITY DEFINER: record a finished step of the caller''s own run.';
COMMENT ON FUNCTION trending._run_finish(bigint) IS 'Internal, SECURITY DEFINER: mark the caller''s own run ok; its row as jsonb.';
COMMENT ON FUNCTION trending._run_fail(bigint, text, text, text, text) IS 'Internal, SECURITY DEFINER: record the caller''s own run failed.';
COMMENT ON FUNCTION trending._apply_slice(bigint, text, text, text, text, timestamp, oid) IS
    'Internal, SECURITY DEFINER: write one slice''s staged changes for the caller''s own run; checks the changes table is plain, the stored key at each ctid, and asks for a re-stage after a table rewrite.';
COMMENT ON FUNCTION trending._remove_slice(bigint, text, text, text, text) IS
    'Internal, SECURITY DEFINER: delete a disabled slice''s rows for the caller''s own run.';
COMMENT ON FUNCTION trending._safe_temp_table(text, text[], regtype[]) IS
    'Internal: the session''s temp table, once found safe for a definer to read (made by _staging_table, so owned by the extension''s owner; plain heap, expected columns and built-in types, no index, rule, trigger, policy, inheritance or extended statistics).';
COMMENT ON FUNCTION trending._staging_columns(text) IS
    'Internal: the catalogue of the temp tables a cycle stages for the definer writers (name -> column definitions, built-in types only); NULL for any other name.';
COMMENT ON FUNCTION trending._staging_own(oid) IS
    'Internal: whether a relation is a staging table as _staging_table makes them (plain temp table of this session, catalogue name, owned by the current user).';
COMMENT ON FUNCTION trending._staging_table(text) IS
    'Internal, SECURITY DEFINER: create a staging table of the catalogue empty, owned by the extension''s owner, INSERT and SELECT for the session; refuses (55000) a relation of that name the session made.';
COMMENT ON FUNCTION trending._staging_analyze(text) IS 'Internal, SECURITY DEFINER: ANALYZE a staging table made by _staging_table.';
COMMENT ON FUNCTION trending._staging_drop() IS 'Internal, SECURITY DEFINER: drop the session''s staging tables made by _staging_table; the number dropped.';

-- Change capture (issue 9, docs/incremental.md)
COMMENT ON VIEW trending.capture_status IS
    'One row: is the change capture installed (trending.install_capture()), recording (until record_until: capture_max_pause after a cycle last consumed it) and armed (by a full cycle), may the next cycle be incremental (incremental_ok) and if not why (full_cycle_reason), how many captured changes wait to be consumed (pending_*) and since when (unconsumed_for), and which open or prepared transactions hold changes back (held_by).';
COMMENT ON FUNCTION trending.install_capture() IS
    'Superuser: put the change-capture triggers (statement-level, AFTER INSERT/UPDATE/DELETE/TRUNCATE) on the source tables of source_schema; briefly locks each table (SHARE ROW EXCLUSIVE). Idempotent; grants nothing (the triggers run as role trending_capture). See docs/incremental.md.';
COMMENT ON FUNCTION trending.uninstall_capture() IS
    'Superuser: remove every change-capture trigger, leaving the source tables as they were; briefly locks each table. Idempotent.';
COMMENT ON FUNCTION trending._capture_snapshot(interval) IS 'Internal: the snapshot a cycle consumes the capture up to, the last one''s, and why the capture cannot be armed or advanced at it (NULL: it can).';
COMMENT ON FUNCTION trending._capture_margin() IS 'Internal: how long before record_until a cycle treats the capture as no longer recording (a quarter of capture_max_pause, at most 10 minutes).';
COMMENT ON FUNCTION trending._capture_writers_before(timestamptz) IS 'Internal: the open transactions writing a source table that started before the given time, or prepared (pid or gid), or NULL.';
COMMENT ON FUNCTION trending._capture_arm(text) IS 'Internal: a full cycle arms the capture at its snapshot (or starts it recording again); returns why not, or NULL.';
COMMENT ON FUNCTION trending._capture_advance() IS 'Internal: an incremental cycle moves the capture watermark to its snapshot, or disarms it and returns why.';
COMMENT ON FUNCTION trending._capture_guard_drop() IS 'Internal: event trigger; a bare DROP EXTENSION trending with capture installed fails naming uninstall_capture().';
COMMENT ON FUNCTION trending._capture_follow_ddl() IS 'Internal: event trigger after CREATE TABLE, ALTER TABLE, ALTER TYPE; puts the capture triggers on new partitions of a source table and takes them off relations they can no longer read; never fails the DDL.';
COMMENT ON FUNCTION trending._capture_cover(oid, text) IS 'Internal: put the four capture triggers of a source table on a relation (the table or one of its partitions).';
COMMENT ON FUNCTION trending._capture_empty(oid) IS 'Internal: is the relation provably empty (every table in it has no page)?';
COMMENT ON VIEW trending._capture_read_columns IS 'Internal: the columns a cycle reads of each source table, with the types accepted (sources.py REQUIRED_COLUMNS).';
COMMENT ON FUNCTION trending._capture_tracks() IS 'Internal: capture trigger of tracks (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_plays() IS 'Internal: capture trigger of plays (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_saves() IS 'Internal: capture trigger of saves (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_reposts() IS 'Internal: capture trigger of reposts (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_users() IS 'Internal: capture trigger of users (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_user() IS 'Internal: capture trigger of aggregate_user (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_track() IS 'Internal: capture trigger of aggregate_track (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_plays() IS 'Internal: capture trigger of aggregate_plays (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_aggregate_playlist() IS 'Internal: capture trigger of aggregate_playlist (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON FUNCTION trending._capture_playlists() IS 'Internal: capture trigger of playlists (see install_capture); runs as trending_capture, generated by tools/generate_capture.py.';
COMMENT ON TABLE trending._capture_changes IS 'Internal, UNLOGGED: delta rows (source, item kind, item id, user id) appended by the capture triggers.';
COMMENT ON TABLE trending._capture_plays IS 'Internal, UNLOGGED: net plays added per (item, hour of created_at), appended by the plays capture trigger.';
COMMENT ON TABLE trending._capture_truncates IS 'Internal, UNLOGGED: TRUNCATEs of source tables (the next cycle runs full).';
COMMENT ON TABLE trending._capture_armed IS 'Internal, UNLOGGED: whether and until when the capture records, and its watermark (the last consuming cycle''s snapshot) while armed; lost with a crash, a failover or a restore, which makes the next cycles full.';
COMMENT ON TABLE trending._capture_installed IS 'Internal: the source tables install_capture() put triggers on, and what the last full cycle verified (dumped).';
COMMENT ON VIEW trending._capture_catalog IS 'Internal: per source table, the catalog now against what install and the last full cycle recorded; the first problem or drift.';
COMMENT ON VIEW trending._capture_backlog IS 'Internal: the change capture''s backlog against its bound (pending ids and plays, time since consumed, capture_max_pause, record_until, recording, held_by), from its own tables only, for trending.status and capture_status.';
COMMENT ON VIEW trending._capture_changed IS 'Internal: trending._capture_changes one id per row (seq, source, kind, item_id, user_id), for a cycle.';
COMMENT ON VIEW trending._capture_play_hours IS 'Internal: trending._capture_plays one (item, hour, net count) per row, for a cycle.';

-- Incremental cycles' state (issue 9, sql/schema/85_state.sql)
COMMENT ON TABLE trending._state_meta IS 'Internal, UNLOGGED: one row, whether the incremental state is valid, at which capture watermark (since) and cycle now, for which source schema and slices (fingerprint), when it was last rebuilt and when its current round of reconciliation began, and how far that round got (rotation).';
COMMENT ON TABLE trending._state_tracks IS 'Internal, UNLOGGED: per eligible track, the inputs of its last scoring and the dates its age is computed from.';
COMMENT ON TABLE trending._state_playlists IS 'Internal, UNLOGGED: per eligible playlist, the inputs of its last scoring and the dates its age is computed from.';
COMMENT ON TABLE trending._state_track_users IS 'Internal, UNLOGGED: each user''s track karma weight as the state''s karma sums hold it (an incremental cycle moves those sums by a changed user''s difference).';
COMMENT ON TABLE trending._state_playlist_users IS 'Internal, UNLOGGED: each user''s playlist karma weight as the state''s karma sums hold it (an incremental cycle moves those sums by a changed user''s difference).';
COMMENT ON TABLE trending._state_playlist_owners IS 'Internal, UNLOGGED: the owner of every playlist with one current row (a playlist becomes eligible when its owner gets an aggregate_user row).';
COMMENT ON TABLE trending._state_play_buckets IS 'Internal, UNLOGGED: plays per track and UTC hour from the month window''s first hour on, counted up to the capture watermark.';
COMMENT ON TABLE trending._state_track_actions IS 'Internal, UNLOGGED: every live save and repost of a track as a cycle last read it (a changed one moves its track''s counts and karma by the difference).';
COMMENT ON TABLE trending._state_playlist_hours IS 'Internal, UNLOGGED: the hours that hold a live save or repost of a playlist (from the year window''s first hour on).';
COMMENT ON FUNCTION trending._state_load(regclass, text) IS 'Internal: a full cycle replaces one state table whole, its secondary indexes built after the load (owner only).';
COMMENT ON FUNCTION trending._state_write(bigint, text, boolean) IS 'Internal: a cycle stores its staging into the incremental state (checked: the caller''s own run, plain temp tables).';
COMMENT ON FUNCTION trending._state_advance(bigint, timestamp, timestamp) IS 'Internal: an incremental cycle adds the delta rows'' plays to the buckets, in the transaction that moves the watermark past them.';
COMMENT ON FUNCTION trending._state_finish(bigint, timestamp, text, text) IS 'Internal: the last step marks the state valid at the capture''s watermark and the cycle''s now (invalid when the capture is not armed).';
COMMENT ON COLUMN trending.runs.affected IS 'Incremental and reconciling cycles: the items of each kind they rescored ({"track": n, "playlist": n}).';
COMMENT ON COLUMN trending.runs.drift IS 'Incremental cycles: what their share of the reconciliation found: items whose stored inputs differed from the sources'' ({"tracks": n, "playlists": n}), users whose karma weight did ("track_users", "playlist_users") and hourly play buckets that did ("play_hours"), all repaired; a reconciling cycle''s is its whole round''s; 0 everywhere when incremental cycles were exact.';

-- Issue 11: insight.
COMMENT ON FUNCTION trending.preview(timestamptz) IS
    'A dry run: the rows a cycle at now (default: the transaction''s start) would insert, update and delete, per slice (kind, type, version, time_range) and id, with old and new score, old and new rank (score DESC, id DESC within the slice, as the API orders) and, for tracks, old and new genre. Writes nothing, records no run, takes no lock a cycle or a reader waits on (ACCESS SHARE on the sources and score tables). Needs what a cycle needs (trending.grant_cycle).';
COMMENT ON FUNCTION trending._preview(timestamptz) IS 'Internal: stages a cycle at now into pg_temp.trending_preview; call trending.preview().';
COMMENT ON FUNCTION trending.explain_track(integer, text, text, timestamptz) IS
    'Explain one track''s TRACKS/<version> score of a time range as jsonb: every input (windowed counts, totals, karma with its biggest contributors, age in days, owner followers), each term of the formula, decay, K, the computed score, the stored score with its created_at, and whether they agree (relative 1e-12); for an item not eligible, the rule or bad-row counter that excludes it. A NULL now is trending.status.scores_as_of. Reads the sources (trending.grant_cycle).';
COMMENT ON FUNCTION trending.explain_playlist(integer, text, timestamptz) IS
    'Explain one playlist''s PLAYLISTS/pnagD score of a time range (week, month, year) as jsonb, as explain_track does for tracks. A NULL now is trending.status.scores_as_of. Reads the sources (trending.grant_cycle).';
COMMENT ON FUNCTION trending._explain(text, integer, text, text, timestamptz) IS 'Internal: the document of explain_track() and explain_playlist().';

-- Movers (issue 11)
COMMENT ON TABLE trending.movers_top IS
    'The top movers_top_n of every list the API reads (TRACKS/pnagD per range, overall with genre '''' and per genre for the movers_max_genres biggest genres; PLAYLISTS/pnagD per range) as the last two successful cycles left them; written by trending._record_top, read by trending.movers(). At most 2 x lists x N rows.';
COMMENT ON FUNCTION trending.movers(text, text, text) IS
    'Entries into, exits from and climbs within the top movers_top_n of one list (time_range; genre NULL for overall; kind track or playlist) between the previous successful cycle and the last, with both ranks and scores. After each successful cycle, NOTIFY trending carries the total entries (docs/operations.md).';
COMMENT ON FUNCTION trending._record_top(bigint, integer, integer, boolean) IS
    'Internal: at the end of the caller''s own successful run, record the top N of every list in trending.movers_top, keep only the previous generation besides it, and count the entries.';
COMMENT ON COLUMN trending.movers_top.run_id IS 'The successful cycle that recorded the row (one of the last two).';
COMMENT ON COLUMN trending.movers_top.genre IS 'The genre of a track list; '''' for the overall list and for playlists.';
COMMENT ON COLUMN trending.movers_top.rank IS 'The position in the list as the API ranks it (score DESC, id DESC), from 1.';
