-- Strategies: the registered (type, version) pairs, each with its time ranges.
-- Same pattern as settings: shipped rows in a member table, the user's on/off
-- choices in a dumped config table, merged in the view trending.strategies
-- that a plain UPDATE switches (see sql/triggers.sql).
CREATE TABLE trending._strategy_defaults (
    type               text    NOT NULL,
    version            text    NOT NULL,
    kind               text    NOT NULL CHECK (kind IN ('track', 'playlist')),
    time_ranges        text[]  NOT NULL,
    enabled_by_default boolean NOT NULL,
    description        text    NOT NULL,
    PRIMARY KEY (type, version)
);

INSERT INTO trending._strategy_defaults
    (type, version, kind, time_ranges, enabled_by_default, description) VALUES
    ('TRACKS', 'pnagD', 'track', '{week,month,allTime}', true,
     'Tracks: plays, reposts, saves and totals, age decay, times follower karma.'),
    ('TRACKS', 'AnlGe', 'track', '{week,month,allTime}', false,
     'Tracks: as pnagD with a damped karma factor 1 + log10(1 + karma).'),
    ('UNDERGROUND_TRACKS', 'pnagD', 'track', '{week,month,allTime}', false,
     'Tracks: the pnagD formula stored under the UNDERGROUND_TRACKS type (compatibility rows).'),
    ('PLAYLISTS', 'pnagD', 'playlist', '{week,month,year}', true,
     'Playlists: windowed reposts and saves, totals, age decay, times windowed karma.');

CREATE TABLE trending._strategy_overrides (
    type       text        NOT NULL,
    version    text        NOT NULL,
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (type, version),
    FOREIGN KEY (type, version) REFERENCES trending._strategy_defaults (type, version) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('trending._strategy_overrides', '');

CREATE VIEW trending.strategies AS
SELECT d.type,
       d.version,
       COALESCE(o.enabled, d.enabled_by_default) AS enabled,
       d.kind,
       d.time_ranges,
       d.enabled_by_default,
       d.description
FROM trending._strategy_defaults d
LEFT JOIN trending._strategy_overrides o
       ON o.type = d.type AND o.version = d.version;
