"""The server parameters a cycle's statements run with (cycle.CYCLE_PARAMETERS).

JIT compiling an incremental cycle's statements cost half its time at
medium scale (docs/benchmark.md, "JIT"): every statement of a cycle runs
with jit off, through both entry points, full and incremental, whatever
the session asks; and the session's own setting is back when the cycle
returns. Plans are read from auto_explain (a plan compiled by JIT carries a
"JIT:" section); a query of the test's own, run in the same session with
the same settings, shows that such a section is there to be seen.
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


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_statement_of_a_cycle_is_jit_compiled(dsn, entry):
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
        kinds = []
        for _ in range(2):  # the first cycle with the capture is full, the next incremental
            plans = plans_of(conn, ENTRY_POINTS[entry], (DATASET.now,))
            kinds.append(conn.execute("SELECT cycle_kind FROM trending.runs ORDER BY run_id DESC LIMIT 1")
                         .fetchone()[0])
            nested = [p for p in plans if "trending.recompute(" not in p and "scheduled_recompute(" not in p]
            assert len(nested) > 20, "auto_explain saw the cycle's statements"
            compiled = [p.split("\n", 3)[2][:120] for p in nested if "JIT:" in p]
            assert compiled == [], f"{kinds[-1]} cycle: statements compiled by JIT: {compiled}"
            assert conn.execute("SHOW jit").fetchone()[0] == "on", "the session's setting is back"
        assert kinds == ["full", "incremental"]
