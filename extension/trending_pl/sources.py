"""Check the source tables in every transaction that reads them.

CREATE EXTENSION must not need the source tables (pg_restore creates
extensions before tables), so the first moment we can check them is a cycle.

The source tables belong to another role (the service's indexer) and a cycle
may run as a superuser: nothing that role owns may run as the cycle. So a
source, and every partition or inheritance child a read scans, must be a plain
or partitioned table without row-level security; every column a cycle reads
must have one of the built-in types listed below (by type OID: a domain or a
look-alike type is refused; an enum column must be an enum, compared without a
cast); and no index, constraint, extended statistics object or partition key
of them may use a function, operator or type owned by a non-superuser (the
planner evaluates those). trending._check_sources does it all in one catalog
query, AFTER taking the lock the reads take, so the check sees what the reads
will see; the scheduled procedure commits between steps, so every step that
reads the sources calls lock_and_check first. A problem stops the cycle with
one error that names every problem, before any source row is read.
"""

from __future__ import annotations

import json

# Accepted types per column: pg_catalog type names, compared by OID.
INTEGER = ("int2", "int4", "int8")
TEXT = ("text", "varchar", "bpchar")
TIMESTAMP = ("timestamp",)  # without time zone, holding UTC (docs/reference.md): timestamptz would shift windows
BOOLEAN = ("bool",)
JSONB = ("jsonb",)


class Enum(tuple):
    """An enum column: any enum type having these labels (compared by label, never cast)."""


ITEM_TYPE = Enum(("track", "playlist"))

# Every column a cycle reads, by table, with the types it accepts.
REQUIRED_COLUMNS: dict[str, dict[str, tuple]] = {
    "tracks": {"track_id": INTEGER, "owner_id": INTEGER, "genre": TEXT, "created_at": TIMESTAMP,
               "release_date": TIMESTAMP, "is_current": BOOLEAN, "is_delete": BOOLEAN,
               "is_unlisted": BOOLEAN, "stem_of": JSONB},
    "plays": {"play_item_id": INTEGER, "created_at": TIMESTAMP},
    "saves": {"user_id": INTEGER, "save_item_id": INTEGER, "save_type": ITEM_TYPE, "is_current": BOOLEAN,
              "is_delete": BOOLEAN, "created_at": TIMESTAMP},
    "reposts": {"user_id": INTEGER, "repost_item_id": INTEGER, "repost_type": ITEM_TYPE,
                "is_current": BOOLEAN, "is_delete": BOOLEAN, "created_at": TIMESTAMP},
    "users": {"user_id": INTEGER, "is_current": BOOLEAN, "cover_photo": TEXT, "cover_photo_sizes": TEXT,
              "profile_picture": TEXT, "profile_picture_sizes": TEXT, "bio": TEXT},
    "aggregate_user": {"user_id": INTEGER, "follower_count": INTEGER, "following_count": INTEGER},
    "aggregate_track": {"track_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},
    "aggregate_plays": {"play_item_id": INTEGER, "count": INTEGER},
    "aggregate_playlist": {"playlist_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},
    "playlists": {"playlist_id": INTEGER, "playlist_owner_id": INTEGER, "is_current": BOOLEAN,
                  "is_delete": BOOLEAN, "is_private": BOOLEAN, "playlist_contents": JSONB,
                  "created_at": TIMESTAMP, "release_date": TIMESTAMP},
}

# The tables each reading step reads (inputs.py); the check_sources step checks them all.
TABLES_READ = {
    "track_inputs": ("tracks", "plays", "users", "aggregate_user", "reposts", "saves",
                     "aggregate_track", "aggregate_plays"),
    "playlist_inputs": ("playlists", "aggregate_user", "users", "reposts", "saves", "aggregate_playlist"),
}

INVALID_SCHEMA_NAME = "3F000"
NOT_READ_COMMITTED = "25000"


def column_spec(tables=None) -> str:
    """REQUIRED_COLUMNS (of `tables`, default all) as the jsonb trending._check_sources takes, in order."""
    spec = []
    for table, columns in REQUIRED_COLUMNS.items():
        if tables is not None and table not in tables:
            continue
        for column, accepted in columns.items():
            key = "enum" if isinstance(accepted, Enum) else "types"
            spec.append({"table": table, "column": column, key: list(accepted)})
    return json.dumps(spec)


def lock_and_check(plpy, schema: str, step: str | None = None) -> None:
    """Lock the sources `step` reads (default: all) as its reads will, then
    raise one clear error if they cannot feed a cycle or are not to be
    trusted. Call it first in every transaction that reads the sources."""
    spec = column_spec(TABLES_READ.get(step) if step else None)
    rows = plpy.execute("SELECT c.sqlstate, c.problem, c.severity FROM trending._check_sources("
                        f"{plpy.quote_literal(schema)}, {plpy.quote_literal(spec)}::pg_catalog.jsonb) c")
    raise_problems(plpy, schema, list(rows))


def raise_problems(plpy, schema: str, problems) -> None:
    """One error naming every problem, with the SQLSTATE of the most fundamental."""
    if not problems:
        return
    first = min(problems, key=lambda p: p["severity"])
    sqlstate = first["sqlstate"]
    if sqlstate == NOT_READ_COMMITTED:
        plpy.error(f"trending: {first['problem']}", sqlstate=sqlstate,
                   detail="Under REPEATABLE READ or SERIALIZABLE the check of the source tables would "
                          "use a snapshot older than their lock, and could miss a change.",
                   hint="Run the cycle in a READ COMMITTED transaction (the default): "
                        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED, or check default_transaction_isolation.")
    if sqlstate == INVALID_SCHEMA_NAME:
        plpy.error(f'trending: source schema "{schema}" does not exist',
                   hint="Set trending.settings.source_schema to the schema holding tracks, plays, ...: "
                        "UPDATE trending.settings SET value = '<schema>' WHERE name = 'source_schema';",
                   sqlstate=sqlstate)
    plpy.error(f'trending: source schema "{schema}" cannot feed a cycle: '
               + "; ".join(p["problem"] for p in problems),
               detail="trending reads these columns: " + describe_requirements()
                      + ". See \"What a cycle trusts and what it refuses\" in docs/security.md.",
               hint="Point trending.settings.source_schema at the service's schema of plain tables, "
                    "or fix the objects named (a source table's owner must not be able to run code "
                    "as the cycle's role).",
               sqlstate=sqlstate)


def describe_requirements() -> str:
    return "; ".join(f"{table}({', '.join(columns)})" for table, columns in REQUIRED_COLUMNS.items())
