"""The cycle lease (issue 17, sql/schema/55_cycle_lease.sql) for tests that
call a cycle's internal functions directly: take it as a cycle's first
transaction does, and free it."""

from __future__ import annotations


def hold_lease(conn) -> int:
    """Take the cycle lease and begin a run in one committed transaction, as
    trending._scheduled_start does; the run id. The connection's role must
    run cycles (a superuser, or a role given trending.grant_cycle)."""
    with conn.transaction():
        taken = conn.execute("SELECT trending._lease_take('scheduled', now(), current_user)").fetchone()[0]
        assert taken["status"] == "taken", taken
        return conn.execute("SELECT trending._run_begin('scheduled', now(), current_user, '{}')").fetchone()[0]


def free_lease(conn, run_id: int) -> None:
    """End the run begun by hold_lease (recorded failed), which frees the lease."""
    conn.execute("SELECT trending._run_fail(%s, 'XX000', 'test: lease freed', NULL, NULL)", (run_id,))
