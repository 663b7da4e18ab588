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
