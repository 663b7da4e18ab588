-- Run history: one row per cycle (see extension/trending_pl/runs.py).
-- A scheduled run commits its 'running' row first and its steps as they
-- finish, so a failure or a dead backend leaves a trace; recompute() writes
-- its row in the caller's transaction, so only its successes remain.
-- Pruned by the run_retention setting when a run starts. Not dumped: history.
CREATE TABLE trending.runs (
    run_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger       text        NOT NULL CHECK (trigger IN ('recompute', 'scheduled')),
    status        text        NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'aborted', 'skipped')),
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at   timestamptz,
    cycle_now     timestamptz NOT NULL,
    pid           integer     NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    run_by        name        NOT NULL DEFAULT CURRENT_USER,
    source_schema text,
    plan          jsonb,
    step_ms       jsonb       NOT NULL DEFAULT '{}',
    slice_rows    jsonb       NOT NULL DEFAULT '{}',
    bad_rows      jsonb       NOT NULL DEFAULT '{}',
    wal_start_lsn pg_lsn,
    wal_bytes     numeric,
    sqlstate      text,
    message       text,
    detail        text,
    hint          text,
    -- which kind of cycle ran and why (set by its check_sources step; NULL
    -- for a skipped call): every cycle is 'full' until incremental cycles
    -- exist, and the reason says what kept it from being incremental
    cycle_kind    text,
    cycle_reason  text
);
-- added after the primary key, as the upgrade from 1.0 adds it (same catalog)
ALTER TABLE trending.runs ADD CONSTRAINT runs_cycle_kind_check CHECK (cycle_kind IN ('full', 'incremental', 'reconcile'));
-- Incremental and reconciling cycles: how many items of each kind they
-- rescored (affected) and the drift their share of the reconciliation found
-- (items whose stored inputs differed from the sources', users' karma
-- weights, hourly play buckets that did; a reconciling run's: its round's).
ALTER TABLE trending.runs
    ADD COLUMN affected jsonb,
    ADD COLUMN drift jsonb;

CREATE INDEX runs_started_at_idx ON trending.runs (started_at);
CREATE INDEX runs_status_idx ON trending.runs (status, run_id);
