"""sources: the column types a cycle accepts, the spec sent to trending._check_sources,
and the one clear error built from its problems. (The catalog query itself runs
in a real cluster: test/pytest/test_trust_sources.py, test/sql/06-recompute-cycle.sql.)"""

from __future__ import annotations

import json

import pytest

from trending_pl import sources

BUILT_IN = {"int2", "int4", "int8", "text", "varchar", "bpchar", "timestamp", "bool", "jsonb"}


def test_every_read_column_accepts_only_listed_built_in_types_or_an_enum():
    for table, columns in sources.REQUIRED_COLUMNS.items():
        for column, accepted in columns.items():
            if isinstance(accepted, sources.Enum):
                assert set(accepted) == {"track", "playlist"}, (table, column)
                assert column in ("save_type", "repost_type")
            else:
                assert accepted and set(accepted) <= BUILT_IN, (table, column)
    assert sources.TIMESTAMP == ("timestamp",), "never timestamptz: it would shift the windows"
    assert "ANY" not in vars(sources), "no column accepts any type any more"


def test_the_spec_lists_every_column_in_order_with_its_types():
    spec = json.loads(sources.column_spec())
    assert spec[0] == {"table": "tracks", "column": "track_id", "types": ["int2", "int4", "int8"]}
    assert {"table": "reposts", "column": "repost_type", "enum": ["track", "playlist"]} in spec
    assert [(e["table"], e["column"]) for e in spec] == [
        (t, c) for t, columns in sources.REQUIRED_COLUMNS.items() for c in columns]


def test_each_reading_step_checks_the_tables_it_reads():
    spec = json.loads(sources.column_spec(sources.TABLES_READ["playlist_inputs"]))
    assert {e["table"] for e in spec} == {"playlists", "aggregate_user", "users", "reposts", "saves",
                                          "aggregate_playlist"}
    for tables in sources.TABLES_READ.values():
        assert set(tables) <= set(sources.REQUIRED_COLUMNS)
    assert set().union(*sources.TABLES_READ.values()) == set(sources.REQUIRED_COLUMNS)


def _answer(problems):
    return [(r"trending\._check_sources", [{"sqlstate": s, "problem": p, "severity": v} for s, p, v in problems])]


def test_lock_and_check_raises_the_most_fundamental_sqlstate_naming_every_problem(fake_plpy):
    plpy = fake_plpy(_answer([("42501", "row-level security is enabled on music.plays", 6),
                              ("42809", "music.aggregate_track is a view, not a plain or partitioned table", 3),
                              ("42703", "column tracks.genre does not exist", 4)]))
    with pytest.raises(plpy.Error) as failure:
        sources.lock_and_check(plpy, "music")
    error = failure.value
    assert error.sqlstate == "42809"
    assert error.message == ('trending: source schema "music" cannot feed a cycle: '
                             "row-level security is enabled on music.plays; "
                             "music.aggregate_track is a view, not a plain or partitioned table; "
                             "column tracks.genre does not exist")
    assert "plays(play_item_id, created_at)" in error.detail
    assert "source_schema" in error.hint


def test_lock_and_check_names_a_missing_schema(fake_plpy):
    plpy = fake_plpy(_answer([("3F000", 'source schema "nowhere" does not exist', 1)]))
    with pytest.raises(plpy.Error) as failure:
        sources.lock_and_check(plpy, "nowhere")
    assert failure.value.sqlstate == "3F000"
    assert failure.value.message == 'trending: source schema "nowhere" does not exist'
    assert "source_schema" in failure.value.hint


def test_lock_and_check_refuses_repeatable_read_with_a_hint(fake_plpy):
    plpy = fake_plpy(_answer([("25000", "the transaction is REPEATABLE READ; reading the source "
                                        "tables needs READ COMMITTED", 0)]))
    with pytest.raises(plpy.Error) as failure:
        sources.lock_and_check(plpy, "music")
    assert failure.value.sqlstate == "25000"
    assert "REPEATABLE READ" in failure.value.message
    assert "READ COMMITTED" in failure.value.hint


def test_lock_and_check_passes_quietly_and_quotes_its_arguments(fake_plpy):
    plpy = fake_plpy(_answer([]))
    sources.lock_and_check(plpy, "o'brien", "track_inputs")
    (statement,) = plpy.statements
    assert "trending._check_sources('o''brien', " in statement, "the schema name is quoted as a literal"
    assert '"table": "playlists"' not in statement, "only the tables the step reads"
    assert '"table": "aggregate_plays"' in statement
