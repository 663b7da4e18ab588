"""Incremental cycles (docs/incremental.md): which kind of cycle runs and why,
that the state they keep moves only with the capture's watermark, that a
reconciling cycle finds and repairs drift, and that an incremental cycle
reads the score tables by their index only. Every score is checked against
the independent oracle (test/oracle); the randomized event streams are in
test_incremental_streams.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from oracle import ALL_STRATEGIES
from support.cycles import ENTRY_POINTS, Background
from support.faults import oracle_mismatches
from support.harness import enable_strategies, use_source_schema
from support.plans import nested_plans, nodes
from support.random_datasets import load_dataset, random_dataset

SOURCE = "inc"
DATASET = random_dataset(9202)
JOB = "incremental_job"
NOW = DATASET.now.astimezone(timezone.utc)


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("incremental")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        load_dataset(conn, SOURCE, DATASET)
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                     f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")
        use_source_schema(conn, SOURCE)
        conn.execute(f"DROP ROLE IF EXISTS {JOB}")
        conn.execute(f"CREATE ROLE {JOB}")
        conn.execute("SELECT trending.grant_cycle(%s)", (JOB,))
    return dsn


@pytest.fixture
def conn(dsn):
    """A superuser connection, all strategies on, the capture installed anew
    (not armed), reconciliation rounds as long as they may be (7 days)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET client_min_messages = warning")
        enable_strategies(connection)
        connection.execute("UPDATE trending.settings SET value = '7 days' WHERE name = 'reconcile_every'")
        connection.execute("SELECT trending.uninstall_capture()")
        connection.execute("TRUNCATE trending.runs")
        connection.execute("SELECT trending.install_capture()")
        yield connection
        connection.execute("RESET ROLE")


def write(conn, now: datetime, k: int = 1) -> None:
    """An hour of the service: plays (one late by two days), a save undone, a follower count."""
    base = now.replace(tzinfo=None)
    conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) "
                 f"SELECT t.track_id, %s - interval '20 minutes' * t.n FROM "
                 f"(SELECT track_id, row_number() OVER (ORDER BY track_id) AS n FROM {SOURCE}.tracks "
                 f" WHERE is_current ORDER BY track_id LIMIT 4 OFFSET %s) t", (base, k))
    conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) "
                 f"SELECT min(track_id), %s - interval '2 days' FROM {SOURCE}.tracks", (base,))
    conn.execute(f"UPDATE {SOURCE}.saves SET is_delete = NOT COALESCE(is_delete, false) "
                 f"WHERE ctid = (SELECT ctid FROM {SOURCE}.saves ORDER BY user_id, save_item_id OFFSET %s LIMIT 1)", (k,))
    conn.execute(f"UPDATE {SOURCE}.aggregate_user SET follower_count = COALESCE(follower_count, 0) + 11 "
                 f"WHERE user_id = (SELECT user_id FROM {SOURCE}.aggregate_user ORDER BY user_id OFFSET %s LIMIT 1)",
                 (k,))


