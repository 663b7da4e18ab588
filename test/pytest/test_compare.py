"""trending.compare_scores() and `trending compare`: the evidence before a
switch-over. The legacy tables are filled by the upstream's own strategies as
the benchmark re-expresses them (C0: no zero scores; C: zeros stored), so an
identical result is the real claim; a perturbed copy must show every
difference, each counted exactly where it was made."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from trending_cli.bench import contenders, upstream
from trending_cli.sample_data import generate

AS_OF = datetime(2026, 3, 31, 12, tzinfo=timezone.utc)
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"
COLUMNS = ("type", "version", "time_range", "trending_enabled", "legacy_rows", "trending_rows", "legacy_zero_rows",
           "only_legacy", "only_trending", "score_differs", "max_relative_diff", "genre_differs",
           "top_compared", "top_overlap", "top_same_order")


def trending(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


@pytest.fixture(scope="module")
def legacy(make_db) -> str:
    """trending (every strategy on) and the upstream's C0 and C at the same now."""
    dsn = make_db("compare")
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "music", scale="tiny", seed=5, as_of=AS_OF)
        extension = contenders.Extension()
        extension.setup(conn, "music")
        extension.cycle(conn, AS_OF, contenders.Options())
        for cls in (upstream.OneTransactionSlicesNoZeros, upstream.OneTransactionSlices):
            contender = cls()
            contender.setup(conn, "music")
            contender.cycle(conn, AS_OF, contenders.Options())
    return dsn


def compare(conn, relation: str, kind: str = "track", **options) -> dict[tuple, dict]:
    args = ", ".join([f"{name} => %({name})s" for name in options])
    rows = conn.execute(f"SELECT * FROM trending.compare_scores(%(rel)s, %(kind)s{', ' + args if args else ''})",
                        {"rel": relation, "kind": kind, **options}).fetchall()
    return {row[:3]: dict(zip(COLUMNS[3:], row[3:])) for row in rows}


def assert_identical(result: dict, *, zeros_expected: bool = False) -> None:
    for key, r in result.items():
        assert r["trending_enabled"], key
        assert r["legacy_rows"] == r["trending_rows"] > 0, key
        assert (r["only_legacy"], r["only_trending"], r["score_differs"]) == (0, 0, 0), (key, r)
        assert r["genre_differs"] in (0, None), (key, r)
        assert r["max_relative_diff"] <= 1e-9, (key, r)
        assert r["top_overlap"] == r["top_compared"] == min(100, r["trending_rows"]) and r["top_same_order"], (key, r)
        assert (r["legacy_zero_rows"] > 0) if zeros_expected else (r["legacy_zero_rows"] == 0), (key, r)


def test_the_upstreams_c0_tables_compare_identical_in_every_slice(legacy):
    with psycopg.connect(legacy) as conn:
        tracks = compare(conn, "upstream_c0.track_trending_scores")
        playlists = compare(conn, "upstream_c0.playlist_trending_scores", "playlist")
    assert {k[:2] for k in tracks} == {("TRACKS", "pnagD"), ("TRACKS", "AnlGe"), ("UNDERGROUND_TRACKS", "pnagD")}
    assert len(tracks) == 9 and len(playlists) == 3
    assert_identical(tracks)
    assert_identical(playlists)
    assert all(r["genre_differs"] == 0 for r in tracks.values())
    assert all(r["genre_differs"] is None for r in playlists.values()), "a playlist table has no genre"


def test_the_upstreams_zero_scores_are_counted_apart(legacy):
    with psycopg.connect(legacy) as conn:
        (zeros,) = conn.execute("SELECT count(*) FROM upstream_c.track_trending_scores WHERE score = 0").fetchone()
        result = compare(conn, "upstream_c.track_trending_scores")
    assert zeros > 0
    assert sum(r["legacy_zero_rows"] for r in result.values()) == zeros
    for key, r in result.items():
        assert (r["only_legacy"], r["only_trending"], r["score_differs"]) == (0, 0, 0), (key, r)


