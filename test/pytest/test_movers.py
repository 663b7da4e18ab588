"""trending.movers() and NOTIFY trending (issue 11, item 3), against real
cycles: the entries into, exits from and climbs within the top N of every
list the API reads are computed here, independently, from the score tables
as two cycles left them (stored scores checked against the oracle), and
compared with what movers() returns; the movers table stays bounded; a
LISTENing connection receives one small payload per successful cycle and
nothing from a failed or rolled-back one."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from rich.console import Console
from rich.text import Text

from support.harness import ALL_STRATEGIES, enable_strategies, playlist_scores, recompute, track_scores
from support.harness import use_source_schema
from support.random_datasets import drop_schema, load_dataset, random_dataset, run_cycle

TOP_N = 5
MAX_GENRES = 2
TRACK_RANGES = ("week", "month", "allTime")
PLAYLIST_RANGES = ("week", "month", "year")
MOVEMENTS_SEEN: Counter = Counter()


@pytest.fixture(scope="module")
def mdsn(make_db):
    return make_db("trending_movers")


@pytest.fixture
def mconn(mdsn):
    with psycopg.connect(mdsn, autocommit=True) as connection:
        connection.execute("UPDATE trending.settings SET value = %s WHERE name = 'movers_top_n'", (str(TOP_N),))
        connection.execute("UPDATE trending.settings SET value = %s WHERE name = 'movers_max_genres'",
                           (str(MAX_GENRES),))
        yield connection


def expected_lists(tracks: dict, playlists: dict) -> dict:
    """{(kind, time_range, genre): [id, ...] in rank order} as the API ranks
    them (score DESC, id DESC), the top TOP_N; genre '' is the overall list;
    per range the MAX_GENRES genres with the most scored tracks (ties by name)."""
    lists = {}
    for rng in TRACK_RANGES:
        rows = [(score, tid, genre) for (tid, typ, ver, r), (score, genre) in tracks.items()
                if (typ, ver, r) == ("TRACKS", "pnagD", rng)]
        if rows:
            lists[("track", rng, "")] = [tid for _, tid, _ in sorted(rows, reverse=True)[:TOP_N]]
        counts = Counter(genre for _, _, genre in rows if genre)
        for genre, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_GENRES]:
            ranked = sorted((s, t) for s, t, g in rows if g == genre)[::-1]
            lists[("track", rng, genre)] = [t for _, t in ranked[:TOP_N]]
    for rng in PLAYLIST_RANGES:
        rows = [(score, pid) for (pid, typ, ver, r), score in playlists.items() if (typ, ver, r) == ("PLAYLISTS", "pnagD", rng)]
        if rows:
            lists[("playlist", rng, "")] = [pid for _, pid in sorted(rows, reverse=True)[:TOP_N]]
    return lists


def expected_movers(before: list, after: list) -> set:
    """{(movement, id, previous_rank, rank)} between two versions of one list."""
    old = {id_: rank for rank, id_ in enumerate(before, start=1)}
    new = {id_: rank for rank, id_ in enumerate(after, start=1)}
    out = {("entry", i, None, r) for i, r in new.items() if i not in old}
    out |= {("exit", i, r, None) for i, r in old.items() if i not in new}
    out |= {("climb", i, old[i], r) for i, r in new.items() if i in old and r < old[i]}
    return out


def movers(conn, kind, rng, genre) -> list:
    return conn.execute("SELECT movement, id, previous_rank, rank, climb, previous_score, score, since, as_of "
                        "FROM trending.movers(%s, %s, %s)", (rng, genre or None, kind)).fetchall()


def two_cycles(conn, seed: int, entry: str):
    """A cycle at the dataset's now - 3 days, then one at its now; the stored
    scores after each (the second checked against the oracle)."""
    ds = random_dataset(seed)
    schema = f"movers_{seed}"
    load_dataset(conn, schema, ds)
    use_source_schema(conn, schema)
    enable_strategies(conn, ALL_STRATEGIES)
    first = recompute(conn, ds.now - timedelta(days=3))
    assert first["status"] == "ok"
    before = expected_lists(track_scores(conn), playlist_scores(conn))
    result = run_cycle(conn, schema, ds, load=False, entry=entry)
    result.assert_matches_oracle()
    return ds, before, expected_lists(result.got_tracks, result.got_playlists)


@pytest.mark.parametrize("seed", range(8))
def test_movers_are_the_changes_between_two_cycles(mconn, seed):
    ds, before, after = two_cycles(mconn, seed, "recompute" if seed % 2 else "scheduled")
    both = before.keys() & after.keys()
    for kind, rng, genre in sorted(both):
        got = movers(mconn, kind, rng, genre)
        want = expected_movers(before[(kind, rng, genre)], after[(kind, rng, genre)])
        assert {(m, i, p, r) for m, i, p, r, *_ in got} == want, (seed, kind, rng, genre)
        assert len(got) == len(want), "one row per mover"
        for movement, id_, prev, rank, climb, prev_score, score, since, as_of in got:
            MOVEMENTS_SEEN[movement] += 1
            assert climb == (None if prev is None or rank is None else prev - rank)
            assert (prev_score is None) == (prev is None) and (score is None) == (rank is None)
            assert as_of == ds.now and since == ds.now - timedelta(days=3)
        # entries by rank, then climbs biggest first, then exits by previous rank
        order = [(m, -(c or 0), r or 0, p or 0) for m, _, p, r, c, *_ in got]
        key = {"entry": 0, "climb": 1, "exit": 2}
        assert order == sorted(order, key=lambda o: (key[o[0]], o[1], o[2], o[3]))
    # a list in only one generation (a genre entering the cap) has no movers yet
    for kind, rng, genre in (before.keys() ^ after.keys()):
        assert movers(mconn, kind, rng, genre) == []
    # the lists recorded are exactly the expected ones, each as ranked
    recorded = mconn.execute("""
