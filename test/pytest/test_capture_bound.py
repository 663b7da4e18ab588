"""Issue 16, item 5: the change capture is bounded when nothing consumes it.

The capture records while trending._capture_armed.record_until is in the
future; every cycle that consumes it moves that to now() plus the
capture_max_pause setting. A capture no cycle consumed for longer than the
bound (simulated by moving record_until and advanced_at back, as a
superuser) stops recording: the next cycle runs full and says why, and the
capture records again (the cycle after arms it). trending.status,
trending.metrics and `trending doctor` show the backlog against the bound:
doctor warns past half of it (exit 0) and fails past it (exit 1), saying the
fix. Scores are checked against the independent oracle (test/oracle).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset, run_cycle

SOURCE = "music"
DATASET = random_dataset(9102)
STOPPED = "the capture stopped recording at "
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("capture_bound")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        load_dataset(conn, SOURCE, DATASET)
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                     f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        # the dataset's now is years back: doctor's health check would call its scores stale by the clock
        conn.execute("UPDATE trending.settings SET value = '100 years' WHERE name = 'stale_after'")
    return dsn


@pytest.fixture
def conn(dsn):
    """A superuser connection; the capture installed anew and armed by a full cycle."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute("SELECT trending.uninstall_capture()")
        connection.execute("DELETE FROM trending._setting_overrides WHERE name = 'capture_max_pause'")
        connection.execute("SELECT trending.install_capture()")
        cycle(connection)
        assert capture(connection)["armed"]
        yield connection


def capture(conn) -> dict:
    cur = conn.execute("SELECT * FROM trending.capture_status")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def cycle(conn, entry: str = "recompute") -> dict:
    result = run_cycle(conn, SOURCE, DATASET, load=False, keep_schema=True, entry=entry)
    result.assert_matches_oracle()
    return result.summary


def last_run(conn) -> tuple:
    return conn.execute("SELECT cycle_kind, cycle_reason FROM trending.runs WHERE status = 'ok' "
                        "ORDER BY run_id DESC LIMIT 1").fetchone()


def play(conn) -> None:
    conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) "
                 f"SELECT t.track_id, (%s::timestamptz AT TIME ZONE 'UTC') - interval '90 minutes' "
                 f"FROM {SOURCE}.tracks t ORDER BY t.track_id LIMIT 3", (DATASET.now,))


def unconsumed_for(conn, age: str, bound: str = "1 day") -> None:
    """As if no cycle had consumed the capture for `age` (the bound then
    applied: record_until = last consumed + bound)."""
    conn.execute("UPDATE trending._capture_armed SET advanced_at = now() - %s::interval, "
                 "record_until = now() - %s::interval + %s::interval", (age, age, bound))


