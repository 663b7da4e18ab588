-- Settings: shipped defaults in a member table, user overrides in a config
-- table that pg_dump keeps (pg_extension_config_dump). CREATE EXTENSION inserts
-- only defaults, so a restore never collides with the dumped overrides. Users
-- read and edit the merged view trending.settings (see sql/triggers.sql).
CREATE TABLE trending._setting_defaults (
    name          text PRIMARY KEY,
    default_value text NOT NULL,
    description   text NOT NULL
);

INSERT INTO trending._setting_defaults (name, default_value, description) VALUES
    ('source_schema', 'public',
     'Schema that holds the source tables (tracks, plays, saves, reposts, users, playlists, aggregate_*).'),
    ('work_mem', '128MB',
     'work_mem for the duration of a cycle (hash aggregates over plays and engagements).'),
    ('lock_timeout', '5s',
     'Longest wait for any lock a cycle needs; past it the cycle fails cleanly (55P03) and the previous scores stay.'),
    ('parallel_workers', '2',
     'max_parallel_workers_per_gather for a cycle: more makes the inputs step faster, fewer leaves CPUs to the API''s reads (0: none).'),
    ('run_retention', '30 days',
     'How long trending.runs keeps finished runs; older ones are deleted when a run starts.'),
    ('stale_after', '2 hours',
     'trending.status reports the scores stale (and not healthy) when no cycle has succeeded for this long.'),
    ('movers_top_n', '100',
     'How many of the top of each list trending.movers() compares between the last two cycles (1 to 1000).'),
    ('reconcile_every', '1 day',
     'How long reconciling the whole incremental state with the sources takes: every cycle checks a share of it, records any drift in trending.runs and repairs it, and the cycle that completes the round is a reconcile (1 hour to 7 days).'),
    ('movers_max_genres', '50',
     'How many genres (those with the most scored tracks) get their own movers list per range (0 to 1000; 0: none).'),
    ('lease_idle_timeout', '10 minutes',
     'A cycle that runs no step for longer than this (its session idle, or busy with anything else; a recompute() left idle in transaction) loses the cycle lease to the next cycle, which records the break in trending.status (1 second to 1 day).'),
    ('capture_max_pause', '1 day',
     'How long the change capture records with no cycle consuming it (1 minute to 30 days); past it the triggers record nothing and the next cycle runs full.');

CREATE TABLE trending._setting_overrides (
    name       text        PRIMARY KEY REFERENCES trending._setting_defaults (name) ON DELETE CASCADE,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('trending._setting_overrides', '');

CREATE VIEW trending.settings AS
SELECT d.name,
       COALESCE(o.value, d.default_value) AS value,
       d.default_value,
       o.name IS NULL                     AS is_default,
       d.description
FROM trending._setting_defaults d
LEFT JOIN trending._setting_overrides o ON o.name = d.name;
