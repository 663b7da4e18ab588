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