SELECT kind, time_range, genre, array_agg(id ORDER BY rank)
FROM trending.movers_top WHERE run_id = (SELECT max(run_id) FROM trending.movers_top)
GROUP BY 1, 2, 3""").fetchall()
    assert {(k, r, g): ids for k, r, g, ids in recorded} == after


def test_movers_saw_every_movement():
    """The datasets above exercise entries, exits and climbs (runs after them)."""
    if not MOVEMENTS_SEEN:
        pytest.skip("run with test_movers_are_the_changes_between_two_cycles")
    assert all(MOVEMENTS_SEEN[m] > 0 for m in ("entry", "exit", "climb")), MOVEMENTS_SEEN


def test_movers_table_stays_bounded(mconn):
    ds = random_dataset(3)
    load_dataset(mconn, "movers_bounded", ds)
    try:
        use_source_schema(mconn, "movers_bounded")
        enable_strategies(mconn, ALL_STRATEGIES)
        runs = [r[0] for r in mconn.execute("SELECT max(run_id) FROM trending.movers_top").fetchall() if r[0]]
        for hours in (72, 48, 24, 12, 0):
            runs.append(recompute(mconn, ds.now - timedelta(hours=hours))["run_id"])
            generations = [r[0] for r in mconn.execute(
                "SELECT DISTINCT run_id FROM trending.movers_top ORDER BY 1").fetchall()]
            assert generations == runs[-2:], "only the last two successful cycles are kept"
            for rows, lists in mconn.execute("""
