-------------------------------------------------------------------------------
-- _capture_plays
-- Capture trigger of the source table plays (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new). Appends
-- per statement the play_item_id and created_at of every row added (n = 1)
-- and of every row removed (n = -1) to trending._capture_plays, as two
-- arrays: a late play (created_at hours or days old) keeps its own time, and
-- a cycle buckets them (trending._capture_play_hours). An UPDATE appends
-- its new rows (+1) and old rows (-1), or nothing when it changed neither
-- column of any row (the usual case: PostgreSQL stores old and new rows in
-- the same order). Bucketing here measured three times the cost of copying.
-- SECURITY INVOKER: it runs as the writer (see _capture_tracks). No cast of
-- a column, nothing that can fail on the data.
CREATE FUNCTION trending._capture_plays()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats)
        SELECT s.seq, 1, d.item_ids, d.created_ats
        FROM s, (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
                 FROM capture_new r HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
              FROM capture_new r),
        o AS (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
              FROM capture_old r)
        INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats)
        SELECT s.seq, d.n, d.item_ids, d.created_ats
        FROM s, n, o,
             LATERAL (VALUES (1, n.item_ids, n.created_ats), (-1, o.item_ids, o.created_ats)) AS d (n, item_ids, created_ats)
        WHERE d.item_ids IS NOT NULL
          AND (n.item_ids IS DISTINCT FROM o.item_ids OR n.created_ats IS DISTINCT FROM o.created_ats);
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats)
        SELECT s.seq, -1, d.item_ids, d.created_ats
        FROM s, (SELECT pg_catalog.array_agg(r.play_item_id) AS item_ids, pg_catalog.array_agg(r.created_at) AS created_ats
                 FROM capture_old r HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 2);
    END IF;
    RETURN NULL;
END;
$function$;