def cycle(conn, now: datetime, entry: str = "recompute", full: bool = False,
          oracle: bool = True) -> tuple[str, str, dict]:
    """A cycle at now that must match the oracle (unless told not to); (kind, reason, run row)."""
    if entry == "recompute":
        conn.execute("SELECT trending.recompute(%s, %s)", (now, full))
    else:
        conn.execute("CALL trending.scheduled_recompute(%s, %s)", (now, full))
    cur = conn.execute("SELECT * FROM trending.runs WHERE status <> 'skipped' ORDER BY run_id DESC LIMIT 1")
    row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    assert row["status"] == "ok", row
    if not oracle:
        return row["cycle_kind"], row["cycle_reason"], row
    enabled = set(conn.execute("SELECT type, version FROM trending.strategies WHERE enabled").fetchall())
    mismatches = oracle_mismatches(conn, SOURCE, now, [s for s in ALL_STRATEGIES if (s[0], s[1]) in enabled])
    assert not mismatches, f"{row['cycle_kind']} cycle at {now}: {mismatches[:5]}"
    return row["cycle_kind"], row["cycle_reason"], row


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_full_cycles_run_exactly_when_needed_and_say_why(conn, entry):
    now = NOW
    kind, reason, _ = cycle(conn, now, entry)
    assert kind == "full" and reason.startswith("the capture is not armed")
    kind, reason, row = cycle(conn, now + timedelta(minutes=10), entry)
    assert (kind, reason) == ("incremental", "incremental: the capture and the state are intact")
    assert set(row["affected"]) == {"track", "playlist"}
    now += timedelta(minutes=10)
    for k in range(1, 3):  # hours of changes, each read from the capture
        now += timedelta(hours=1, minutes=3, seconds=17)
        write(conn, now, k)
        assert cycle(conn, now, entry)[0] == "incremental"

    assert cycle(conn, now, entry, full=True)[:2] == ("full", "a full cycle was requested (full => true)")
    kind, reason, _ = cycle(conn, now - timedelta(hours=5), entry)
    assert kind == "full" and reason.startswith("now (") and "is before the last cycle's" in reason
    write(conn, now, 3)
    # 30 h after the last cycle's now, few changes: no fixed rule makes it full
    # (1.1 ran full past 24 hours); the cost estimate keeps it incremental
    kind, reason, _ = cycle(conn, now + timedelta(hours=25), entry)
    assert kind == "incremental", reason
    now += timedelta(hours=25)

    conn.execute("UPDATE trending.strategies SET enabled = false WHERE type = 'UNDERGROUND_TRACKS'")
    kind, reason, _ = cycle(conn, now + timedelta(hours=1), entry)
    assert (kind, reason) == ("full", "the source schema or the strategies switched on changed since the state "
                                      "was built")
    write(conn, now, 4)
    assert cycle(conn, now + timedelta(hours=2), entry)[0] == "incremental"

    conn.execute("TRUNCATE trending._state_meta")  # as a crash restart empties the unlogged state
    kind, reason, _ = cycle(conn, now + timedelta(hours=3), entry)
    assert kind == "full" and reason.startswith("the incremental state is missing")
    assert cycle(conn, now + timedelta(hours=4), entry)[0] == "incremental"
    status = conn.execute("SELECT last_cycle_kind, last_cycle_reason FROM trending.status").fetchone()
    assert status == ("incremental", "incremental: the capture and the state are intact")


def plant_drift(conn, now: datetime) -> int:
    """The state goes wrong behind the cycles' back: a play bucket and its
    track's sums, a playlist that does not exist, a user's karma weight of
    each kind. Returns the track."""
    (track,) = conn.execute("SELECT track_id FROM trending._state_play_buckets WHERE hour > %s "
                            "ORDER BY plays DESC, track_id LIMIT 1", (now.replace(tzinfo=None) - timedelta(days=6),)
                            ).fetchone()
    conn.execute("UPDATE trending._state_play_buckets SET plays = plays + 5 WHERE track_id = %s "
                 "AND hour = (SELECT max(hour) FROM trending._state_play_buckets WHERE track_id = %s)", (track, track))
    conn.execute("INSERT INTO trending._state_playlists (playlist_id, save_total) VALUES (999999, 1)")
    conn.execute("UPDATE trending._state_tracks SET week_hours = week_hours + 5, month_hours = month_hours + 5 "
                 "WHERE track_id = %s", (track,))
    for kind in ("track", "playlist"):
        conn.execute(f"UPDATE trending._state_{kind}_users SET weight = weight + 7 "
                     f"WHERE user_id = (SELECT max(user_id) FROM trending._state_{kind}_users WHERE weight > 0)")
    return track


ROUND_HOURS = 4


