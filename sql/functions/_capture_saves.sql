-------------------------------------------------------------------------------
-- _capture_saves
-- Capture trigger of the source table saves (installed by
-- trending.install_capture(): AFTER INSERT / UPDATE / DELETE / TRUNCATE, FOR
-- EACH STATEMENT, with transition tables capture_old / capture_new). Appends
-- one row per statement to trending._capture_changes (source 3):
-- the saved item, its kind (1 track, 2 playlist; 'album' saves are not read) and the saving user
-- of every row inserted, deleted, or updated, as arrays (see
-- sql/schema/80_capture.sql). An UPDATE names the ids of the old and the
-- new versions; when they are the same arrays (the usual case: an UPDATE
-- keeps the ids, and PostgreSQL stores old and new rows in the same order)
-- they are stored once. Candidates, not a diff: a cycle compares them with
-- its state, so the writer pays for no comparison.
-- SECURITY INVOKER: it runs as the writer, who needs INSERT on the delta
-- tables and USAGE on their sequence (install_capture grants them), so no
-- code of the table's owner or writers ever runs as another role. One
-- INSERT of integers, no cast of a column, nothing that can fail on the data.
CREATE FUNCTION trending._capture_saves()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 3, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT pg_catalog.array_agg(CASE WHEN r.save_type = 'track' THEN 1 ELSE 2 END) AS kinds, pg_catalog.array_agg(r.save_item_id) AS item_ids,
                        pg_catalog.array_agg(r.user_id) AS user_ids
                 FROM capture_new r WHERE r.save_type IN ('track', 'playlist')
                 HAVING pg_catalog.count(*) > 0) d;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq),
        n AS (SELECT pg_catalog.array_agg(CASE WHEN r.save_type = 'track' THEN 1 ELSE 2 END) AS kinds, pg_catalog.array_agg(r.save_item_id) AS item_ids,
                         pg_catalog.array_agg(r.user_id) AS user_ids
                  FROM capture_new r WHERE r.save_type IN ('track', 'playlist')),
        o AS (SELECT pg_catalog.array_agg(CASE WHEN r.save_type = 'track' THEN 1 ELSE 2 END) AS kinds, pg_catalog.array_agg(r.save_item_id) AS item_ids,
                         pg_catalog.array_agg(r.user_id) AS user_ids
                  FROM capture_old r WHERE r.save_type IN ('track', 'playlist'))
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 3,
               CASE WHEN same THEN n.kinds ELSE n.kinds || o.kinds END,
               CASE WHEN same THEN n.item_ids ELSE n.item_ids || o.item_ids END,
               CASE WHEN same THEN n.user_ids ELSE n.user_ids || o.user_ids END
        FROM s, n, o,
             LATERAL (SELECT n.kinds IS NOT DISTINCT FROM o.kinds AND n.item_ids IS NOT DISTINCT FROM o.item_ids
                             AND n.user_ids IS NOT DISTINCT FROM o.user_ids AS same) x
        WHERE COALESCE(n.item_ids, n.user_ids, o.item_ids, o.user_ids) IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        WITH s AS MATERIALIZED (SELECT pg_catalog.nextval('trending._capture_seq') AS seq)
        INSERT INTO trending._capture_changes (seq, source, kinds, item_ids, user_ids)
        SELECT s.seq, 3, d.kinds, d.item_ids, d.user_ids
        FROM s, (SELECT pg_catalog.array_agg(CASE WHEN r.save_type = 'track' THEN 1 ELSE 2 END) AS kinds, pg_catalog.array_agg(r.save_item_id) AS item_ids,
                        pg_catalog.array_agg(r.user_id) AS user_ids
                 FROM capture_old r WHERE r.save_type IN ('track', 'playlist')
                 HAVING pg_catalog.count(*) > 0) d;
    ELSE
        INSERT INTO trending._capture_truncates (seq, source)
        VALUES (pg_catalog.nextval('trending._capture_seq'), 3);
    END IF;
    RETURN NULL;
END;
$function$;
