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
