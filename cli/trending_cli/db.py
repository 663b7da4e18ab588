"""Connections and the questions every command asks first."""

from __future__ import annotations

import os
import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import DSN_HINT, CliError

CONNECT_TIMEOUT = "10"  # libpq waits forever by default; an operator wants an answer


def conninfo(dsn: str, **overrides) -> str:
    """`dsn` (or, when empty, the PG* environment) with `overrides`, named
    trending-cli in pg_stat_activity and with a connect timeout unless given."""
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise CliError(f"invalid --dsn: {str(error).strip()}", DSN_HINT) from error
    extra = {"fallback_application_name": "trending-cli"}
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        extra["connect_timeout"] = CONNECT_TIMEOUT
    return make_conninfo(dsn, **extra, **overrides)


def connect(dsn: str, **overrides) -> psycopg.Connection:
    """An autocommit connection: every command's statement commits on its own."""
    return psycopg.connect(conninfo(dsn, **overrides), autocommit=True)


def extension_version(conn) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'trending'").fetchone()
    return row[0] if row else None


def available_version(conn, extension: str) -> str | None:
    """The default version of an extension whose files the server has."""
    row = conn.execute("SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = %s",
                       (extension,)).fetchone()
    return row[0] if row else None


def require_extension(conn, since: str | None = None) -> str:
    """The installed version, or the error every command but install gives;
    with `since`, also when the installed version is older (what the
    command calls does not exist there)."""
    version = extension_version(conn)
    if version is None:
        raise CliError(f"the trending extension is not installed in database {conn.info.dbname}",
                       "install it: trending install (as a superuser); `trending doctor` checks the prerequisites")
    if since is not None and version_key(version) < version_key(since):
        raise CliError(f"trending {version} is installed in database {conn.info.dbname}; this command needs "
                       f"{since} or later",
                       "`trending install` updates it (`trending doctor` and `trending status` work on "
                       f"{version} and say what the update brings)")
    return version


def version_key(version: str) -> tuple[int, ...]:
    """'1.10' -> (1, 10): versions compare by number, not as text."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def is_superuser(conn) -> bool:
    return conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user").fetchone()[0]


# The service's tables a cycle reads (README, Requirements); the cycle
# itself checks their columns and types.
SOURCE_TABLES = ("tracks", "plays", "saves", "reposts", "users", "playlists",
                 "aggregate_user", "aggregate_track", "aggregate_plays", "aggregate_playlist")


def source_schema(conn) -> str:
    return conn.execute("SELECT value FROM trending.settings WHERE name = 'source_schema'").fetchone()[0]


DEFAULT_SOURCE_SCHEMA = "public"  # trending.settings' shipped value


def missing_source_tables(conn, schema: str) -> list[str] | None:
    """The source tables `schema` lacks (a cycle reads plain or partitioned
    tables only: a view, say, counts as missing); None if the schema does
    not exist."""
    if conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
        return None
    present = {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (schema,))}
    return [t for t in SOURCE_TABLES if t not in present]


def source_tables_problem(conn, schema: str) -> str | None:
    """What keeps `schema` from feeding a cycle, in a phrase; None if nothing."""
    missing = missing_source_tables(conn, schema)
    if missing is None:
        return f"source schema {schema} does not exist"
    if missing:
        return f"source schema {schema} lacks the table{'s' * (len(missing) > 1)} {', '.join(missing)}"
    return None
