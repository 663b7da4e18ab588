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
