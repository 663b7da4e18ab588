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
