"""Full cycles and the change capture (docs/incremental.md, "What full cycles
do with the capture"): with the capture installed, every cycle takes the
capture's snapshot before reading a source and arms or advances it at that
snapshot in the transaction of its last step, which prunes the delta rows it
covered; a writer's transaction left open holds back only its own changes,
which the cycle after its commit applies; a failed cycle arms nothing; every
run records its kind and why. Through both entry points, as a superuser and
as a role given only trending.grant_cycle. Scores are checked against the
independent oracle (test/oracle).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from oracle import ALL_STRATEGIES
from support.cycles import ENTRY_POINTS, Background
from support.faults import oracle_mismatches
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset, run_cycle

SOURCE = "music"
DATASET = random_dataset(9101)
JOB = "capcyc_job"
DELTA_TABLES = ("trending._capture_changes", "trending._capture_plays", "trending._capture_truncates")
NOT_INSTALLED = "the capture is not installed"
NOT_ARMED = "the capture is not armed"
INCREMENTAL = "incremental: the capture and the state are intact"


def load(conn) -> None:
    load_dataset(conn, SOURCE, DATASET)
    # the dataset's plays carry their ids: new plays take the next ones
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                 f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("capture_cycles")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        load(conn)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(JOB)))
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(JOB)))
        conn.execute("SELECT trending.grant_cycle(%s)", (JOB,))
    return dsn


@pytest.fixture
def conn(dsn):
    """A superuser connection; the capture installed anew (not armed), no runs."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute("SELECT trending.uninstall_capture()")
        connection.execute("TRUNCATE trending.runs")
        connection.execute("SELECT trending.install_capture()")
        yield connection
        connection.execute("RESET ROLE")


def capture(conn) -> dict:
    cur = conn.execute("SELECT * FROM trending.capture_status")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def delta_seqs(conn) -> list[int]:
    """Every sequence number in the delta tables."""
    return [r[0] for r in conn.execute(" UNION ALL ".join(f"SELECT seq FROM {t}" for t in DELTA_TABLES)
                                       + " ORDER BY 1").fetchall()]


def last_run(conn) -> tuple:
    return conn.execute("SELECT status, cycle_kind, cycle_reason FROM trending.runs "
                        "WHERE status <> 'skipped' ORDER BY run_id DESC LIMIT 1").fetchone()


def play(conn, offset: int = 0) -> None:
    """Three plays, of the tracks after the first `offset` ones."""
    conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) "
                 f"SELECT t.track_id, (%s::timestamptz AT TIME ZONE 'UTC') - interval '90 minutes' "
                 f"FROM {SOURCE}.tracks t ORDER BY t.track_id LIMIT 3 OFFSET %s", (DATASET.now, offset))


def write(conn, n: int = 1) -> None:
    """What the service's indexer does between cycles: a play, a follower count, a save."""
    for _ in range(n):
        play(conn)
        conn.execute(f"UPDATE {SOURCE}.aggregate_user SET follower_count = COALESCE(follower_count, 0) + 7 "
                     f"WHERE user_id = (SELECT min(user_id) FROM {SOURCE}.aggregate_user)")


def cycle(conn, entry: str):
    """A cycle that must match the oracle on what the sources hold now; its summary."""
    result = run_cycle(conn, SOURCE, DATASET, load=False, keep_schema=True, entry=entry)
    result.assert_matches_oracle()
    return result.summary


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_full_then_incremental_cycles_keep_the_capture_armed_and_bounded(conn, entry):
    assert not capture(conn)["armed"]
    summary = cycle(conn, entry)
    assert last_run(conn) == ("ok", "full", last_run(conn)[2])
    assert last_run(conn)[2].startswith(NOT_ARMED)
    if entry == "recompute":
        assert summary["cycle"]["kind"] == "full" and summary["cycle"]["reason"].startswith(NOT_ARMED)
        assert summary["cycle"]["capture"] == {"installed": True, "snapshot": summary["cycle"]["capture"]["snapshot"],
                                               "armed": True, "not_armed": None}
    st = capture(conn)
    assert st["armed"] and st["incremental_ok"], st["full_cycle_reasons"]
    assert st["recording"] and st["held_by"] == []
    for _ in range(3):
        write(conn, 2)
        pending = delta_seqs(conn)
        assert pending and capture(conn)["pending_plays"] == 6
        summary = cycle(conn, entry)
        assert last_run(conn) == ("ok", "incremental", INCREMENTAL)
        # every delta row the cycle covered is gone; none was written meanwhile
        assert delta_seqs(conn) == []
        st, consumed = capture(conn), st["consumed_upto"]
        assert st["armed"] and st["consumed_upto"] == consumed + 1, "the watermark moved once"
        assert st["pending_changes"] == 0 and st["pending_plays"] == 0
    status = conn.execute("SELECT last_cycle_kind, last_cycle_reason FROM trending.status").fetchone()
    assert status == ("incremental", INCREMENTAL)