SELECT count(*), count(DISTINCT (kind, time_range, genre)) FROM trending.movers_top GROUP BY run_id"""):
                assert rows <= lists * TOP_N
                assert lists <= len(TRACK_RANGES) * (1 + MAX_GENRES) + len(PLAYLIST_RANGES)
    finally:
        drop_schema(mconn, "movers_bounded")


def test_movers_validates_its_arguments(mconn):
    for args, needle in ((("day", None, "track"), "time_range"), (("week", None, "album"), "kind"),
                         (("year", None, "track"), "time_range"), (("allTime", None, "playlist"), "time_range"),
                         (("week", "Rock", "playlist"), "no genre")):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=needle):
            mconn.execute("SELECT * FROM trending.movers(%s, %s, %s)", args)
    for name, bad in (("movers_top_n", "0"), ("movers_top_n", "1001"), ("movers_top_n", "01"),
                      ("movers_max_genres", "-1"), ("movers_max_genres", "x")):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=name):
            mconn.execute("UPDATE trending.settings SET value = %s WHERE name = %s", (bad, name))


# -- NOTIFY trending -----------------------------------------------------------

def _drain(listener, marker: str) -> list:
    """Every notification on channel trending up to the marker the test sent
    after the cycle (NOTIFYs arrive in commit order: no wait on a guess)."""
    got = []
    for note in listener.notifies(timeout=60):
        if note.payload == marker:
            return got
        got.append(json.loads(note.payload))
    raise AssertionError(f"the marker {marker!r} never arrived (got {got})")


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_notify_after_each_successful_cycle(mconn, mdsn, entry):
    ds = random_dataset(5)
    load_dataset(mconn, "movers_notify", ds)
    try:
        use_source_schema(mconn, "movers_notify")
        enable_strategies(mconn, ALL_STRATEGIES)
        recompute(mconn, ds.now - timedelta(days=2))
        with psycopg.connect(mdsn, autocommit=True) as listener:
            listener.execute("LISTEN trending")
            statement = ("SELECT trending.recompute(%s)" if entry == "recompute"
                         else "CALL trending.scheduled_recompute(%s)")
            mconn.execute(statement, (ds.now,))
            mconn.execute("SELECT pg_notify('trending', 'marker')")
            notes = _drain(listener, "marker")
        (run_id, now) = mconn.execute("SELECT run_id, cycle_now FROM trending.runs WHERE status = 'ok' "
                                      "ORDER BY run_id DESC LIMIT 1").fetchone()
        assert len(notes) == 1, notes
        (note,) = notes
        assert set(note) == {"run_id", "status", "now", "entries"}
        assert note["run_id"] == run_id and note["status"] == "ok"
        assert note["now"] == now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f").removesuffix(".000000")
        # the total is the sum of movers()'s entries over every list of both generations
        lists = mconn.execute("SELECT DISTINCT kind, time_range, genre FROM trending.movers_top").fetchall()
        entries = sum(1 for k, r, g in lists for m in movers(mconn, k, r, g) if m[0] == "entry")
        assert note["entries"] == entries
        assert len(json.dumps(note)) < 8000
    finally:
        drop_schema(mconn, "movers_notify")


def test_no_notify_from_a_failed_or_rolled_back_cycle(mconn, mdsn):
    ds = random_dataset(6)
    load_dataset(mconn, "movers_fail", ds)
    try:
        use_source_schema(mconn, "movers_fail")
        enable_strategies(mconn, ALL_STRATEGIES)
        recompute(mconn, ds.now - timedelta(days=1))
        recorded = mconn.execute("SELECT * FROM trending.movers_top ORDER BY 1, 3, 4, 5, 6").fetchall()
        with psycopg.connect(mdsn, autocommit=True) as listener:
            listener.execute("LISTEN trending")
            # rolled back by its caller: NOTIFY is delivered at commit only
            with mconn.transaction(force_rollback=True):
                assert recompute(mconn, ds.now)["status"] == "ok"
            # failed: a source table is missing
            mconn.execute("ALTER TABLE movers_fail.plays RENAME TO plays_gone")
            with pytest.raises(psycopg.errors.UndefinedTable):
                recompute(mconn, ds.now)
            with pytest.raises(psycopg.errors.UndefinedTable):  # recorded failed, then re-raised
                mconn.execute("CALL trending.scheduled_recompute(%s)", (ds.now,))
            (status,) = mconn.execute("SELECT status FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()
            assert status == "failed"
            mconn.execute("SELECT pg_notify('trending', 'marker')")
            assert _drain(listener, "marker") == []
        assert mconn.execute("SELECT * FROM trending.movers_top ORDER BY 1, 3, 4, 5, 6").fetchall() == recorded
    finally:
        drop_schema(mconn, "movers_fail")


# -- the CLI: `trending movers`, `trending top --chart` ----------------------------

CLI_AS_OF = datetime(2026, 3, 31, 12, tzinfo=timezone.utc)
TRENDING = [sys.executable, "-m", "trending_cli"]
CLI_ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "cli"), "PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="module")
def cli_music(make_db) -> str:
    """The tiny sample data, a cycle a day before CLI_AS_OF and one at it."""
    from trending_cli.sample_data import generate

    dsn = make_db("movers_cli")
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "music", scale="tiny", seed=1, as_of=CLI_AS_OF)
        conn.execute("UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema'")
        conn.execute("UPDATE trending.settings SET value = '20' WHERE name = 'movers_top_n'")
        recompute(conn, CLI_AS_OF - timedelta(days=1))
        recompute(conn, CLI_AS_OF)
    return dsn


def _cli(*args: str) -> str:
    result = subprocess.run([*TRENDING, *args], capture_output=True, text=True, timeout=120, env=CLI_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _cli_on_a_tty(*args: str) -> str:
    """Run the CLI with stdout on a pseudo-terminal; what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*TRENDING, *args], stdout=follower, stderr=subprocess.PIPE,
                            env={**CLI_ENV, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    return out.decode()


def _sql_movers(dsn, *args):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT movement, id, previous_rank, rank FROM trending.movers(%s, %s, %s)",
                            args).fetchall()


