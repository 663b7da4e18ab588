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