def test_a_round_of_reconciliation_finds_drift_repairs_it_and_status_shows_it(conn):
    """Every cycle checks a share of the state; the one that completes the
    round (reconcile_every after the last) is a reconcile and records the
    round's drift. Drift planted after the round began is found, counted
    and repaired by its end, and the next round finds none."""
    conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'reconcile_every'", (f"{ROUND_HOURS} hours",))
    now = NOW
    cycle(conn, now)  # full: the round begins
    plant_drift(conn, now)
    found = {}
    for hour in range(1, ROUND_HOURS + 1):
        # the planted drift may show in a score rescored before its share is checked
        kind, reason, row = cycle(conn, now + timedelta(hours=hour), oracle=hour == ROUND_HOURS)
        assert kind == ("reconcile" if hour == ROUND_HOURS else "incremental"), (hour, reason)
        if hour < ROUND_HOURS:
            for key, n in row["drift"].items():
                found[key] = found.get(key, 0) + n
    assert reason.startswith(f"reconciliation is due (reconcile_every {ROUND_HOURS} hours")
    drift = row["drift"]  # the round's
    assert drift["play_hours"] == 1 and drift["tracks"] >= 1 and drift["playlists"] == 1, drift
    assert drift["track_users"] == 1 and drift["playlist_users"] == 1, drift
    assert all(found.get(key, 0) <= n for key, n in drift.items()), (found, drift)
    status = conn.execute("SELECT drift_found, last_reconcile_drift FROM trending.status").fetchone()
    assert status == (True, drift)
    metric = conn.execute("SELECT value FROM trending.metrics WHERE metric = 'last_reconcile_drift' "
                          "AND counter = 'play_hours'").fetchone()
    assert metric == (1.0,)
    for hour in range(ROUND_HOURS + 1, 2 * ROUND_HOURS + 1):  # the next round: nothing left
        kind, _, row = cycle(conn, now + timedelta(hours=hour))
    assert kind == "reconcile" and row["drift"] == {"tracks": 0, "playlists": 0, "play_hours": 0, "track_users": 0,
                                                   "playlist_users": 0}
    assert conn.execute("SELECT drift_found FROM trending.status").fetchone() == (False,)


def test_after_a_gap_the_round_checks_two_cycles_shares_a_cycle_and_still_finds_the_drift(conn):
    """Issue 18, item 3: a gap as long as the round does not leave the whole
    round to one cycle. The cycle after it checks two hours' share (the
    round's position says so, and the reason says the round is behind); the
    next completes the round, late, and the planted drift is found,
    counted and repaired all the same."""
    conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'reconcile_every'", (f"{ROUND_HOURS} hours",))
    cycle(conn, NOW)  # full: the round begins
    plant_drift(conn, NOW)
    kind, reason, row = cycle(conn, NOW + timedelta(hours=ROUND_HOURS), oracle=False)
    assert kind == "incremental" and "behind after a gap (50% of it checked where the clock says 100%)" in reason
    (position,) = conn.execute("SELECT (rotation ->> 'position')::float8 FROM trending._state_meta").fetchone()
    assert position == 2 / ROUND_HOURS
    kind, reason, row = cycle(conn, NOW + timedelta(hours=ROUND_HOURS + 1))
    assert kind == "reconcile", reason
    drift = row["drift"]
    assert drift["play_hours"] == 1 and drift["tracks"] >= 1 and drift["playlists"] == 1, drift
    assert drift["track_users"] == 1 and drift["playlist_users"] == 1, drift


