-------------------------------------------------------------------------------
-- _capture_arm
-- Called by a full cycle, in the transaction that commits its state: from
-- now on the capture covers every change numbered above p_upto. p_upto must
-- be _capture_settle's (settled) upto taken BEFORE the cycle read the
-- sources, and p_fingerprint trending.capture_status.fingerprint taken
-- before that: if a capture trigger or a source table changed meanwhile (a
-- change may have escaped), nothing is armed and the next cycle runs full
-- again. Records the relations, their storage and their triggers as
-- verified (a restored database re-arms here). Prunes the delta rows the
-- full cycle covered (<= p_upto), also when it refuses to arm. Returns NULL
-- when armed, else the reason it did not.
-- SECURITY DEFINER: cycle roles write the capture state only through this
-- function and _capture_advance, and only while holding the cycle lock.
CREATE FUNCTION trending._capture_arm(p_upto bigint, p_fingerprint text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_reason text;
    v_fingerprint text;
    v_last bigint;
BEGIN
    PERFORM trending._lease_held();
    SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO v_last FROM trending._capture_seq q;
    IF p_upto IS NULL OR p_upto < 0 OR p_upto > v_last THEN
        RAISE EXCEPTION 'trending: % is not a capture number drawn so far (last: %)', p_upto, v_last
            USING ERRCODE = '22023', HINT = 'Pass the upto of trending._capture_settle().';
    END IF;
    SELECT pg_catalog.string_agg(c.problem, '; ' ORDER BY c.source) INTO v_reason
    FROM trending._capture_catalog c WHERE c.problem IS NOT NULL;
    SELECT s.fingerprint INTO v_fingerprint FROM trending.capture_status s;
    IF v_reason IS NULL AND v_fingerprint IS DISTINCT FROM p_fingerprint THEN
        v_reason := 'a capture trigger or a source table changed during the full cycle';
    END IF;
    -- The full cycle read every change numbered <= p_upto (settled before
    -- its reads): those rows are of no use to anyone, armed or not (a later
    -- arm starts above its own upto), so they go even when arming is
    -- refused; otherwise a broken capture would grow with every write.
    DELETE FROM trending._capture_changes WHERE seq <= p_upto;
    DELETE FROM trending._capture_plays WHERE seq <= p_upto;
    DELETE FROM trending._capture_truncates WHERE seq <= p_upto;
    IF v_reason IS NOT NULL THEN
        DELETE FROM trending._capture_armed;
        RETURN v_reason;
    END IF;

    UPDATE trending._capture_installed i
    SET relid = c.relid, armed_relid = c.relid, armed_filenode = c.relfilenode, armed_triggers = c.triggers,
        armed_columns = c.columns, armed_partitions = c.partitions
    FROM trending._capture_catalog c
    WHERE c.source = i.source;
    INSERT INTO trending._capture_armed AS a (since, fingerprint) VALUES (p_upto, p_fingerprint)
    ON CONFLICT (one) DO UPDATE
    SET since = excluded.since, fingerprint = excluded.fingerprint,
        armed_at = pg_catalog.now(), advanced_at = pg_catalog.now();
    RETURN NULL;
END;
$function$;
