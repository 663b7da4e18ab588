-------------------------------------------------------------------------------
-- _apply_slice
-- Write one slice's staged changes (pg_temp.trending_<kind>_changes, see
-- extension/trending_pl/slices.py) for the caller's own running run, in one
-- statement: updates and deletes of the stored rows by ctid, inserts of new
-- rows in score order. SECURITY DEFINER, so that roles that run cycles need
-- no write privilege on the score tables; it reads the caller's temp table
-- only once _safe_temp_table has found it plain.
--
-- Never writes a row it did not mean: a stored row is updated or deleted only
-- if the row at the staged ctid still has the staged key (id, type, version,
-- time_range). If the score table was rewritten since the changes were
-- staged (VACUUM FULL, CLUSTER, pg_repack give it a new filenode), nothing is
-- written and {"restage": true} asks the caller to stage again. Otherwise
-- {"updated", "inserted", "deleted", "missed"}: missed counts staged updates
-- and deletes whose row was no longer at its ctid (the caller re-stages).
CREATE FUNCTION trending._apply_slice(p_run_id bigint, p_kind text, p_type text, p_version text,
                                      p_time_range text, p_now timestamp, p_filenode oid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_table regclass;
    v_id text;
    v_changes regclass;
    v_columns text[] := ARRAY['stored_tid', 'stored_id', 'type', 'version', 'time_range', 'id', 'score'];
    v_types regtype[] := ARRAY['pg_catalog.tid', 'pg_catalog.int4', 'pg_catalog.text', 'pg_catalog.text',
                               'pg_catalog.text', 'pg_catalog.int4', 'pg_catalog.float8']::pg_catalog.regtype[];
    v_set_genre text := '';
    v_genre_col text := '';
    v_genre_val text := '';
    v_updated bigint;
    v_inserted bigint;
    v_deleted bigint;
    v_expected bigint;
    v_wal_compression text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    IF p_kind = 'track' THEN
        v_table := 'trending.track_trending_scores';
        v_id := 'track_id';
        v_columns := v_columns || 'genre'::text;
        v_types := v_types || 'pg_catalog.varchar'::pg_catalog.regtype;
        v_set_genre := ', genre = c.genre';
        v_genre_col := ', genre';
        v_genre_val := ', c.genre';
    ELSIF p_kind = 'playlist' THEN
        v_table := 'trending.playlist_trending_scores';
        v_id := 'playlist_id';
    ELSE
        RAISE EXCEPTION 'trending: unknown kind %', p_kind USING ERRCODE = '22023';
    END IF;
    EXECUTE pg_catalog.format('LOCK TABLE %s IN ROW EXCLUSIVE MODE', v_table);
    IF pg_catalog.pg_relation_filenode(v_table) IS DISTINCT FROM p_filenode THEN
        RETURN '{"restage": true}'::jsonb;  -- rewritten since staged: the staged ctids mean nothing now
    END IF;
    v_changes := trending._safe_temp_table('trending_' || p_kind || '_changes', v_columns, v_types);
    v_wal_compression := trending._wal_compress();
    -- The ctids to touch come from the slice's rows of the changes table;
    -- the join to the changes table is by ctid alone (each stored ctid is
    -- staged once), as in 1.0, so the planner keeps its shape: a TID scan of
    -- exactly those rows, the changes hashed or probed by ctid, never a scan
    -- per row. The key comparison is a join filter.
    EXECUTE pg_catalog.format($sql$
WITH updated AS (
    UPDATE %1$s t
    SET score = c.score%3$s, created_at = $4
    FROM %2$s c
    WHERE t.ctid = ANY (ARRAY(SELECT u.stored_tid FROM %2$s u
                              WHERE u.type = $1 AND u.version = $2 AND u.time_range = $3
                                AND u.stored_tid IS NOT NULL AND u.id IS NOT NULL))
      AND t.ctid = c.stored_tid
      AND t.%4$I = c.stored_id AND t.type = c.type AND t.version = c.version AND t.time_range = c.time_range
    RETURNING t.type, t.version, t.time_range
), deleted AS (
    DELETE FROM %1$s t USING %2$s c
    WHERE t.ctid = ANY (ARRAY(SELECT u.stored_tid FROM %2$s u
                              WHERE u.type = $1 AND u.version = $2 AND u.time_range = $3 AND u.id IS NULL))
      AND t.ctid = c.stored_tid
      AND t.%4$I = c.stored_id AND t.type = c.type AND t.version = c.version AND t.time_range = c.time_range
    RETURNING t.type, t.version, t.time_range
), inserted AS (
    INSERT INTO %1$s (%4$I, type, version, time_range, score, created_at%5$s)
    SELECT c.id, c.type, c.version, c.time_range, c.score, $4%6$s
    FROM %2$s c
    WHERE c.type = $1 AND c.version = $2 AND c.time_range = $3 AND c.stored_tid IS NULL
    ORDER BY c.score DESC
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM updated u WHERE u.type = $1 AND u.version = $2 AND u.time_range = $3),
       (SELECT pg_catalog.count(*) FROM inserted),
       (SELECT pg_catalog.count(*) FROM deleted d WHERE d.type = $1 AND d.version = $2 AND d.time_range = $3),
       (SELECT pg_catalog.count(*) FROM %2$s c
        WHERE c.type = $1 AND c.version = $2 AND c.time_range = $3 AND c.stored_tid IS NOT NULL)$sql$,
        v_table, v_changes, v_set_genre, v_id, v_genre_col, v_genre_val)
    INTO v_updated, v_inserted, v_deleted, v_expected
    USING p_type, p_version, p_time_range, p_now;
    PERFORM trending._wal_compress(v_wal_compression);
    RETURN pg_catalog.jsonb_build_object('updated', v_updated, 'inserted', v_inserted, 'deleted', v_deleted,
                                         'missed', v_expected - v_updated - v_deleted);
END;
$function$;