def test_reconciliation_switched_off_leaves_planted_drift_in_the_scores(conn):
    """The counter-proof of the test above, and the proof that incremental
    cycles read the state: with the test hook that switches the
    reconciliation off, the same drift is never found, and a score is wrong
    once its item is rescored from the wrong sums."""
    conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'reconcile_every'", (f"{ROUND_HOURS} hours",))
    cycle(conn, NOW)
    track = plant_drift(conn, NOW)
    conn.execute("SET trending.test_skip_reconciliation = on")
    try:
        for hour in range(1, ROUND_HOURS + 1):
            kind, _, row = cycle(conn, NOW + timedelta(hours=hour), oracle=False)
            assert row["drift"] is None
        conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) VALUES (%s, %s)",
                     (track, NOW.replace(tzinfo=None) + timedelta(hours=ROUND_HOURS)))
        cycle(conn, NOW + timedelta(hours=ROUND_HOURS + 1), oracle=False)
    finally:
        conn.execute("RESET trending.test_skip_reconciliation")
    mismatches = oracle_mismatches(conn, SOURCE, NOW + timedelta(hours=ROUND_HOURS + 1), ALL_STRATEGIES)
    assert any(f"({track}, " in m for m in mismatches), mismatches


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_cycle_failing_part_way_loses_no_change(conn, dsn, entry):
    cycle(conn, NOW, entry)
    now = NOW + timedelta(hours=1)
    write(conn, now, 1)
    state = conn.execute("SELECT since, cycle_now FROM trending._state_meta").fetchone()
    # the track steps done (and, for the procedure, committed), then cancelled
    with Background(dsn, ENTRY_POINTS[entry], (now,), pause="playlist_inputs:60") as run:
        run.wait_until_paused(conn)
        conn.execute("SELECT pg_cancel_backend(%s)", (run.pid,))
        assert run.finished.wait(60)
    assert isinstance(run.error, psycopg.errors.QueryCanceled), run.error
    assert conn.execute("SELECT since, cycle_now FROM trending._state_meta").fetchone() == state, \
        "the state moves only with the watermark, in the last step"
    write(conn, now + timedelta(hours=1), 2)
    assert cycle(conn, now + timedelta(hours=1), entry)[0] == "incremental"


def test_a_role_given_grant_cycle_runs_incremental_cycles_but_cannot_touch_the_state(conn, dsn):
    with psycopg.connect(dsn, autocommit=True) as job:
        job.execute(f"SET ROLE {JOB}")
        for hour, entry, kind in ((0, "recompute", "full"), (1, "recompute", "incremental"),
                                  (2, "scheduled", "incremental")):
            write(conn, NOW + timedelta(hours=hour), hour)
            job.execute(ENTRY_POINTS[entry], (NOW + timedelta(hours=hour),))
            assert conn.execute("SELECT cycle_kind, run_by FROM trending.runs ORDER BY run_id DESC LIMIT 1"
                                ).fetchone() == (kind, JOB)
            assert not oracle_mismatches(conn, SOURCE, NOW + timedelta(hours=hour), ALL_STRATEGIES)
    conn.execute(f"SET ROLE {JOB}")
    for statement in ("UPDATE trending._state_meta SET valid = true",
                      "DELETE FROM trending._state_play_buckets",
                      "SELECT trending._state_write(1, 'begin', true)",
                      "SELECT trending._state_finish(1, now()::timestamp, 'x', 'full')",
                      "SELECT trending._state_advance(1, now()::timestamp, now()::timestamp)"):
        with pytest.raises(psycopg.Error):
            conn.execute(statement)


SCORE_TABLES = ("track_trending_scores", "playlist_trending_scores")


def score_rows_read(plans: list[dict]) -> int:
    """Rows the cycle's statements read from the score tables (actual rows x
    loops of every scan node on them), leaving out the movers' top-N reads
    (bounded by movers_top_n, not by the data)."""
    total = 0
    for p in plans:
        if "movers_top" in p.get("Query Text", ""):
            continue
        for node in nodes(p["Plan"]):
            if node.get("Relation Name") in SCORE_TABLES:
                total += int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
    return total


