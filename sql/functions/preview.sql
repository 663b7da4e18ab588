-------------------------------------------------------------------------------
-- preview
-- A dry run: the rows a cycle at `now` would insert, update and delete, per
-- slice (kind, type, version, time_range) and id, with the old and new score,
-- the old and new rank (score DESC, id DESC within the slice, as the API
-- orders) and, for tracks, the old and new genre. Nothing is written, no run
-- is recorded and no lock is taken that a cycle or a reader waits on: it reads
-- the sources and the score tables under ACCESS SHARE, as a cycle does.
--
-- A thin PL/pgSQL layer over _preview (as recompute over _recompute): it
-- returns the staged result, drops it, and presents deliberate errors
-- cleanly. On error the block's subtransaction takes the temp tables with it.
CREATE FUNCTION trending.preview(now timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (kind text, type text, version text, time_range text, id integer, action text,
               old_score double precision, new_score double precision, old_rank bigint, new_rank bigint,
               old_genre text, new_genre text)
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
    PERFORM trending._preview(preview.now);
    RETURN QUERY
        SELECT p.kind, p.type, p.version, p.time_range, p.id, p.action, p.old_score, p.new_score,
               p.old_rank, p.new_rank, p.old_genre, p.new_genre
        FROM pg_temp.trending_preview p
        ORDER BY p.kind DESC, p.type, p.version, p.time_range, COALESCE(p.new_rank, p.old_rank), p.id;
    DROP TABLE pg_temp.trending_preview;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;
