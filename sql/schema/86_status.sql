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