def doctor(dsn: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", "doctor", "--dsn", dsn], capture_output=True,
                          text=True, timeout=120,
                          env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def test_the_bound_is_a_setting_with_a_default_of_a_day(conn):
    assert conn.execute("SELECT value, default_value FROM trending.settings WHERE name = 'capture_max_pause'"
                        ).fetchone() == ("1 day", "1 day")
    st = capture(conn)
    assert st["recording"] and st["max_pause"].days == 1
    # every consuming cycle moves record_until to now() + the bound
    until = conn.execute("SELECT record_until - now() FROM trending._capture_armed").fetchone()[0]
    assert until.days == 0 and until.seconds > 23 * 3600
    for bad in ("30 seconds", "31 days", "1 week", "x", ""):
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'capture_max_pause'", (bad,))
    conn.execute("UPDATE trending.settings SET value = '2 hours' WHERE name = 'capture_max_pause'")
    play(conn)
    cycle(conn)
    assert last_run(conn)[0] == "incremental"
    until = conn.execute("SELECT record_until - now() FROM trending._capture_armed").fetchone()[0]
    assert 3600 < until.total_seconds() <= 7200


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_past_the_bound_the_next_cycle_runs_full_says_why_and_the_capture_records_again(conn, entry):
    play(conn)
    unconsumed_for(conn, "25 hours")
    st = capture(conn)
    assert not st["recording"] and not st["incremental_ok"]
    assert st["full_cycle_reason"].startswith(STOPPED)
    assert "because no cycle consumed it for longer than 1 day (capture_max_pause)" in st["full_cycle_reason"]
    status = conn.execute("SELECT capture_recording, capture_pending_plays, capture_unconsumed_for, "
                          "capture_max_pause FROM trending.status").fetchone()
    assert status[0] is False and status[1] == 3 and status[2].days == 1 and status[3].days == 1
    metrics = dict(conn.execute("SELECT metric || ':' || kind, value FROM trending.metrics "
                                "WHERE metric LIKE 'capture%%'").fetchall())
    assert metrics["capture_recording:"] == 0 and metrics["capture_pending:plays"] == 3
    assert metrics["capture_max_seconds:"] == 86400 and metrics["capture_unconsumed_seconds:"] >= 25 * 3600
    play(conn)  # may be unrecorded: the next cycle reads everything
    cycle(conn, entry)
    kind, reason = last_run(conn)
    assert kind == "full" and reason.startswith(STOPPED) and "writes since then may be unrecorded" in reason
    st = capture(conn)
    assert st["recording"] and not st["armed"] and st["pending_plays"] == 0
    play(conn)
    cycle(conn, entry)  # arms: no writer from before the restart is in flight
    assert last_run(conn)[0] == "full" and capture(conn)["armed"]
    play(conn)
    cycle(conn, entry)
    assert last_run(conn) == ("incremental", "incremental: the capture and the state are intact")


def test_a_cycle_about_to_pass_the_bound_runs_full(conn):
    """A cycle commits after it decides: one that starts within the margin
    before record_until (a quarter of the bound, at most 10 minutes) treats
    the capture as stopped, since a writer starting between record_until and
    its commit would record nothing."""
    play(conn)
    unconsumed_for(conn, "23 hours 55 minutes")
    assert capture(conn)["recording"]
    cycle(conn)
    kind, reason = last_run(conn)
    assert kind == "full" and reason.startswith(STOPPED)


def test_the_triggers_record_nothing_past_the_bound(conn):
    unconsumed_for(conn, "25 hours")
    before = capture(conn)["pending_plays"]
    play(conn)
    assert capture(conn)["pending_plays"] == before, "the trigger returned at once"


def test_doctor_warns_past_half_the_bound_and_fails_past_it_saying_the_fix(conn, dsn):
    result = doctor(dsn)
    (line,) = [x for x in result.stdout.splitlines() if "capture backlog:" in x]
    assert line.startswith("ok    capture backlog: 0 changed ids and 0 plays pending")

    play(conn)
    unconsumed_for(conn, "13 hours")
    result = doctor(dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warn  capture backlog: no cycle consumed the capture for 13:00:" in result.stdout
    assert "(0 changed ids and 3 plays pending); at " in result.stdout
    assert "fix: resume the schedule (trending resume) or run a cycle now (trending recompute)" in result.stdout

    unconsumed_for(conn, "25 hours")
    result = doctor(dsn)
    assert result.returncode == 1, result.stdout
    assert "FAIL  capture backlog: the capture stopped recording at " in result.stdout
    assert "writes since then were not recorded" in result.stdout
    assert "fix: run a cycle: trending recompute (it runs full and restarts the recording" in result.stdout

    conn.execute("DELETE FROM trending._capture_armed")  # what a crash restart leaves
    result = doctor(dsn)
    assert result.returncode == 1 and "FAIL  capture backlog: the capture is not recording" in result.stdout

    cycle(conn)
    cycle(conn)
    result = doctor(dsn)
    assert not [x for x in result.stdout.splitlines() if x.startswith("FAIL")], result.stdout


def test_doctor_names_an_open_transaction_holding_changes_back(conn, dsn):
    with psycopg.connect(dsn) as writer:
        play(writer)
        result = doctor(dsn)
        assert f"ok    capture held back: changes of pid {writer.info.backend_pid} wait for their commit" \
            in result.stdout
        writer.rollback()


def test_without_the_capture_doctor_only_notes_that_it_is_off(conn, dsn):
    conn.execute("SELECT trending.uninstall_capture()")
    result = doctor(dsn)
    assert "note  capture: off: not installed" in result.stdout
    assert "capture backlog" not in result.stdout and "capture held back" not in result.stdout
    assert conn.execute("SELECT capture_recording, capture_pending_plays FROM trending.status").fetchone() == \
        (None, None)
    assert conn.execute("SELECT count(*) FROM trending.metrics WHERE metric LIKE 'capture%%'").fetchone()[0] == 0


def test_a_capture_armed_by_1_1_records_across_the_upgrade_and_the_first_cycle_arms_it(make_db):
    """The upgrade keeps 1.1's armed row recording (its bound: none yet) but
    not armed: nothing written around the upgrade is lost, the first cycle
    runs full and arms the capture, and the next one is incremental."""
    dsn = make_db("capture_bound_upgrade", extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION trending VERSION '1.1' CASCADE")
        load_dataset(conn, SOURCE, DATASET)
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                     f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        conn.execute("SELECT trending.install_capture()")
        cycle(conn)
        play(conn)
        cycle(conn)
        assert last_run(conn)[0] == "incremental"
        play(conn)  # pending across the upgrade
        conn.execute("ALTER EXTENSION trending UPDATE")
        st = capture(conn)
        assert st["recording"] and not st["armed"] and st["pending_plays"] == 3
        cycle(conn)
        assert last_run(conn)[0] == "full" and capture(conn)["armed"]
        play(conn)
        cycle(conn)
        assert last_run(conn) == ("incremental", "incremental: the capture and the state are intact")
        conn.execute("SELECT trending.uninstall_capture()")