def test_a_perturbed_copy_shows_each_difference_where_it_was_made(legacy):
    """Into a copy of C0 (a view's columns, no key): a score off by 1e-6 and one
    off by 1e-12 (within the tolerance), a deleted row, an added row, a changed
    genre, the top two of a slice swapped, and a slice trending does not
    compute; every other slice stays identical."""
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS perturbed CASCADE")
        conn.execute("CREATE TABLE perturbed AS SELECT * FROM upstream_c0.track_trending_scores")
        week = "type = 'TRACKS' AND version = 'pnagD' AND time_range = 'week'"
        ids = [r[0] for r in conn.execute(
            f"SELECT track_id FROM perturbed WHERE {week} ORDER BY score DESC, track_id DESC").fetchall()]
        first, second, deep, tiny, gone, regenre = ids[0], ids[1], ids[150], ids[160], ids[170], ids[180]
        # the top two swap places: same set, another order
        conn.execute(f"""UPDATE perturbed p SET score = CASE WHEN p.track_id = %s THEN q.s2 ELSE q.s1 END
                         FROM (SELECT max(score) FILTER (WHERE track_id = %s) s1,
                                      max(score) FILTER (WHERE track_id = %s) s2 FROM perturbed WHERE {week}) q
                         WHERE {week} AND p.track_id IN (%s, %s)""", (first, first, second, first, second))
        conn.execute(f"UPDATE perturbed SET score = score * (1 + 1e-6) WHERE {week} AND track_id = %s", (deep,))
        conn.execute(f"UPDATE perturbed SET score = score * (1 + 1e-12) WHERE {week} AND track_id = %s", (tiny,))
        conn.execute(f"DELETE FROM perturbed WHERE {week} AND track_id = %s", (gone,))
        conn.execute("INSERT INTO perturbed SELECT 2000000001, 'TRACKS', 'Pop', 'pnagD', 'week', 1e12, now()")
        conn.execute(f"UPDATE perturbed SET genre = 'NotAGenre' WHERE {week} AND track_id = %s", (regenre,))
        conn.execute("INSERT INTO perturbed SELECT 7, 'TRACKS', NULL, 'XYZ', 'week', 1, now()")
        conn.execute("CREATE VIEW perturbed_view AS SELECT genre, score, time_range, version, type, track_id "
                     "FROM perturbed")
        result = compare(conn, "perturbed_view")

    changed = result.pop(("TRACKS", "pnagD", "week"))
    assert (changed["only_legacy"], changed["only_trending"]) == (1, 1)
    assert changed["score_differs"] == 3, "the swapped pair and the 1e-6 one; not the 1e-12 one"
    assert 1e-6 * 0.99 < changed["max_relative_diff"] and changed["genre_differs"] == 1
    # the added row (1e12) tops the legacy list and pushes its 100th out; the deleted row was below 100
    assert (changed["top_compared"], changed["top_overlap"], changed["top_same_order"]) == (100, 99, False)
    unknown = result.pop(("TRACKS", "XYZ", "week"))
    assert not unknown["trending_enabled"] and (unknown["only_legacy"], unknown["trending_rows"]) == (1, 0)
    assert_identical(result)


def test_a_relation_without_the_columns_is_refused_with_a_hint(legacy):
    with psycopg.connect(legacy) as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn) as raised:
            conn.execute("SELECT * FROM trending.compare_scores('upstream_c0.playlist_trending_scores')")
        assert "lacks the column(s) track_id of a track score table" in str(raised.value)
        assert "kind => 'playlist'" in raised.value.diag.message_hint
    with psycopg.connect(legacy) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid kind 'tracks'"):
            conn.execute("SELECT * FROM trending.compare_scores('upstream_c0.track_trending_scores', 'tracks')")


# -- the CLI ---------------------------------------------------------------------------
def test_cli_compare_says_identical_and_exits_0(legacy):
    result = trending("--dsn", legacy, "compare", "upstream_c0.track_trending_scores",
                      "upstream_c0.playlist_trending_scores")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "upstream_c0.track_trending_scores (tracks) vs trending.track_trending_scores" in out
    assert "upstream_c0.playlist_trending_scores (playlists) vs trending.playlist_trending_scores" in out
    assert out.rstrip().endswith("trending compare: no differences in 12 slices")


def test_cli_compare_shows_the_differences_and_exits_1(legacy):
    test_a_perturbed_copy_shows_each_difference_where_it_was_made(legacy)
    result = trending("--dsn", legacy, "compare", "perturbed_view")
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [l.split() for l in result.stdout.splitlines() if l.split()[:3] == ["TRACKS", "pnagD", "week"]]
    # computed, legacy, trending, zeros, only legacy, only trending, scores differ, max, genres, top, order
    assert line[3] == "yes" and line[4] == line[5] and line[6:10] == ["0", "1", "1", "3"], result.stdout
    assert float(line[10]) > 0.1 and line[11:] == ["1", "99/100", "no"], result.stdout
    assert "trending compare: differences in 2 of 10 slices" in result.stdout
    assert "TRACKS/XYZ/week: trending has no such strategy (registered: " in result.stdout


def test_cli_compare_of_a_missing_table_is_one_line(legacy):
    result = trending("--dsn", legacy, "compare", "no_such_table")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 2, result.stderr
    assert result.stderr.startswith('trending compare: relation "no_such_table" does not exist')


def test_cli_compare_against_an_empty_legacy_table_says_it_is_empty(legacy):
    with psycopg.connect(legacy, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS empty_legacy (LIKE upstream_c0.track_trending_scores)")
    result = trending("--dsn", legacy, "compare", "empty_legacy")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "empty_legacy is empty: there is nothing to compare trending's scores with" in result.stdout
    full = trending("--dsn", legacy, "compare", "upstream_c0.track_trending_scores")
    assert "is empty" not in full.stdout, "a filled legacy table is not called empty"
