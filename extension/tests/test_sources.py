"""sources.find_problems / sources.check: one clear error naming every problem."""

from __future__ import annotations

import pytest

from trending_pl import sources


def catalog(overrides=None, drop_tables=(), drop_columns=(), unreadable=()):
    """Catalog rows for a source schema that meets REQUIRED_COLUMNS, then altered."""
    types = {sources.INTEGER: "integer", sources.TEXT: "character varying",
             sources.TIMESTAMP: "timestamp without time zone", sources.BOOLEAN: "boolean",
             sources.JSONB: "jsonb", sources.ANY: "text"}
    rows = []
    for table, columns in sources.REQUIRED_COLUMNS.items():
        if table in drop_tables:
            continue
        for column, accepted in columns.items():
            if (table, column) in drop_columns:
                continue
            column_type = (overrides or {}).get((table, column), types[accepted])
            rows.append({"table_name": table, "column_name": column, "column_type": column_type,
                         "readable": table not in unreadable})
        rows.append({"table_name": table, "column_name": "extra", "column_type": "text",
                     "readable": table not in unreadable})
    return rows


def test_a_complete_schema_has_no_problems():
    assert sources.find_problems("music", catalog()) == []


def test_every_problem_is_named():
    rows = catalog(drop_tables={"plays"}, drop_columns={("tracks", "stem_of")},
                   overrides={("saves", "created_at"): "timestamp with time zone",
                              ("aggregate_plays", "count"): "numeric"},
                   unreadable={"users"})
    problems = sources.find_problems("music", rows)
    assert problems == [
        ("42703", "column tracks.stem_of does not exist"),
        ("42P01", "table music.plays does not exist"),
        ("42804", "column saves.created_at is timestamp with time zone, expected timestamp without time zone"),
        ("42501", "no SELECT privilege on music.users"),
        ("42804", "column aggregate_plays.count is numeric, expected bigint or integer or smallint"),
    ]


def test_enum_columns_accept_any_type():
    rows = catalog(overrides={("saves", "save_type"): "savetype", ("reposts", "repost_type"): "text"})
    assert sources.find_problems("music", rows) == []


def test_check_raises_the_most_fundamental_sqlstate_with_detail_and_hint(fake_plpy):
    plpy = fake_plpy([(r"pg_namespace WHERE nspname", [{"?column?": 1}]),
                      (r"pg_attribute", catalog(drop_tables={"plays"}, drop_columns={("tracks", "genre")}))])
    with pytest.raises(plpy.Error) as failure:
        sources.check(plpy, "music")
    error = failure.value
    assert error.sqlstate == "42P01"
    assert error.message.startswith('trending: source schema "music" cannot feed a cycle: ')
    assert "table music.plays does not exist" in error.message
    assert "column tracks.genre does not exist" in error.message
    assert "plays(play_item_id, created_at)" in error.detail
    assert error.hint


def test_check_names_a_missing_schema(fake_plpy):
    plpy = fake_plpy([(r"pg_namespace WHERE nspname", [])])
    with pytest.raises(plpy.Error) as failure:
        sources.check(plpy, "nowhere")
    assert failure.value.sqlstate == "3F000"
    assert failure.value.message == 'trending: source schema "nowhere" does not exist'
    assert "source_schema" in failure.value.hint


def test_check_passes_quietly_on_a_good_schema(fake_plpy):
    plpy = fake_plpy([(r"pg_namespace WHERE nspname", [{"?column?": 1}]), (r"pg_attribute", catalog())])
    sources.check(plpy, "o'brien")
    assert "'o''brien'" in plpy.statements[0], "the schema name is quoted as a literal"
