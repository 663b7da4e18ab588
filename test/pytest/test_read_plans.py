"""The read functions are top-N index scans: the plan each one runs (captured
with auto_explain from inside the function) walks a ranking index in order
and has no Sort node, on score tables big enough that a sort would be a real
alternative for the planner."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from support.plans import nested_plans, nodes
from trending_cli.sample_data import create_source_schema

TRACKS = 100_000
PLAYLISTS = 30_000


@pytest.fixture(scope="module")
def plans_conn(make_db):
    with psycopg.connect(make_db("trending_plans"), autocommit=True) as conn:
        create_source_schema(conn, "music")
        conn.execute("UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema'")
        # Score rows as a cycle would leave them: 20 genres, three ranges.
        conn.execute(sql.SQL("""
            INSERT INTO trending.track_trending_scores (track_id, type, genre, version, time_range, score, created_at)
            SELECT i, 'TRACKS', 'genre_' || (i % 20), 'pnagD', r, (hashint4(i) & 1048575)::float8, now()
            FROM generate_series(1, {n}) AS i, unnest(ARRAY['week', 'month', 'allTime']) AS r
        """).format(n=sql.Literal(TRACKS)))
        conn.execute(sql.SQL("""
            INSERT INTO trending.playlist_trending_scores (playlist_id, type, version, time_range, score, created_at)
            SELECT i, 'PLAYLISTS', 'pnagD', r, (hashint4(i) & 1048575)::float8, now()
            FROM generate_series(1, {n}) AS i, unnest(ARRAY['week', 'month', 'year']) AS r
        """).format(n=sql.Literal(PLAYLISTS)))
        conn.execute(sql.SQL("""
            INSERT INTO music.tracks (track_id, owner_id, created_at, is_current, is_delete, is_unlisted)
            SELECT i, i % 5000, '2026-01-01', true, false, false FROM generate_series(1, {n}) AS i
        """).format(n=sql.Literal(TRACKS)))
        conn.execute("""
            INSERT INTO music.aggregate_user (user_id, follower_count, following_count)
            SELECT u, (hashint4(u) & 4095), 10 FROM generate_series(0, 4999) AS u
        """)
        conn.execute("ANALYZE")
        yield conn


def statement_plans(conn, query: str) -> list[dict]:
    """The JSON plans of the statements run inside `query`'s function call."""
    rows, plans = nested_plans(conn, query)
    assert rows, f"{query} returned no rows: the plan would prove nothing"
    return [p["Plan"] for p in plans]


def score_scans(plans: list[dict], table: str) -> list[dict]:
    """The scan nodes on `table` of every captured plan that reads it, each plan
    checked to be sort-free."""
    reading = [p for p in plans if any(n.get("Relation Name") == table for n in nodes(p))]
    assert reading, f"no captured plan reads {table}: {plans}"
    for plan in reading:
        kinds = [n["Node Type"] for n in nodes(plan)]
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, f"a Sort in the plan: {kinds}"
    return [n for plan in reading for n in nodes(plan) if n.get("Relation Name") == table]


@pytest.mark.parametrize("query, index", [
    ("SELECT * FROM trending.top_tracks('week', lim => 100)", "track_trending_scores_ranking_idx"),
    ("SELECT * FROM trending.top_tracks('month', lim => 100, off => 200)", "track_trending_scores_ranking_idx"),
    ("SELECT * FROM trending.top_tracks('week', 'genre_7', lim => 100)", "track_trending_scores_genre_ranking_idx"),
    ("SELECT * FROM trending.top_tracks('allTime', '', lim => 1000)", "track_trending_scores_ranking_idx"),
    ("SELECT * FROM trending.underground_tracks('week', lim => 100)", "track_trending_scores_ranking_idx"),
    ("SELECT * FROM trending.underground_tracks('week', 'genre_3', lim => 50)", "track_trending_scores_genre_ranking_idx"),
])
def test_track_reads_are_top_n_index_scans(plans_conn, query, index):
    scans = score_scans(statement_plans(plans_conn, query), "track_trending_scores")
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        assert scan["Index Name"] == index and scan["Scan Direction"] == "Forward", scan


def test_playlist_read_is_a_top_n_index_scan(plans_conn):
    scans = score_scans(statement_plans(plans_conn, "SELECT * FROM trending.top_playlists('year', lim => 30)"),
                        "playlist_trending_scores")
    assert [s["Index Name"] for s in scans] == ["playlist_trending_scores_ranking_idx"]
    assert scans[0]["Node Type"] in ("Index Scan", "Index Only Scan")


def test_the_apis_own_read_is_an_index_scan_too(plans_conn):
    """the reference's hot read as the API sends it (prepared, genre '' meaning all)."""
    query = """EXPLAIN (FORMAT JSON) SELECT track_id FROM trending.track_trending_scores
               WHERE type = 'TRACKS' AND version = 'pnagD' AND time_range = %s AND (%s = '' OR genre = %s)
               ORDER BY score DESC, track_id DESC LIMIT %s OFFSET %s"""
    for genre in ("", "genre_5"):
        plan = plans_conn.execute(query, ("week", genre, genre, 100, 0)).fetchone()[0][0]["Plan"]
        kinds = [n["Node Type"] for n in nodes(plan)]
        assert "Sort" not in kinds, (genre, kinds)
        assert {"Index Scan", "Index Only Scan"} & set(kinds), (genre, kinds)