def test_without_the_capture_every_run_says_so_and_nothing_is_captured(conn):
    conn.execute("SELECT trending.uninstall_capture()")
    write(conn)
    summary = cycle(conn, "recompute")
    assert summary["cycle"] == {"kind": "full", "reason": summary["cycle"]["reason"],
                                "affected": None, "drift": None, "reconciled": None,
                                "capture": {"installed": False, "snapshot": None,
                                            "armed": False, "not_armed": None}}
    assert summary["cycle"]["reason"].startswith(NOT_INSTALLED)
    cycle(conn, "scheduled")
    assert last_run(conn)[:2] == ("ok", "full") and last_run(conn)[2].startswith(NOT_INSTALLED)
    assert delta_seqs(conn) == [] and not capture(conn)["armed"]


def test_an_owner_breaking_a_trigger_is_the_reason_and_the_delta_is_still_pruned(conn):
    cycle(conn, "recompute")
    conn.execute(f"ALTER TABLE {SOURCE}.saves DISABLE TRIGGER trending_capture_insert")
    write(conn)
    assert delta_seqs(conn)
    cycle(conn, "scheduled")
    status, kind, reason = last_run(conn)
    assert (status, kind) == ("ok", "full") and "are disabled (they must be ENABLE ALWAYS)" in reason
    assert not capture(conn)["armed"] and delta_seqs(conn) == [], "not armed, but nothing left to grow"
    conn.execute("SELECT trending.install_capture()")
    cycle(conn, "recompute")
    assert capture(conn)["incremental_ok"]


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_failed_cycle_arms_nothing(conn, dsn, entry):
    cycle(conn, entry)
    before = capture(conn)
    write(conn)
    pending = delta_seqs(conn)
    # the last step fails after its work (and after arming): cancelled in the test pause
    (last_step,) = conn.execute("SELECT plan->'steps'->-1->>'name' FROM trending.runs "
                                "ORDER BY run_id DESC LIMIT 1").fetchone()
    with Background(dsn, ENTRY_POINTS[entry], (DATASET.now,), pause=f"{last_step}:60") as run:
        run.wait_until_paused(conn)
        conn.execute("SELECT pg_cancel_backend(%s)", (run.pid,))
        assert run.finished.wait(60)
    assert isinstance(run.error, psycopg.errors.QueryCanceled), run.error
    assert delta_seqs(conn) == pending, "nothing pruned"
    after = capture(conn)
    assert (after["armed"], after["consumed_upto"], after["armed_at"]) == \
        (before["armed"], before["consumed_upto"], before["armed_at"])
    if entry == "scheduled":
        assert last_run(conn)[:2] == ("failed", "incremental"), "a failed scheduled run says what kind it was"
    # the next cycle reads again and covers it
    cycle(conn, entry)
    assert delta_seqs(conn) == [] and capture(conn)["consumed_upto"] == before["consumed_upto"] + 1


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_writes_committed_during_a_cycle_after_its_snapshot_stay_for_the_next(conn, dsn, entry):
    cycle(conn, entry)
    write(conn)
    covered = max(delta_seqs(conn))
    with Background(dsn, ENTRY_POINTS[entry], (DATASET.now,), pause="check_sources:5") as run:
        run.wait_until_paused(conn)
        write(conn)  # committed while the cycle is paused, after its snapshot
        during = [s for s in delta_seqs(conn) if s > covered]
        assert len(during) >= 2
        assert run.finished.wait(60) and run.error is None, run.error
    st = capture(conn)
    assert st["armed"], "armed at the snapshot taken before the reads"
    assert delta_seqs(conn) == during, "the rows of the writes during the cycle are kept"
    assert st["pending_plays"] == 3
    cycle(conn, entry)
    assert last_run(conn)[:2] == ("ok", "incremental")
    assert delta_seqs(conn) == [] and capture(conn)["pending_plays"] == 0