TINY_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def tiny(make_db):
    """The sample data at scale tiny (2,000 tracks, 200 playlists), all
    strategies on, the capture installed."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cli"))
    from trending_cli.sample_data.generate import generate

    dsn = make_db("incremental_reads")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        generate(conn, "sample", scale="tiny", seed=3, as_of=TINY_AS_OF)
        use_source_schema(conn, "sample")
        enable_strategies(conn)
        conn.execute("SELECT trending.install_capture()")
    return dsn


def test_an_incremental_cycle_reads_only_the_affected_stored_rows(tiny):
    """On the sample data (2,000 tracks), with auto_explain: an incremental
    cycle reads a small part of the score tables, the tracks' by index; a full
    cycle reads every row (so the test can fail)."""
    as_of = TINY_AS_OF
    with psycopg.connect(tiny, autocommit=True) as conn:
        conn.execute("SET client_min_messages = notice")
        conn.execute("SELECT trending.recompute(%s)", (as_of,))
        conn.execute("ANALYZE trending.track_trending_scores, trending.playlist_trending_scores")
        conn.execute("INSERT INTO sample.plays (user_id, play_item_id, created_at) SELECT user_id, play_item_id, "
                     "created_at + interval '1 hour' FROM sample.plays ORDER BY id DESC LIMIT 30")
        stored = sum(conn.execute(f"SELECT count(*) FROM trending.{t}").fetchone()[0] for t in SCORE_TABLES)
        (summary,), plans = nested_plans(conn, "SELECT trending.recompute(%s)", (as_of + timedelta(hours=1),),
                                         analyze=True)
        assert summary[0]["cycle"]["kind"] == "incremental"
        incremental = score_rows_read(plans)
        assert 0 < incremental < stored / 4, (incremental, stored)
        # the tracks' table: the sample's playlist table is a few hundred
        # rows, where a Seq Scan is the planner's right choice once it has
        # statistics (autovacuum gave it them, or not, mid-test: ANALYZE
        # above makes the plans the same every run)
        seq_scans = [p.get("Query Text", "")[:300] for p in plans for node in nodes(p["Plan"])
                     if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "track_trending_scores"]
        assert not seq_scans, seq_scans
        stored = sum(conn.execute(f"SELECT count(*) FROM trending.{t}").fetchone()[0] for t in SCORE_TABLES)
        (summary,), plans = nested_plans(conn, "SELECT trending.recompute(%s, true)", (as_of + timedelta(hours=1),),
                                         analyze=True)
        assert summary[0]["cycle"]["kind"] == "full"
        assert score_rows_read(plans) >= stored, "a full cycle reads every stored row"
        assert not oracle_mismatches(conn, "sample", as_of + timedelta(hours=1), ALL_STRATEGIES)


def test_the_shares_items_found_unchanged_keep_their_scores_unscored(tiny):
    """Compare, then rescore: on the sample data, the share's items that
    nothing else affects and whose inputs equal the state's are counted
    `unchanged` and are neither scored nor compared (each slice stages at
    most the items rescored), and every score still equals the oracle's. A
    share item that did drift is rescored:
    test_a_missed_capture_is_found_counted_and_repaired_by_the_rotation
    (test_incremental_streams.py) fails otherwise."""
    now = TINY_AS_OF + timedelta(hours=3)
    with psycopg.connect(tiny, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("UPDATE trending.settings SET value = '4 hours' WHERE name = 'reconcile_every'")
        try:
            conn.execute("SELECT trending.recompute(%s, true)", (now,))  # full: the round begins
            conn.execute("INSERT INTO sample.plays (user_id, play_item_id, created_at) SELECT user_id, play_item_id, "
                         "%s FROM sample.plays ORDER BY id DESC LIMIT 30", (now.replace(tzinfo=None),))
            now += timedelta(hours=1)
            (summary,) = conn.execute("SELECT trending.recompute(%s)", (now,)).fetchone()
        finally:
            conn.execute("UPDATE trending.settings SET value = '1 day' WHERE name = 'reconcile_every'")
        assert summary["cycle"]["kind"] == "incremental", summary["cycle"]
        reconciled, rescored = summary["cycle"]["reconciled"], summary["cycle"]["affected"]
        slices = [(name, r) for name, strategy in summary["strategies"].items() if strategy["enabled"]
                  for r in strategy["ranges"].values()]
        for kind in ("track", "playlist"):
            share, kept = reconciled["items"][f"{kind}s"], reconciled["unchanged"][f"{kind}s"]
            assert share / 2 < kept <= share, (kind, reconciled)
            staged = max(r["inserted"] + r["updated"] + r["unchanged"] for name, r in slices
                         if name.startswith("PLAYLISTS") == (kind == "playlist"))
            assert staged <= rescored[kind], (kind, staged, rescored, kept)
        assert not oracle_mismatches(conn, "sample", now, ALL_STRATEGIES)


def test_catch_up_is_incremental_until_finding_what_changed_costs_more(tiny):
    """Issue 18, item 3: no fixed gap makes a cycle full. 30 hours with few
    changes stay incremental (and equal the oracle); a gap with a change to
    every track runs full, and says what it estimated against what; so does
    a gap that leaves most of a round of reconciliation to one cycle."""
    now = TINY_AS_OF + timedelta(hours=2)
    with psycopg.connect(tiny, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        # rounds of 7 days: 30 hours leave 18% of the items to reconcile
        conn.execute("UPDATE trending.settings SET value = '7 days' WHERE name = 'reconcile_every'")
        conn.execute("SELECT trending.recompute(%s, true)", (now,))
        conn.execute("INSERT INTO sample.plays (user_id, play_item_id, created_at) SELECT user_id, play_item_id, "
                     "%s - interval '3 hours' FROM sample.plays ORDER BY id DESC LIMIT 30", (now.replace(tzinfo=None),))
        now += timedelta(hours=30)
        (summary,) = conn.execute("SELECT trending.recompute(%s)", (now,)).fetchone()
        assert summary["cycle"]["kind"] == "incremental", summary["cycle"]["reason"]
        assert not oracle_mismatches(conn, "sample", now, ALL_STRATEGIES)
        for _ in range(2):  # every track named, twice: each counts once
            conn.execute("UPDATE sample.aggregate_plays SET count = count + 1")
        now += timedelta(hours=6)
        (summary,) = conn.execute("SELECT trending.recompute(%s)", (now,)).fetchone()
        reason = summary["cycle"]["reason"]
        (tracks,) = conn.execute("SELECT count(DISTINCT play_item_id) FROM sample.aggregate_plays").fetchone()
        assert f"(estimated: {tracks} named by the changes, " in reason, (tracks, reason)
        assert summary["cycle"]["kind"] == "full", reason
        assert reason.startswith("06:00:00 since the last cycle: about ") and "items affected (estimated: " in reason
        assert "more than 20% of them and than 1000: a full cycle costs less than finding them" in reason
        assert "due for reconciliation, weighed 0.25) of " in reason
        assert not oracle_mismatches(conn, "sample", now, ALL_STRATEGIES)
        # a round of 1 day, 25 quiet hours later: the round is all due, but the
        # cycle checks two hours' share of it (the rest is left to the next
        # cycles), so it stays incremental
        conn.execute("UPDATE trending.settings SET value = '1 day' WHERE name = 'reconcile_every'")
        now += timedelta(hours=25)
        (summary,) = conn.execute("SELECT trending.recompute(%s)", (now,)).fetchone()
        assert summary["cycle"]["kind"] == "incremental", summary["cycle"]["reason"]
        assert summary["cycle"]["reconciled"]["position"] == round(2 / 24, 4), summary["cycle"]
        assert "the round of reconciliation is behind after a gap (8% of it checked where the clock says 100%)" \
            in summary["cycle"]["reason"]
        assert not oracle_mismatches(conn, "sample", now, ALL_STRATEGIES)


def _add_playlist(conn, pid: int, owner: int, created_at: datetime) -> None:
    conn.execute(f"INSERT INTO {SOURCE}.playlists (playlist_id, txhash, playlist_owner_id, is_current, is_delete, "
                 "is_private, playlist_contents, created_at) VALUES (%s, %s, %s, true, false, false, "
                 """'{"track_ids": [{"track": 1}, {"track": 2}, {"track": 3}]}'::jsonb, %s)""",
                 (pid, f"p{pid}", owner, created_at))


def _save_playlist(conn, user: int, pid: int, created_at: datetime) -> None:
    conn.execute(f"INSERT INTO {SOURCE}.saves (user_id, save_item_id, save_type, txhash, is_current, is_delete, "
                 "created_at) VALUES (%s, %s, 'playlist', %s, true, false, %s)", (user, pid, f"s{user}-{pid}", created_at))


def _playlist_scores(conn, pid: int) -> dict:
    return dict(conn.execute("SELECT time_range, score FROM trending.playlist_trending_scores WHERE playlist_id = %s",
                             (pid,)).fetchall())


@pytest.fixture
def own_rows(conn):
    """Users 990001.. (and their saves and reposts) and playlists 990101.. of a test's own, removed after it."""
    yield
    for table, column in (("saves", "user_id"), ("reposts", "user_id"), ("playlists", "playlist_owner_id"),
                          ("aggregate_user", "user_id"),
                          ("users", "user_id")):
        conn.execute(f"DELETE FROM {SOURCE}.{table} WHERE {column} >= 990000")


