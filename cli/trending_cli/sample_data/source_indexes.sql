-- The secondary indexes the production database has (docs/reference.md), created after
-- the bulk load. Unqualified: run with search_path set to the source schema.
-- There is deliberately no index on plays(play_item_id) and none on
-- saves(created_at): trending must not need them.
CREATE INDEX plays_created_at_idx ON plays (created_at);
CREATE INDEX plays_user_item_date_idx ON plays (user_id, play_item_id, created_at)
    WHERE user_id IS NOT NULL;
CREATE INDEX reposts_item_type_user_delete_idx ON reposts (repost_item_id, repost_type, user_id, is_delete);
CREATE INDEX reposts_created_at_idx ON reposts (created_at);
CREATE INDEX saves_item_type_user_delete_idx ON saves (save_item_id, save_type, user_id, is_delete);
