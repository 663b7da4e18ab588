-- The change capture's views (its tables are in 80_capture.sql). Views only,
-- so that the upgrade script replaces them (VIEW_PARTS in the Makefile).

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

-- Per source table: what the catalog says now, next to what was installed
-- and armed, and the first reason (if any) the capture cannot be trusted.
-- The capture triggers are the ones calling trending._capture_<table>().
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
           i.installed_at, i.armed_relid, i.armed_filenode, i.armed_triggers
    FROM sources src
    CROSS JOIN setting st
    LEFT JOIN trending._capture_installed i ON i.source = src.source
), expected (tgname, tgtype, oldtable, newtable) AS (
    VALUES ('trending_capture_insert', 4::smallint, NULL, 'capture_new'),
           ('trending_capture_update', 16::smallint, 'capture_old', 'capture_new'),
           ('trending_capture_delete', 8::smallint, 'capture_old', NULL),
           ('trending_capture_truncate', 32::smallint, NULL, NULL)
), trig AS (
    -- every expected trigger, with what the catalog has under its name
    SELECT t.source, e.tgname, g.oid AS tgoid, g.xmin::text AS tgxmin, g.tgenabled,
           g.oid IS NOT NULL AS present,
           g.tgfoid = t.funcid AND g.tgtype = e.tgtype AND g.tgnargs = 0
               AND g.tgqual IS NULL AND COALESCE(pg_catalog.cardinality(g.tgattr::smallint[]), 0) = 0
               AND g.tgoldtable IS NOT DISTINCT FROM e.oldtable
               AND g.tgnewtable IS NOT DISTINCT FROM e.newtable AS shaped
    FROM t CROSS JOIN expected e
    LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.relid AND g.tgname = e.tgname
), trig_agg AS (
    SELECT tr.source,
           pg_catalog.string_agg(pg_catalog.format('%s:%s:%s:%s', tr.tgname, tr.tgoid, tr.tgxmin, tr.tgenabled),
                                 ',' ORDER BY tr.tgname) FILTER (WHERE tr.present) AS triggers,
           pg_catalog.string_agg(tr.tgname, ', ' ORDER BY tr.tgname) FILTER (WHERE NOT tr.present) AS missing,
           pg_catalog.string_agg(tr.tgname, ', ' ORDER BY tr.tgname)
               FILTER (WHERE tr.present AND NOT tr.shaped) AS misshaped,
           pg_catalog.string_agg(tr.tgname, ', ' ORDER BY tr.tgname)
               FILTER (WHERE tr.present AND tr.shaped AND tr.tgenabled <> 'A') AS disabled
    FROM trig tr
    GROUP BY tr.source
), facts AS (
    SELECT t.*, c.relkind, c.relfilenode,
           EXISTS (SELECT FROM pg_catalog.pg_inherits h WHERE h.inhparent = t.relid) AS has_children,
           a.triggers, a.missing, a.misshaped, a.disabled,
           -- capture triggers on other relations (a renamed table keeps them)
           (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger g
            WHERE g.tgfoid = t.funcid AND g.tgrelid IS DISTINCT FROM t.relid) AS elsewhere
    FROM t
    JOIN trig_agg a ON a.source = t.source
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
           WHEN f.relkind <> 'r' THEN
               pg_catalog.format('%I.%I is not a plain table', f.source_schema, f.table_name)
           WHEN f.has_children THEN
               pg_catalog.format('%I.%I has partitions or inheritance children: writes to them bypass the capture',
                                 f.source_schema, f.table_name)
           WHEN f.missing IS NOT NULL THEN
               pg_catalog.format('capture trigger(s) %s missing on %I.%I', f.missing, f.source_schema, f.table_name)
           WHEN f.misshaped IS NOT NULL THEN
               pg_catalog.format('capture trigger(s) %s on %I.%I were replaced by others of the same name',
                                 f.misshaped, f.source_schema, f.table_name)
           WHEN f.disabled IS NOT NULL THEN
               pg_catalog.format('capture trigger(s) %s on %I.%I are disabled (they must be ENABLE ALWAYS)',
                                 f.disabled, f.source_schema, f.table_name)
       END AS problem,
       -- reasons for a full cycle that a full cycle itself clears (_capture_arm
       -- re-arms when the triggers are intact, e.g. after a restore; a table
       -- swapped by its owner has no capture triggers: a problem above)
       CASE
           WHEN NOT f.installed THEN NULL
           WHEN f.relid IS DISTINCT FROM COALESCE(f.armed_relid, f.installed_relid) THEN
               pg_catalog.format('%I.%I was replaced since the capture was %s (relation OID changed)',
                                 f.source_schema, f.table_name,
                                 CASE WHEN f.armed_relid IS NULL THEN 'installed' ELSE 'last armed by a full cycle' END)
           WHEN f.armed_relid IS NULL THEN NULL  -- never armed: said by capture_status
           WHEN f.relfilenode IS DISTINCT FROM f.armed_filenode THEN
               pg_catalog.format('%I.%I was rewritten since the last full cycle (TRUNCATE, VACUUM FULL, CLUSTER or ALTER TABLE: rows can change without firing triggers)',
                                 f.source_schema, f.table_name)
           WHEN f.triggers IS DISTINCT FROM f.armed_triggers THEN
               pg_catalog.format('capture triggers on %I.%I were altered since the last full cycle (disabled, dropped or re-created)',
                                 f.source_schema, f.table_name)
       END AS drift,
       f.elsewhere
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
               pg_catalog.format('%s=%s/%s/%s', c.source, c.relid, c.relfilenode, c.triggers), ';' ORDER BY c.source))
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
       backlog.recording                                        AS recording,
       backlog.record_until                                     AS record_until,
       backlog.max_pause                                        AS max_pause,
       backlog.unconsumed_for                                   AS unconsumed_for,
       backlog.held_by                                          AS held_by
FROM fp, backlog, reasons;