def test_a_weight_of_zero_appearing_or_vanishing_sums_a_playlist_karma_again(conn, own_rows):
    """A playlist's karma is NULL without a contributor that has a weight
    (K = 1), and 0 with one whose weight is 0 (the score is 0): no
    difference can say which, so that user's playlists are summed again."""
    owner, fan, pid = 990001, 990002, 990101
    base = NOW.replace(tzinfo=None)
    conn.execute(f"INSERT INTO {SOURCE}.users (user_id, txhash, is_current, cover_photo, profile_picture, bio) "
                 "VALUES (%s, 'u1', true, 'c', 'p', NULL)", (fan,))  # no bio: no weight
    conn.execute(f"INSERT INTO {SOURCE}.aggregate_user (user_id, follower_count, following_count) "
                 "VALUES (%s, 100, 0), (%s, 0, 0)", (owner, fan))
    _add_playlist(conn, pid, owner, base - timedelta(days=2))
    _save_playlist(conn, fan, pid, base - timedelta(hours=1))
    cycle(conn, NOW)
    assert set(_playlist_scores(conn, pid)) == {"week", "month", "year"}, "karma NULL: K = 1"
    conn.execute(f"UPDATE {SOURCE}.users SET bio = 'b' WHERE user_id = %s", (fan,))  # a weight of 0 appears
    assert cycle(conn, NOW + timedelta(hours=1))[0] == "incremental"
    assert _playlist_scores(conn, pid) == {}, "karma 0: every score 0, no row"
    conn.execute(f"UPDATE {SOURCE}.users SET bio = NULL WHERE user_id = %s", (fan,))  # and vanishes
    assert cycle(conn, NOW + timedelta(hours=2))[0] == "incremental"
    assert set(_playlist_scores(conn, pid)) == {"week", "month", "year"}


