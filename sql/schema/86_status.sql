-- One row that answers "are the scores fresh, did anything fail, is a cycle
-- running now?". A running cycle is found by its advisory lock (see
-- extension/trending_pl/runs.py), since recompute()'s run row is invisible to
-- other sessions until it commits.
--
-- stale: no run has succeeded within the stale_after setting (or none ever).
-- healthy: not stale, and the last run that finished neither failed nor was
-- aborted. A running or skipped run changes neither: a skip is not a fault,
-- and a run in progress has not finished yet.
-- last_cycle_kind, last_cycle_reason: of the last successful run (full or
-- incremental, and why). The change capture's own state is
-- trending.capture_status; capture_*: its backlog, for monitoring (NULL
-- when the capture is not installed): the changed ids and plays waiting to
-- be consumed, how long since a cycle last consumed it, its bound (the
-- capture_max_pause setting: past it the triggers stop recording and the
-- next cycle runs full), whether it records, and the open or prepared
-- transactions whose captured changes wait for their commit.
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
    -- a scheduled run's committed row knows when it started; recompute()'s
    -- start is its transaction's
    SELECT l.pid,
           COALESCE((SELECT r.started_at FROM trending.runs r
                     WHERE r.status = 'running' AND r.pid = l.pid
                     ORDER BY r.run_id DESC LIMIT 1), a.xact_start) AS since
    FROM pg_catalog.pg_locks l
    LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.classid = 1953654126 AND l.objid = 1 AND l.objsubid = 2
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                        WHERE d.datname = pg_catalog.current_database())
    LIMIT 1
), capture AS (
    -- the backlog alone (trending._capture_backlog reads no catalog; the
    -- capture's full state is trending.capture_status)
    SELECT b.pending_changes, b.pending_plays, b.unconsumed_for, b.max_pause, b.recording, b.held_by
    FROM trending._capture_backlog b WHERE EXISTS (SELECT FROM trending._capture_installed)
), freshness AS (
    SELECT COALESCE(last_ok.finished_at < pg_catalog.now() - stale_after.value, true) AS stale
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
LEFT JOIN capture ON true;
