"""The synthetic data generator (trending_cli.sample_data): deterministic,
consistent with itself, and shaped like the upstream data, at tiny scale.

These tests need only a PostgreSQL server (the session `cluster`), not the
trending extension: they use a database of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Dict

import psycopg
import pytest
from psycopg import sql

from trending_cli.sample_data import SCALES, generate, simulate_activity

DB = "sample_data_test"
AS_OF = datetime(2024, 3, 31, 12, 30, tzinfo=timezone.utc)
RAW = ("users", "tracks", "playlists", "plays", "saves", "reposts")
AGGREGATES = ("aggregate_track", "aggregate_playlist", "aggregate_plays", "aggregate_user")
TABLES = RAW + AGGREGATES


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db(cluster) -> str:
    """A database of our own on the session's server."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    return cluster.conninfo(DB)


@pytest.fixture(scope="module")
def conn(db):
    with psycopg.connect(db, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def generated(db, conn) -> Dict[str, Dict[str, int]]:
    """Three tiny datasets: seed 1 twice (the second through a connection that
    is not autocommit, in another session TimeZone, with as_of given in
    another UTC offset) and seed 2."""
    counts = {"gen_a": generate(conn, "gen_a", scale="tiny", seed=1, as_of=AS_OF)}
    with psycopg.connect(db) as other:
        other.execute("SET TimeZone = 'America/New_York'")
        other.commit()
        counts["gen_b"] = generate(other, "gen_b", scale="tiny", seed=1,
                                   as_of=AS_OF.astimezone(timezone(timedelta(hours=-7))))
    counts["gen_c"] = generate(conn, "gen_c", scale="tiny", seed=2, as_of=AS_OF)
    return counts


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def checksums(conn, schema: str) -> Dict[str, str]:
    """An order-independent digest of every table's content."""
    result = {}
    for table in TABLES:
        query = sql.SQL("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                        " FROM {} AS t").format(sql.Identifier(schema, table))
        result[table] = conn.execute(query).fetchone()[0]
    return result


def scalar(conn, schema: str, query: str):
    """Run `query` with the schema as search_path; its single value."""
    conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
    try:
        return conn.execute(query).fetchone()[0]
    finally:
        conn.execute("RESET search_path")


def row_counts(conn, schema: str) -> Dict[str, int]:
    return {table: scalar(conn, schema, f"SELECT count(*) FROM {table}") for table in TABLES}


AGGREGATE_MISMATCHES = {
    "aggregate_track": """
        WITH expected AS (
            SELECT id, sum(r) AS reposts, sum(s) AS saves FROM (
                SELECT track_id AS id, 0 AS r, 0 AS s FROM tracks
                UNION ALL SELECT repost_item_id, 1, 0 FROM reposts
                          WHERE repost_type = 'track' AND is_current AND NOT is_delete
                UNION ALL SELECT save_item_id, 0, 1 FROM saves
                          WHERE save_type = 'track' AND is_current AND NOT is_delete) AS e
            GROUP BY id)
        SELECT count(*) FROM expected e FULL JOIN aggregate_track a ON a.track_id = e.id
        WHERE a.track_id IS NULL OR e.id IS NULL
           OR a.repost_count <> e.reposts OR a.save_count <> e.saves""",
    "aggregate_playlist": """
        WITH expected AS (
            SELECT id, sum(r) AS reposts, sum(s) AS saves FROM (
                SELECT playlist_id AS id, 0 AS r, 0 AS s FROM playlists
                UNION ALL SELECT repost_item_id, 1, 0 FROM reposts
                          WHERE repost_type IN ('playlist', 'album') AND is_current AND NOT is_delete
                UNION ALL SELECT save_item_id, 0, 1 FROM saves
                          WHERE save_type IN ('playlist', 'album') AND is_current AND NOT is_delete) AS e
            GROUP BY id)
        SELECT count(*) FROM expected e FULL JOIN aggregate_playlist a ON a.playlist_id = e.id
        WHERE a.playlist_id IS NULL OR e.id IS NULL
           OR a.repost_count <> e.reposts OR a.save_count <> e.saves
           OR a.is_album IS DISTINCT FROM (SELECT bool_or(is_album) FROM playlists p
                                           WHERE p.playlist_id = a.playlist_id)""",
    "aggregate_plays": """
        SELECT count(*)
        FROM (SELECT play_item_id, count(*) AS n FROM plays GROUP BY 1) AS e
        FULL JOIN aggregate_plays a USING (play_item_id)
        WHERE e.n IS NULL OR a.play_item_id IS NULL
           OR (a.count IS NOT NULL AND a.count <> e.n)""",
    "aggregate_user": """
        SELECT count(*) FROM aggregate_user a
        WHERE NOT EXISTS (SELECT FROM users u WHERE u.user_id = a.user_id)
           OR a.track_count <> (SELECT count(*) FROM tracks t WHERE t.owner_id = a.user_id
                                AND t.is_current AND NOT t.is_delete)
           OR a.playlist_count <> (SELECT count(*) FROM playlists p
                                   WHERE p.playlist_owner_id = a.user_id
                                   AND p.is_current AND NOT p.is_delete)
           OR a.repost_count <> (SELECT count(*) FROM reposts r WHERE r.user_id = a.user_id
                                 AND r.is_current AND NOT r.is_delete)""",
}


def assert_aggregates_consistent(conn, schema: str) -> None:
    mismatches = {name: scalar(conn, schema, query) for name, query in AGGREGATE_MISMATCHES.items()}
    assert mismatches == {name: 0 for name in AGGREGATE_MISMATCHES}


def share(conn, schema: str, condition: str, table: str, where: str = "true") -> float:
    """The share of `table`'s rows matching `where` that also match `condition`."""
    return float(scalar(conn, schema, f"SELECT avg(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END)"
                                      f" FROM {table} WHERE {where}"))


# --------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------
def test_same_arguments_give_the_same_data(conn, generated):
    assert generated["gen_a"] == generated["gen_b"]
    assert checksums(conn, "gen_a") == checksums(conn, "gen_b")


def test_a_non_autocommit_connection_gets_its_load_committed(db, generated):
    with psycopg.connect(db, autocommit=True) as fresh:
        assert row_counts(fresh, "gen_b") == generated["gen_b"]


def test_another_seed_gives_other_data(conn, generated):
    first, second = checksums(conn, "gen_a"), checksums(conn, "gen_c")
    assert [table for table in TABLES if first[table] == second[table]] == []


def test_timestamps_do_not_depend_on_the_session_time_zone(conn, generated):
    newest = scalar(conn, "gen_b", "SELECT max(created_at) FROM plays")
    assert AS_OF.replace(tzinfo=None) - timedelta(minutes=10) < newest <= AS_OF.replace(tzinfo=None)


# --------------------------------------------------------------------------
# volumes and consistency
# --------------------------------------------------------------------------
def test_returned_counts_are_the_row_counts(conn, generated):
    assert generated["gen_a"] == row_counts(conn, "gen_a")


def test_tiny_volumes(conn, generated):
    counts = generated["gen_a"]
    tiny = SCALES["tiny"]
    assert counts["plays"] == tiny.plays == 50_000
    assert 1.05 * tiny.users <= counts["users"] <= 1.15 * tiny.users
    assert 1.05 * tiny.tracks <= counts["tracks"] <= 1.15 * tiny.tracks
    assert 1.05 * tiny.playlists <= counts["playlists"] <= 1.2 * tiny.playlists
    assert tiny.saves <= counts["saves"] <= 1.15 * tiny.saves
    assert 0.9 * tiny.reposts <= counts["reposts"] <= 1.2 * tiny.reposts
    assert counts["aggregate_track"] == tiny.tracks
    assert counts["aggregate_playlist"] == tiny.playlists
    assert 0.6 * tiny.tracks <= counts["aggregate_plays"] <= 1.1 * tiny.tracks
    assert 0.95 * tiny.users <= counts["aggregate_user"] <= 0.995 * tiny.users
    assert scalar(conn, "gen_a", "SELECT count(DISTINCT track_id) FROM tracks") == tiny.tracks
    assert scalar(conn, "gen_a", "SELECT count(*) FROM users WHERE is_current") == tiny.users


@pytest.mark.parametrize("schema", ["gen_a", "gen_c"])
def test_aggregates_match_the_raw_rows(conn, generated, schema):
    assert_aggregates_consistent(conn, schema)


def test_the_play_id_sequence_continues_after_the_load(conn, generated):
    assert scalar(conn, "gen_a", "SELECT nextval(pg_get_serial_sequence('plays', 'id'))") == 50_001


# --------------------------------------------------------------------------
# the shape of the data
# --------------------------------------------------------------------------
def test_users_profiles_and_followers(conn, generated):
    complete = ("(cover_photo IS NOT NULL OR cover_photo_sizes IS NOT NULL)"
                " AND (profile_picture IS NOT NULL OR profile_picture_sizes IS NOT NULL)"
                " AND bio IS NOT NULL")
    empty = "coalesce(cover_photo, cover_photo_sizes, profile_picture, profile_picture_sizes, bio) IS NULL"
    assert 0.20 <= share(conn, "gen_a", complete, "users", "is_current") <= 0.40
    assert 0.20 <= share(conn, "gen_a", empty, "users", "is_current") <= 0.50
    assert 0.05 <= share(conn, "gen_a", "NOT is_current", "users") <= 0.15
    assert scalar(conn, "gen_a", "SELECT count(DISTINCT txhash) = count(*) FROM users")
    assert 0.15 <= share(conn, "gen_a", "follower_count < 3", "aggregate_user") <= 0.50
    assert share(conn, "gen_a", "follower_count >= 3", "aggregate_user") >= 0.40
    assert share(conn, "gen_a", "follower_count <= 10", "aggregate_user") >= 0.45
    assert scalar(conn, "gen_a", "SELECT count(*) FROM aggregate_user WHERE follower_count >= 100000") >= 1
    assert scalar(conn, "gen_a", "SELECT max(follower_count) FROM aggregate_user") <= 10_000_000
    assert scalar(conn, "gen_a", "SELECT count(*) FROM aggregate_user WHERE follower_count IS NULL") >= 1
    assert 0.03 <= share(conn, "gen_a", "following_count >= 1500", "aggregate_user") <= 0.40


def test_tracks(conn, generated):
    as_of = AS_OF.replace(tzinfo=None)
    current = "is_current"
    assert 0.005 <= share(conn, "gen_a", f"release_date > '{as_of}'", "tracks", current) <= 0.05
    assert 0.35 <= share(conn, "gen_a", "release_date IS NULL", "tracks", current) <= 0.65
    assert share(conn, "gen_a", "release_date < created_at", "tracks", current) >= 0.03
    for flag in ("is_delete", "is_unlisted", "stem_of IS NOT NULL"):
        assert 0.005 <= share(conn, "gen_a", f"{flag}", "tracks", current) <= 0.06, flag
    assert scalar(conn, "gen_a", "SELECT bool_and(stem_of ? 'parent_track_id') FROM tracks"
                                 " WHERE stem_of IS NOT NULL")
    assert 0.05 <= share(conn, "gen_a", "NOT is_current", "tracks") <= 0.15
    assert scalar(conn, "gen_a", "SELECT count(*) FROM (SELECT track_id FROM tracks WHERE is_current"
                                 " GROUP BY 1 HAVING count(*) > 1) AS d") >= 1
    assert scalar(conn, "gen_a", "SELECT count(DISTINCT genre) FROM tracks") >= 12
    assert scalar(conn, "gen_a", "SELECT count(*) FROM tracks WHERE genre IS NULL") >= 1
    oldest, newest = conn.execute("SELECT min(created_at), max(created_at) FROM gen_a.tracks").fetchone()
    assert as_of - timedelta(days=731) < oldest < as_of - timedelta(days=700)
    assert as_of - timedelta(days=30) < newest <= as_of
    top_owner = scalar(conn, "gen_a", "SELECT max(n) FROM (SELECT count(*) AS n FROM tracks"
                                      " WHERE is_current GROUP BY owner_id) AS o")
    assert top_owner >= 20


def test_plays(conn, generated):
    as_of = AS_OF.replace(tzinfo=None)
    recent = scalar(conn, "gen_a", f"SELECT count(*) FROM plays WHERE created_at > '{as_of}'::timestamp - interval '30 days'")
    old = scalar(conn, "gen_a", f"SELECT count(*) FROM plays WHERE created_at > '{as_of}'::timestamp - interval '330 days'"
                                f" AND created_at <= '{as_of}'::timestamp - interval '300 days'")
    assert recent > 3 * old > 0
    oldest, newest = conn.execute("SELECT min(created_at), max(created_at) FROM gen_a.plays").fetchone()
    assert as_of - timedelta(days=365) < oldest and newest <= as_of
    assert 0.15 <= share(conn, "gen_a", "user_id IS NULL", "plays") <= 0.25
    assert scalar(conn, "gen_a", "SELECT count(*) FROM plays WHERE play_item_id NOT IN"
                                 " (SELECT track_id FROM tracks)") >= 1
    assert scalar(conn, "gen_a", "SELECT count(*) FROM plays WHERE play_item_id IN"
                                 " (SELECT track_id FROM tracks WHERE is_current AND is_delete)") >= 1
    # ids in time order, as the upstream appends them
    assert scalar(conn, "gen_a", "SELECT count(*) FROM plays a JOIN plays b ON b.id = a.id + 1"
                                 " WHERE b.created_at < a.created_at") == 0
    # heavy-tailed popularity, not following the id
    top_share = scalar(conn, "gen_a", """
        SELECT sum(n) FILTER (WHERE rank <= 20)::float / sum(n) FROM (
            SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rank
            FROM plays GROUP BY play_item_id) AS p""")
    assert top_share > 0.2
    correlation = scalar(conn, "gen_a", "SELECT corr(play_item_id, n) FROM (SELECT play_item_id, count(*) AS n"
                                        " FROM plays WHERE play_item_id <= 2000 GROUP BY 1) AS p")
    assert abs(correlation) < 0.2
    # no play before its track's upload
    assert scalar(conn, "gen_a", "SELECT count(*) FROM plays p JOIN tracks t ON t.track_id = p.play_item_id"
                                 " WHERE p.created_at < t.created_at") == 0


def test_saves_and_reposts(conn, generated):
    as_of = AS_OF.replace(tzinfo=None)
    for table, kind in (("saves", "save"), ("reposts", "repost")):
        where = "is_current"
        assert 0.85 <= share(conn, "gen_a", f"{kind}_type = 'track'", table, where) <= 0.95
        assert 0.04 <= share(conn, "gen_a", f"{kind}_type = 'playlist'", table, where) <= 0.12
        assert share(conn, "gen_a", f"{kind}_type = 'album'", table, where) > 0
        assert 0.02 <= share(conn, "gen_a", "is_delete", table, where) <= 0.08
        assert share(conn, "gen_a", "NOT is_current", table) > 0.02
        assert share(conn, "gen_a", f"created_at > '{as_of}'::timestamp - interval '1 year'", table) > 0.6
        assert scalar(conn, "gen_a", f"SELECT max(created_at) FROM {table}") <= as_of
        assert scalar(conn, "gen_a", f"SELECT count(*) FROM {table} WHERE created_at"
                                     f" < '{as_of}'::timestamp - interval '1 year'") > 0
    assert scalar(conn, "gen_a", "SELECT count(*) FROM saves s JOIN reposts r ON r.user_id = s.user_id"
                                 " AND r.repost_item_id = s.save_item_id"
                                 " AND r.repost_type::text = s.save_type::text") > 100
    assert scalar(conn, "gen_a", "SELECT bool_and(save_item_id % 5 = 0) FROM saves WHERE save_type = 'album'")


def test_playlists(conn, generated):
    sizes = ("SELECT jsonb_array_length(playlist_contents -> 'track_ids') AS n FROM playlists"
             " WHERE is_current AND jsonb_typeof(playlist_contents -> 'track_ids') = 'array'")
    assert scalar(conn, "gen_a", f"SELECT min(n) FROM ({sizes}) AS s") == 0
    assert scalar(conn, "gen_a", f"SELECT max(n) FROM ({sizes}) AS s") == 50
    assert 0.10 <= scalar(conn, "gen_a", f"SELECT avg((n < 3)::int) FROM ({sizes}) AS s") <= 0.40
    assert 0.15 <= share(conn, "gen_a", "is_album", "playlists", "is_current") <= 0.25
    assert 0.03 <= share(conn, "gen_a", "is_private", "playlists", "is_current") <= 0.2
    assert share(conn, "gen_a", "is_delete", "playlists", "is_current") <= 0.08
    assert share(conn, "gen_a", "NOT is_current", "playlists") > 0.03
    traps = {kind: scalar(conn, "gen_a", f"SELECT count(*) FROM playlists WHERE is_current AND"
                                         f" NOT is_private AND NOT is_delete AND {condition}")
             for kind, condition in {
                 "missing": "NOT playlist_contents ? 'track_ids'",
                 "object": "jsonb_typeof(playlist_contents -> 'track_ids') = 'object'",
                 "string": "jsonb_typeof(playlist_contents -> 'track_ids') = 'string'"}.items()}
    assert min(traps.values()) >= 1, traps
    assert scalar(conn, "gen_a", "SELECT count(*) FROM (SELECT playlist_id FROM playlists WHERE is_current"
                                 " GROUP BY 1 HAVING count(*) > 1) AS d") >= 1
    assert scalar(conn, "gen_a", """
        SELECT bool_and(e ? 'track' AND e ? 'time') FROM playlists,
               jsonb_array_elements(playlist_contents -> 'track_ids') AS e
        WHERE jsonb_typeof(playlist_contents -> 'track_ids') = 'array'""")


def test_some_play_counts_are_null(conn, generated):
    nulls = scalar(conn, "gen_a", "SELECT count(*) FROM aggregate_plays WHERE count IS NULL")
    assert 1 <= nulls <= 10


# --------------------------------------------------------------------------
# simulate_activity
# --------------------------------------------------------------------------
DAY_LATER = AS_OF + timedelta(days=1)
EVENT_TABLES = ("tracks", "playlists", "plays", "saves", "reposts")


@pytest.fixture(scope="module")
def simulated(conn) -> Dict[str, object]:
    """Two identical datasets moved one day and then one hour forward with the
    same seed, a third with another seed; and their checksums before."""
    before = {}
    results = {}
    for schema, sim_seed in (("sim_a", 7), ("sim_b", 7), ("sim_c", 8)):
        generate(conn, schema, scale="tiny", seed=3, as_of=AS_OF)
        before[schema] = checksums(conn, schema)
        day = simulate_activity(conn, schema, seed=sim_seed, start=AS_OF, end=DAY_LATER)
        hour = simulate_activity(conn, schema, seed=sim_seed, start=DAY_LATER,
                                 end=DAY_LATER + timedelta(hours=1))
        results[schema] = (day, hour)
    return {"before": before, "results": results}


def old_rows_checksum(conn, schema: str, table: str, start: datetime) -> str:
    query = sql.SQL("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                    " FROM {} AS t WHERE created_at <= {}").format(
        sql.Identifier(schema, table), sql.Literal(start.replace(tzinfo=None)))
    return conn.execute(query).fetchone()[0]


def test_simulation_appends_only_inside_the_period(conn, simulated):
    day, hour = simulated["results"]["sim_a"]
    periods = ((AS_OF, DAY_LATER, day), (DAY_LATER, DAY_LATER + timedelta(hours=1), hour))
    for table in EVENT_TABLES:
        for start, end, added in periods:
            inside = scalar(conn, "sim_a", f"SELECT count(*) FROM {table} WHERE created_at >"
                                           f" '{start.replace(tzinfo=None)}' AND created_at <="
                                           f" '{end.replace(tzinfo=None)}'")
            assert inside == added[table], (table, start)
        later = scalar(conn, "sim_a", f"SELECT count(*) FROM {table} WHERE created_at >"
                                      f" '{(DAY_LATER + timedelta(hours=1)).replace(tzinfo=None)}'")
        assert later == 0, table


def test_simulation_leaves_older_rows_alone(conn, simulated):
    # every generated row is dated up to as_of: those must be exactly the rows
    # there were before the simulation
    before = simulated["before"]["sim_a"]
    for table in EVENT_TABLES + ("users",):
        assert old_rows_checksum(conn, "sim_a", table, AS_OF) == before[table], table
    assert checksums(conn, "sim_a")["users"] == before["users"]


def test_simulation_volumes_follow_last_months_rate(conn, simulated):
    day, hour = simulated["results"]["sim_a"]

    def month_before(moment: datetime) -> int:
        return scalar(conn, "sim_a", f"SELECT count(*) FROM plays WHERE created_at <="
                                     f" '{moment.replace(tzinfo=None)}' AND created_at >"
                                     f" '{moment.replace(tzinfo=None)}'::timestamp - interval '30 days'")

    assert abs(day["plays"] - month_before(AS_OF) * 24 / 720) <= 1
    assert abs(hour["plays"] - month_before(DAY_LATER) / 720) <= 1
    assert day["plays"] > 100 and day["saves"] > 0 and day["reposts"] > 0
    assert 0 <= day["tracks"] <= 10 and day["playlists"] <= 3


def test_simulation_keeps_aggregates_consistent(conn, simulated):
    assert_aggregates_consistent(conn, "sim_a")
    assert_aggregates_consistent(conn, "sim_c")


def test_simulation_is_deterministic(conn, simulated):
    results = simulated["results"]
    assert results["sim_a"] == results["sim_b"]
    assert checksums(conn, "sim_a") == checksums(conn, "sim_b")
    assert checksums(conn, "sim_a")["plays"] != checksums(conn, "sim_c")["plays"]


def test_simulated_plays_continue_the_ids(conn, simulated):
    gaps = scalar(conn, "sim_a", "SELECT max(id) - count(*) FROM plays")
    assert gaps == 0
    assert scalar(conn, "sim_a", "SELECT count(*) FROM plays a JOIN plays b ON b.id = a.id + 1"
                                 " WHERE b.created_at < a.created_at") == 0


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------
def test_arguments_are_checked(conn):
    with pytest.raises(ValueError):
        generate(conn, "bad", scale="tiny", as_of=datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        generate(conn, "bad", scale="enormous", as_of=AS_OF)
    with pytest.raises(ValueError):
        simulate_activity(conn, "gen_a", seed=1, start=DAY_LATER, end=AS_OF)
    with pytest.raises(ValueError):
        simulate_activity(conn, "gen_a", seed=1, start=datetime(2024, 1, 1),
                          end=datetime(2024, 1, 2))
    conn.execute("CREATE SCHEMA IF NOT EXISTS not_generated")
    with pytest.raises(ValueError):
        simulate_activity(conn, "not_generated", seed=1, start=AS_OF, end=DAY_LATER)
