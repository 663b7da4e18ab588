"""The server parameters a cycle's statements run with (cycle.INCREMENTAL_PARAMETERS).

JIT compiling an incremental cycle's statements cost half its time at
medium scale (docs/benchmark.md, "JIT compilation"): no statement of an
incremental cycle's steps is compiled, through both entry points, whatever
the session asks; a full cycle keeps the session's setting (its statements
are compiled here, where the session asks for every one); and the
session's own setting is back when a cycle returns. Plans are read from
auto_explain (a plan compiled by JIT carries a "JIT:" section); a query of
the test's own, run in the same session with the same settings, shows that
such a section is there to be seen.
"""

from __future__ import annotations

import psycopg
import pytest
from support.cycles import ENTRY_POINTS
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset

SOURCE = "music"
DATASET = random_dataset(9202)
# every statement planned above cost 0 is compiled, and its plan logged as a NOTICE
JIT_EVERYWHERE = {"jit": "on", "jit_above_cost": "0", "auto_explain.log_min_duration": "0",
                  "auto_explain.log_nested_statements": "on", "auto_explain.log_analyze": "on",
                  "auto_explain.log_level": "notice"}


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("cycle_parameters")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
    return dsn


def plans_of(conn, statement: str, params=()) -> list[str]:
    """The plans auto_explain logged while `statement` ran."""
    plans: list[str] = []
    handler = lambda diag: plans.append(diag.message_primary or "")  # noqa: E731
    conn.add_notice_handler(handler)
    try:
        conn.execute(statement, params)
    finally:
        conn.remove_notice_handler(handler)
    return [p for p in plans if p.startswith("duration: ")]


# The statements of the steps' work: they read or write the cycle's temp
# tables (the run's bookkeeping around each step, a few rows by key, is
# compiled too when a session asks for every statement, as this one does)
STEP_WORK = ("trending_track_", "trending_playlist_")
# but for the first step's look for temp tables a failed run left, before
# the cycle has decided its kind, and the calls that hold every statement
HOUSEKEEPING = ("SELECT pg_catalog.to_regclass('pg_temp.trending_", "trending.recompute(", "scheduled_recompute(")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_statement_of_an_incremental_cycles_steps_is_jit_compiled(dsn, entry):
    if not psycopg.connect(dsn).execute("SELECT pg_catalog.pg_jit_available()").fetchone()[0]:
        pytest.fail("this server has no JIT provider (Debian's postgresql-15 ships llvmjit): nothing to check")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT trending.uninstall_capture()")
        conn.execute("SELECT trending.install_capture()")  # the next cycle is full
        conn.execute("RESET client_min_messages")
        conn.execute("LOAD 'auto_explain'")
        for name, value in JIT_EVERYWHERE.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        control = plans_of(conn, "SELECT sum(g) FROM generate_series(1, 1000) AS g")
        assert any("JIT:" in p for p in control), "the session compiles its own statements"
        compiled = {}
        for _ in range(2):  # the first cycle with the capture is full, the next incremental
            plans = plans_of(conn, ENTRY_POINTS[entry], (DATASET.now,))
            kind = conn.execute("SELECT cycle_kind FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()[0]
            steps = [p for p in plans if any(t in p for t in STEP_WORK) and not any(h in p for h in HOUSEKEEPING)]
            assert len(steps) > 20, "auto_explain saw the cycle's statements"
            compiled[kind] = [p.split("\n", 3)[1][:200] for p in steps if "JIT:" in p]
            assert conn.execute("SHOW jit").fetchone()[0] == "on", "the session's setting is back"
        assert set(compiled) == {"full", "incremental"}
        assert compiled["incremental"] == [], compiled["incremental"]
        assert compiled["full"], "a full cycle keeps the session's setting"
