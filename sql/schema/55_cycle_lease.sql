-- The cycle lease (issue 17): which run holds the right to run a cycle, by
-- backend. One row, always there; free while run_id is NULL.
--
-- It lives in its own schema, trending_private, on which no role but the
-- extension's owner has USAGE: a role cannot even name the table, so no
-- statement of its own can lock it. (In a schema it may use, the parser
-- takes a lock on any relation a statement names before the privilege
-- check: a prepared INSERT holds ROW EXCLUSIVE until its transaction ends,
-- and a CREATE TRIGGER queued behind it blocks a SHARE UPDATE EXCLUSIVE
-- request. test/pytest/test_cycle_lease.py shows both fail here.) A few
-- functions lock a relation by OID before their privilege check
-- (brin_summarize_range takes SHARE UPDATE EXCLUSIVE on an index's table):
-- only for an instant, since they fail at once, so a cycle waits up to
-- 200 ms for the lock rather than giving up at once. No role has any
-- privilege on the table either. Only the SECURITY DEFINER
-- functions take the lease (trending._lease_take), renew it
-- (_run_step_done), check it (_own_run, _lease_held) and free it
-- (_run_finish, _run_fail). Mutual exclusion is two-fold:
--   - within a transaction, the table lock SHARE UPDATE EXCLUSIVE, which
--     conflicts with itself: recompute() holds it until its caller's commit,
--     each step of the scheduled procedure until the step's commit;
--   - between the scheduled procedure's transactions, the committed row: the
--     run, its backend (pid and backend_start, so a reused pid is not taken
--     for the holder) and its role, renewed at each step's end. A holder
--     whose backend is gone, or that ran no step for longer than the
--     lease_idle_timeout setting, loses it to the next cycle, which records
--     the break in broken_*.
-- autovacuum stays off: its SHARE UPDATE EXCLUSIVE would make a cycle's
-- NOWAIT fail, and the one row's updates are HOT (pruned in place).
-- Not dumped: CREATE EXTENSION recreates the schema and the free row.
CREATE SCHEMA trending_private;
CREATE TABLE trending_private.cycle_lease (
    one           boolean     PRIMARY KEY DEFAULT true CHECK (one),
    run_id        bigint,
    pid           integer,
    backend_start timestamptz,
    role          name,
    taken_at      timestamptz,
    taken_xact    xid8,
    renewed_at    timestamptz,
    broken_pid    integer,
    broken_role   name,
    broken_at     timestamptz,
    broken_reason text
) WITH (autovacuum_enabled = false);
INSERT INTO trending_private.cycle_lease DEFAULT VALUES;