@pytest.mark.parametrize("full_first", [False, True], ids=["incremental", "full"])
def test_a_writer_transaction_left_open_holds_back_only_its_own_changes(conn, dsn, full_first):
    """Item 7: a writer's transaction open before a cycle (an incremental one,
    or a full one that arms) and across several cycles: they stay
    incremental, each equal to the oracle on what is committed; the open
    transaction is named as what holds changes back; once it commits, the
    next cycle applies its changes (plays counted once: scores equal the
    oracle)."""
    cycle(conn, "recompute")
    with psycopg.connect(dsn) as writer:  # a transaction left open after writing a source table
        write(writer, 2)
        writer_pid = writer.info.backend_pid
        if full_first:  # a full cycle during the open transaction arms at its own snapshot
            summary = conn.execute("SELECT trending.recompute(%s, full => true)", (DATASET.now,)).fetchone()[0]
            assert not oracle_mismatches(conn, SOURCE, DATASET.now, ALL_STRATEGIES)
            assert summary["cycle"]["kind"] == "full" and summary["cycle"]["capture"]["armed"] is True
        for entry in ("recompute", "scheduled", "recompute"):
            play(conn, 5)  # other writers go on committing (other rows than the open transaction's)
            summary = cycle(conn, entry)
            assert last_run(conn) == ("ok", "incremental", INCREMENTAL), "the open transaction sends no cycle full"
            st = capture(conn)
            assert st["armed"] and st["pending_plays"] == 0, "what committed is consumed"
            assert st["held_by"] == [f"pid {writer_pid}"]
        writer.commit()
    st = capture(conn)
    assert st["held_by"] == [] and st["pending_plays"] == 6, "its rows are visible now, not yet consumed"
    cycle(conn, "scheduled")  # equal to the oracle: its plays counted exactly once
    assert last_run(conn)[:2] == ("ok", "incremental")
    assert delta_seqs(conn) == [] and capture(conn)["pending_plays"] == 0
    cycle(conn, "recompute")
    assert last_run(conn)[:2] == ("ok", "incremental")


