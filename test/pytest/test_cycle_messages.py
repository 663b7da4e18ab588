"""What a cycle says while it runs (issue 19, item 4), with the change
capture installed, through both entry points:

- the movers' lists and the incremental state are steps of their own
  (record_movers, write_state) after the last slice: each has its progress
  line with its own time and its key in trending.runs.step_ms, and their
  work happens after the last slice's line (checked by where a warning of
  the state's step lands, never by timings);
- the scheduled procedure still commits the last slice, record_movers and
  write_state together: a run stopped between them has committed none;
- a cycle's and a preview's own housekeeping prints nothing (no
  "does not exist, skipping" among the progress lines).
"""

from __future__ import annotations

import psycopg
import pytest
from support.cycles import ENTRY_POINTS, Background
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset

SOURCE = "music"
DATASET = random_dataset(9101)
FINISH_STEPS = ["record_movers", "write_state"]
LAST_SLICE = "PLAYLISTS/pnagD/year"
HOUSEKEEPING = ("does not exist, skipping", "already exists, skipping")
NOT_ARMED = "trending: the change capture was not armed"


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("cycle_messages")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
    return dsn


@pytest.fixture
def conn(dsn):
    """A superuser connection; the capture installed anew (the next cycle is
    full), no runs. Its `messages` list gets every NOTICE and WARNING."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute("SELECT trending.uninstall_capture()")
        connection.execute("TRUNCATE trending.runs")
        connection.execute("SELECT trending.install_capture()")
        connection.execute("RESET client_min_messages")
        connection.messages = []
        connection.add_notice_handler(lambda d: connection.messages.append(f"{d.severity}: {d.message_primary}"))
        yield connection


def run(conn, entry: str, now=None) -> tuple[list[str], tuple]:
    """One cycle through `entry`: the messages it sent, and its run's (plan's
    step names, step_ms, cycle_kind)."""
    del conn.messages[:]
    conn.execute(ENTRY_POINTS[entry], (now or DATASET.now,))
    messages = list(conn.messages)
    row = conn.execute("SELECT ARRAY(SELECT s ->> 'name' FROM jsonb_array_elements(plan -> 'steps') AS s), "
                       "step_ms, cycle_kind FROM trending.runs WHERE status = 'ok' "
                       "ORDER BY run_id DESC LIMIT 1").fetchone()
    return messages, row


def progress(messages: list[str]) -> list[str]:
    """The steps' names, in the order of their progress lines."""
    prefix = "NOTICE: trending: step "
    return [m[len(prefix):].split(" ", 2)[1] for m in messages if m.startswith(prefix)]


def housekeeping(messages: list[str]) -> list[str]:
    return [m for m in messages if any(h in m for h in HOUSEKEEPING)]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_movers_and_the_state_are_steps_with_their_own_line_and_time(conn, entry):
    for kind in ("full", "incremental"):
        messages, (names, step_ms, cycle_kind) = run(conn, entry)
        assert cycle_kind == kind
        assert names[-3:] == [LAST_SLICE, *FINISH_STEPS], names
        assert progress(messages) == names, "a progress line per step of the plan, in its order"
        total = len(names)
        for position, name in enumerate(FINISH_STEPS, start=total - 1):
            (line,) = [m for m in messages if f" {name} " in m]
            assert line.startswith(f"NOTICE: trending: step {position}/{total} {name} done in ")
            assert line.endswith(" ms"), line
        assert set(step_ms) == set(names), "runs.step_ms has every step, the finishing ones too"
        assert housekeeping(messages) == [], "a cycle's housekeeping prints nothing"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_states_work_lands_between_the_movers_line_and_its_own(conn, entry):
    """A full cycle with a capture trigger disabled cannot arm the capture:
    the warning comes from write_state's work, so it arrives after the last
    slice's and record_movers' lines, before write_state's."""
    conn.execute(f"ALTER TABLE {SOURCE}.saves DISABLE TRIGGER trending_capture_insert")
    try:
        messages, _ = run(conn, entry)
    finally:
        conn.execute("SELECT trending.install_capture()")
    (warning,) = [i for i, m in enumerate(messages) if m.startswith(f"WARNING: {NOT_ARMED}")]
    lines = {name: i for i, m in enumerate(messages) for name in (LAST_SLICE, *FINISH_STEPS)
             if m.startswith("NOTICE: trending: step ") and f" {name} done in " in m}
    assert lines[LAST_SLICE] < lines["record_movers"] < warning < lines["write_state"], messages


def test_the_procedure_commits_the_last_slice_and_the_finishing_steps_together(conn, dsn):
    """Stopped after record_movers, before write_state: the run's committed
    row has every slice before the last, and neither the last slice nor
    record_movers (they are in the transaction write_state ends)."""
    run(conn, "scheduled")
    with Background(dsn, ENTRY_POINTS["scheduled"], (DATASET.now,), pause="record_movers:60") as cycle:
        cycle.wait_until_paused(conn)
        (committed,) = conn.execute("SELECT step_ms FROM trending.runs WHERE status = 'running'").fetchone()
        conn.execute("SELECT pg_cancel_backend(%s)", (cycle.pid,))
        assert cycle.finished.wait(60)
    assert isinstance(cycle.error, psycopg.errors.QueryCanceled), cycle.error
    assert "PLAYLISTS/pnagD/month" in committed
    assert LAST_SLICE not in committed and not set(FINISH_STEPS) & set(committed), committed
    (status, step_ms) = conn.execute("SELECT status, step_ms FROM trending.runs "
                                     "ORDER BY run_id DESC LIMIT 1").fetchone()
    assert status == "failed" and LAST_SLICE not in step_ms, "the failure rolled the three back together"


def test_a_preview_prints_nothing_of_its_housekeeping(conn):
    """Before the first cycle (nothing armed: what a full cycle would write)
    and after two (armed, the state valid), twice each in one session (the
    second finds the first's result table)."""
    for _ in range(2):
        del conn.messages[:]
        conn.execute("SELECT count(*) FROM trending.preview(%s)", (DATASET.now,)).fetchone()
        conn.execute("SELECT count(*) FROM trending.preview(%s)", (DATASET.now,)).fetchone()
        assert housekeeping(conn.messages) == [], "a preview's housekeeping prints nothing"
        run(conn, "recompute")
        run(conn, "recompute")