BAR = "\u2501"  # rich's bar glyph: a chart has them, a plain table never


def test_cli_movers_prints_plain_text_off_a_terminal(cli_music):
    want = _sql_movers(cli_music, "week", None, "track")
    assert want, "the sample data's two cycles move something"
    lines = _cli("--dsn", cli_music, "movers").splitlines()
    assert lines[0].startswith("top 20 week tracks, 2026-03-30 12:00:00 -> 2026-03-31 12:00:00 UTC")
    assert lines[1].split() == ["movement", "track_id", "was", "now", "climb", "old", "score", "new", "score"]
    got = [line.split() for line in lines[3:]]
    assert [(g[0], int(g[1].replace(",", ""))) for g in got] == [(m, i) for m, i, _, _ in want]
    assert BAR not in "\n".join(lines) and "\x1b[" not in "\n".join(lines)
    playlists = _cli("--dsn", cli_music, "movers", "--playlists", "--range", "month")
    assert playlists.startswith("top 20 month playlists") or playlists.startswith("no movers")


def test_cli_charts_on_a_terminal(cli_music, monkeypatch, capsys):
    """Forced in-process (rich's force_terminal) and for real (a pty)."""
    from trending_cli import charts
    from trending_cli.__main__ import main

    recorded = []

    def terminal():
        console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system="truecolor")
        recorded.append(console)
        return console

    monkeypatch.setattr(charts, "make_console", terminal)
    assert main(["--dsn", cli_music, "movers"]) == 0
    drawn = recorded[-1].file.getvalue()
    assert BAR in drawn or "\u2588" in drawn, drawn
    want = _sql_movers(cli_music, "week", None, "track")
    for movement, id_, _, _ in want:
        assert f" {id_} " in Text.from_ansi(drawn).plain, id_
    assert main(["--dsn", cli_music, "top", "--chart", "--limit", "5"]) == 0
    top = Text.from_ansi(recorded[-1].file.getvalue()).plain
    assert "trending week tracks" in top and top.count("\n") >= 6
    assert capsys.readouterr().out == "", "a chart goes to the console only"
    monkeypatch.undo()

    # a real terminal: the same commands draw (escape codes, bars); a pipe gets the plain table
    tty = _cli_on_a_tty("--dsn", cli_music, "top", "--chart", "--limit", "5")
    assert "\x1b[" in tty and ("\u2501" in tty or "\u2588" in tty or "\u257a" in tty), tty
    plain = _cli("--dsn", cli_music, "top", "--chart", "--limit", "5")
    assert plain == _cli("--dsn", cli_music, "top", "--limit", "5"), "--chart off a terminal changes nothing"
    assert "\x1b[" in _cli_on_a_tty("--dsn", cli_music, "movers")