def test_arming_waits_for_a_writer_that_may_have_written_unrecorded(conn, dsn):
    """A capture not recording (here: its armed row lost, as after a crash
    restart) misses the writes made meanwhile; the full cycle that finds it
    starts it recording, and arming then needs every writer that started
    before that to have ended: one still open is named, and the cycles stay
    full (and equal to the oracle) until it ends."""
    conn.execute("DELETE FROM trending._capture_armed")
    with psycopg.connect(dsn) as writer:
        write(writer)  # unrecorded: the capture does not record
        cycle(conn, "recompute")
        assert last_run(conn)[:2] == ("ok", "full") and "not recording" in last_run(conn)[2]
        st = capture(conn)
        assert st["recording"] and not st["armed"]
        summary = cycle(conn, "recompute")
        assert summary["cycle"]["kind"] == "full" and summary["cycle"]["capture"]["armed"] is False
        assert f"pid {writer.info.backend_pid}, which started before the capture recorded" in \
            summary["cycle"]["capture"]["not_armed"]
        writer.commit()
    cycle(conn, "scheduled")  # reads the writer's changes, arms
    assert last_run(conn)[:2] == ("ok", "full") and capture(conn)["armed"]
    write(conn)
    cycle(conn, "recompute")
    assert last_run(conn) == ("ok", "incremental", INCREMENTAL)


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_role_given_only_grant_cycle_runs_cycles_with_the_capture(conn, entry):
    for kind in ("full", "incremental"):
        write(conn)
        pending = delta_seqs(conn)
        conn.execute(f"SET ROLE {JOB}")
        conn.execute(ENTRY_POINTS[entry], (DATASET.now,))
        conn.execute("RESET ROLE")
        assert last_run(conn)[:2] == ("ok", kind)
        assert conn.execute("SELECT run_by FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()[0] == JOB
        # recording from the install on, armed by the first full cycle (issue 16)
        assert pending and delta_seqs(conn) == [] and capture(conn)["armed"]
        assert capture(conn)["pending_plays"] == 0
        assert not oracle_mismatches(conn, SOURCE, DATASET.now, ALL_STRATEGIES)
    # outside a cycle it can neither move the watermark nor prune the delta
    conn.execute(f"SET ROLE {JOB}")
    for statement in ("SELECT trending._capture_arm('x')", "DELETE FROM trending._capture_changes",
                      "SELECT trending._capture_advance()", "SELECT trending._capture_snapshot('0s')"):
        with pytest.raises(psycopg.Error):
            conn.execute(statement)


# ---------------------------------------------------------------------------
# the CLI: trending install --capture, uninstall, status and doctor
# ---------------------------------------------------------------------------
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def trending(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def ok(*args: str) -> str:
    result = trending(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_cli_installs_shows_and_uninstalls_the_capture(make_db):
    dsn = make_db("capture_cli", extensions=())
    with psycopg.connect(dsn, autocommit=True) as c:
        load(c)
    # installed first without the capture, with a cycle: its reason ("the
    # capture is not installed") must not be shown once the capture is
    ok("install", "--dsn", dsn, "--source-schema", SOURCE, "--no-schedule")
    with psycopg.connect(dsn, autocommit=True) as c:
        enable_strategies(c)
        c.execute("UPDATE trending.settings SET value = '100 years' WHERE name = 'stale_after'")  # a past dataset
        c.execute("SELECT trending.recompute(%s)", (DATASET.now,))
    out = ok("install", "--dsn", dsn, "--source-schema", SOURCE, "--no-schedule", "--capture")
    # two lines: what it needs and grants (nothing), what it costs and what makes a cycle full (issue 16)
    needs, costs = [x for x in out.splitlines() if x.startswith("capture: ") and " table" in x][:2]
    assert "needs a superuser" in needs and "locks a source table only to put triggers on it" in needs
    assert "grants nothing to anyone" in needs and "trending_capture" in needs
    assert costs.startswith("capture: costs each write statement") and "a cycle runs full when" in costs
    assert f"capture: installed on schema {SOURCE}: triggers installed on aggregate_playlist" in out
    assert "was locked briefly (SHARE ROW EXCLUSIVE" in out, "it says so when it took the writers' lock"
    out = ok("install", "--dsn", dsn, "--no-schedule", "--capture")
    assert f"capture: installed on schema {SOURCE} (unchanged)" in out
    assert "locked briefly" not in out, "unchanged triggers took no lock a writer waits for: it says none"
    assert "trending install: nothing to change" in out

    out = ok("status", "--dsn", dsn)
    assert f"capture: installed on schema {SOURCE}, not ready: {NOT_ARMED}" in out
    assert "last cycle full" in out and "capture is not installed" not in out, "the last cycle's reason is stale"
    assert f"warn  capture: installed on schema {SOURCE}, not ready: {NOT_ARMED}" in ok("doctor", "--dsn", dsn)
    with psycopg.connect(dsn, autocommit=True) as c:
        enable_strategies(c)
        assert c.execute("SELECT trending.recompute(%s)", (DATASET.now,)).fetchone()[0]["cycle"]["kind"] == "full"
    out = ok("status", "--dsn", dsn)
    (line,) = [x for x in out.splitlines() if x.startswith("capture: ")]
    assert line.startswith(f"capture: installed on schema {SOURCE}, armed up to ")
    assert f"0 changed ids and 0 plays pending; last cycle full ({NOT_ARMED}" in line
    # (the cycle ran at the dataset's past now: stale scores FAIL doctor's health check, issue 17)
    assert any(x.startswith("ok    capture: installed") for x in trending("doctor", "--dsn", dsn).stdout.splitlines())

    out = ok("uninstall", "--dsn", dsn)
    assert "capture: removed 40 trigger(s) from the source tables" in out
    assert "extension: dropped trending" in out
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid "
                         "WHERE r.relnamespace = %s::regnamespace", (SOURCE,)).fetchone()[0] == 0


def test_status_without_the_capture_says_cycles_read_everything(make_db):
    dsn = make_db("capture_cli_none")
    with psycopg.connect(dsn, autocommit=True) as c:
        load(c)
        use_source_schema(c, SOURCE)
    out = ok("status", "--dsn", dsn)
    assert "capture: not installed (every cycle reads everything; trending install --capture)" in out
    assert "note  capture: off: not installed" in ok("doctor", "--dsn", dsn)
    ok("uninstall", "--dsn", dsn)


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_writes_committed_during_the_arming_full_cycle_are_not_lost(conn, dsn, entry):
    """The first full cycle arms the capture; a write committed while it runs,
    after it read the table the write changes, must reach a later cycle."""
    assert not capture(conn)["armed"]
    with Background(dsn, ENTRY_POINTS[entry], (DATASET.now,), pause="track_inputs:5") as run:
        run.wait_until_paused(conn)
        write(conn)  # committed while the full cycle runs, before it arms
        assert run.finished.wait(60) and run.error is None, run.error
    cycle(conn, entry)  # must match the oracle: the write is in the sources