def test_a_newly_eligible_playlist_is_rescored_when_its_saves_leave_a_window(conn, own_rows):
    """A playlist enters the state when its owner gets an aggregate_user row;
    the hours of its saves, made before, must be kept (by the full cycle that
    saw it not eligible, or the incremental one that reads it whole), or a
    save leaving the week window later would go unseen."""
    owner, fan, pid = 990003, 990004, 990102
    base = NOW.replace(tzinfo=None)
    conn.execute(f"INSERT INTO {SOURCE}.users (user_id, txhash, is_current, cover_photo, profile_picture, bio) "
                 "VALUES (%s, 'u2', true, 'c', 'p', 'b')", (fan,))
    conn.execute(f"INSERT INTO {SOURCE}.aggregate_user (user_id, follower_count, following_count) "
                 "VALUES (%s, 10, 0)", (fan,))
    _add_playlist(conn, pid, owner, base - timedelta(days=20))
    _save_playlist(conn, fan, pid, base - timedelta(days=7) + timedelta(minutes=30))
    cycle(conn, NOW)
    assert _playlist_scores(conn, pid) == {}, "no aggregate_user row for the owner: not eligible"
    conn.execute(f"INSERT INTO {SOURCE}.aggregate_user (user_id, follower_count, following_count) "
                 "VALUES (%s, 50, 0)", (owner,))
    assert cycle(conn, NOW + timedelta(minutes=10))[0] == "incremental"
    before = _playlist_scores(conn, pid)
    assert set(before) == {"week", "month", "year"}
    assert cycle(conn, NOW + timedelta(minutes=70))[0] == "incremental"  # the save left the week window
    assert _playlist_scores(conn, pid)["week"] < before["week"]


