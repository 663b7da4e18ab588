"""Check the source tables before a cycle reads them.

CREATE EXTENSION must not need the source tables (pg_restore creates
extensions before tables), so the first moment we can check them is a cycle.
A missing table or column, an unexpected type or an unreadable table stops the
cycle with one error that names every problem, before any work is done.
"""

from __future__ import annotations

INTEGER = frozenset({"integer", "bigint", "smallint"})
TEXT = frozenset({"character varying", "text", "character"})
TIMESTAMP = frozenset({"timestamp without time zone"})
BOOLEAN = frozenset({"boolean"})
JSONB = frozenset({"jsonb"})
ANY = frozenset()  # enums (savetype, reposttype) and text both work

# Every column a cycle reads, by table, with the types it accepts. Timestamps
# must be `timestamp without time zone` holding UTC (SPEC.md): a timestamptz
# column would silently shift windows by the session's offset.
REQUIRED_COLUMNS: dict[str, dict[str, frozenset]] = {
    "tracks": {"track_id": INTEGER, "owner_id": INTEGER, "genre": TEXT, "created_at": TIMESTAMP,
               "release_date": TIMESTAMP, "is_current": BOOLEAN, "is_delete": BOOLEAN,
               "is_unlisted": BOOLEAN, "stem_of": JSONB},
    "plays": {"play_item_id": INTEGER, "created_at": TIMESTAMP},
    "saves": {"user_id": INTEGER, "save_item_id": INTEGER, "save_type": ANY, "is_current": BOOLEAN,
              "is_delete": BOOLEAN, "created_at": TIMESTAMP},
    "reposts": {"user_id": INTEGER, "repost_item_id": INTEGER, "repost_type": ANY,
                "is_current": BOOLEAN, "is_delete": BOOLEAN, "created_at": TIMESTAMP},
    "users": {"user_id": INTEGER, "is_current": BOOLEAN, "cover_photo": ANY, "cover_photo_sizes": ANY,
              "profile_picture": ANY, "profile_picture_sizes": ANY, "bio": ANY},
    "aggregate_user": {"user_id": INTEGER, "follower_count": INTEGER, "following_count": INTEGER},
    "aggregate_track": {"track_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},
    "aggregate_plays": {"play_item_id": INTEGER, "count": INTEGER},
    "aggregate_playlist": {"playlist_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},
    "playlists": {"playlist_id": INTEGER, "playlist_owner_id": INTEGER, "is_current": BOOLEAN,
                  "is_delete": BOOLEAN, "is_private": BOOLEAN, "playlist_contents": JSONB,
                  "created_at": TIMESTAMP, "release_date": TIMESTAMP},
}

# SQLSTATEs, most fundamental first: the error carries the first that applies.
UNDEFINED_TABLE = "42P01"
UNDEFINED_COLUMN = "42703"
DATATYPE_MISMATCH = "42804"
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_SCHEMA_NAME = "3F000"

_CATALOG_QUERY = """
SELECT c.relname::text AS table_name,
       a.attname::text AS column_name,
       pg_catalog.format_type(a.atttypid, NULL) AS column_type,
       pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = {schema}
  AND c.relname = ANY ({tables}::text[])
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""


def find_problems(schema: str, catalog_rows) -> list[tuple[str, str]]:
    """(sqlstate, description) for every way `catalog_rows` falls short of REQUIRED_COLUMNS.

    `catalog_rows` are mappings with table_name, column_name, column_type, readable.
    """
    found: dict[str, dict[str, str]] = {}
    readable: dict[str, bool] = {}
    for row in catalog_rows:
        found.setdefault(row["table_name"], {})[row["column_name"]] = row["column_type"]
        readable[row["table_name"]] = bool(row["readable"])

    problems = []
    for table, columns in REQUIRED_COLUMNS.items():
        if table not in found:
            problems.append((UNDEFINED_TABLE, f"table {schema}.{table} does not exist"))
            continue
        if not readable[table]:
            problems.append((INSUFFICIENT_PRIVILEGE, f"no SELECT privilege on {schema}.{table}"))
        for column, accepted in columns.items():
            actual = found[table].get(column)
            if actual is None:
                problems.append((UNDEFINED_COLUMN, f"column {table}.{column} does not exist"))
            elif accepted and actual not in accepted:
                expected = " or ".join(sorted(accepted))
                problems.append((DATATYPE_MISMATCH,
                                 f"column {table}.{column} is {actual}, expected {expected}"))
    return problems


def check(plpy, schema: str) -> None:
    """Raise one clear error if the source schema cannot feed a cycle."""
    exists = plpy.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = "
                          + plpy.quote_literal(schema))
    if len(exists) == 0:
        plpy.error(f'trending: source schema "{schema}" does not exist',
                   hint="Set trending.settings.source_schema to the schema holding tracks, plays, ...: "
                        "UPDATE trending.settings SET value = '<schema>' WHERE name = 'source_schema';",
                   sqlstate=INVALID_SCHEMA_NAME)
    tables = "{" + ",".join(REQUIRED_COLUMNS) + "}"
    rows = plpy.execute(_CATALOG_QUERY.format(schema=plpy.quote_literal(schema),
                                              tables=plpy.quote_literal(tables)))
    problems = find_problems(schema, rows)
    if problems:
        plpy.error(f'trending: source schema "{schema}" cannot feed a cycle: '
                   + "; ".join(text for _, text in problems),
                   detail="trending reads these columns: " + describe_requirements(),
                   hint="Point trending.settings.source_schema at the service's schema, "
                        "or create the missing objects.",
                   sqlstate=min(problems, key=lambda p: _SEVERITY.index(p[0]))[0])


_SEVERITY = [INVALID_SCHEMA_NAME, UNDEFINED_TABLE, UNDEFINED_COLUMN, DATATYPE_MISMATCH,
             INSUFFICIENT_PRIVILEGE]


def describe_requirements() -> str:
    return "; ".join(f"{table}({', '.join(columns)})" for table, columns in REQUIRED_COLUMNS.items())