def _track_actions(conn, track_id: int, source: bool) -> list:
    """The live saves and reposts of a track, as the sources hold them or as the state does."""
    if source:
        rows = conn.execute(
            f"SELECT false, user_id::bigint, created_at::text FROM {SOURCE}.saves WHERE save_item_id = %(t)s"
            f" AND save_type = 'track' AND is_current AND NOT is_delete"
            f" UNION ALL SELECT true, user_id::bigint, created_at::text FROM {SOURCE}.reposts WHERE repost_item_id = %(t)s"
            f" AND repost_type = 'track' AND is_current AND NOT is_delete", {"t": track_id}).fetchall()
    else:
        rows = conn.execute("SELECT is_repost, user_id, created_at::text FROM trending._state_track_actions"
                            " WHERE track_id = %s", (track_id,)).fetchall()
    return sorted(rows, key=repr)


def test_a_tracks_saves_and_reposts_move_by_differences_copies_and_nulls_included(conn, own_rows):
    """The state keeps each live save and repost of a track as a multiset:
    two identical live saves (the same user and date, another txhash) are
    two rows, one undone leaves one; a repost dated -infinity counts in no
    window but in the karma (and as an absurd row), and given a date it
    enters the week. A
    changed follower count moves the karma over the stored rows. After
    every incremental cycle the scores are the oracle's and the state's
    rows of the track are the sources'."""
    fan, other = 990011, 990012
    base = NOW.replace(tzinfo=None)
    track = conn.execute(f"SELECT track_id FROM {SOURCE}.tracks WHERE is_current AND NOT is_delete AND NOT is_unlisted"
                         " AND stem_of IS NULL GROUP BY track_id HAVING count(*) = 1 ORDER BY track_id LIMIT 1"
                         ).fetchone()[0]
    conn.execute(f"INSERT INTO {SOURCE}.users (user_id, txhash, is_current, cover_photo, profile_picture, bio) "
                 "VALUES (%s, 'u11', true, 'c', 'p', 'b'), (%s, 'u12', true, 'c', 'p', 'b')", (fan, other))
    conn.execute(f"INSERT INTO {SOURCE}.aggregate_user (user_id, follower_count, following_count) "
                 "VALUES (%s, 100, 0), (%s, 7, 0)", (fan, other))
    conn.execute(f"INSERT INTO {SOURCE}.saves (user_id, save_item_id, save_type, txhash, is_current, is_delete, "
                 "created_at) VALUES (%(u)s, %(t)s, 'track', 'copy1', true, false, %(at)s),"
                 " (%(u)s, %(t)s, 'track', 'copy2', true, false, %(at)s)",
                 {"u": fan, "t": track, "at": base - timedelta(days=3)})
    conn.execute(f"INSERT INTO {SOURCE}.reposts (user_id, repost_item_id, repost_type, txhash, is_current, is_delete, "
                 "created_at) VALUES (%s, %s, 'track', 'undated', true, false, '-infinity')", (other, track))
    assert cycle(conn, NOW)[0] == "full"
    assert _track_actions(conn, track, source=False) == _track_actions(conn, track, source=True)
    steps = [
        f"UPDATE {SOURCE}.saves SET is_delete = true WHERE txhash = 'copy2'",  # one copy undone
        f"UPDATE {SOURCE}.reposts SET created_at = '{base - timedelta(days=1)}' WHERE txhash = 'undated'",
        f"UPDATE {SOURCE}.aggregate_user SET follower_count = 250 WHERE user_id = {fan}",
        f"UPDATE {SOURCE}.saves SET is_delete = false WHERE txhash = 'copy2'",  # and redone
    ]
    for hour, statement in enumerate(steps, start=1):
        conn.execute(statement)
        kind = cycle(conn, NOW + timedelta(hours=hour))[0]
        assert kind == "incremental", statement
        assert _track_actions(conn, track, source=False) == _track_actions(conn, track, source=True), statement
