"""The upstream's source tables and a synthetic data generator.

``create_source_schema`` creates the reference's source tables in a schema of their
own (many datasets can live side by side in one database); ``generate`` fills
them with deterministic synthetic data.
"""

from __future__ import annotations

from importlib import resources

from psycopg import sql


def _sql_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _run_in_schema(conn, schema: str, *files: str) -> None:
    """Run the unqualified DDL of `files` with `schema` first on the search_path,
    restoring the caller's search_path afterwards."""
    with conn.transaction(), conn.cursor() as cur:
        (previous,) = cur.execute("SELECT current_setting('search_path')").fetchone()
        cur.execute("SELECT set_config('search_path', %s, true)", (sql.Identifier(schema).as_string(conn),))
        for name in files:
            cur.execute(_sql_text(name))
        cur.execute("SELECT set_config('search_path', %s, true)", (previous,))


def create_source_schema(conn, schema: str, *, indexes: bool = True) -> None:
    """Create `schema` (dropping any previous one) with the reference's source tables."""
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        _run_in_schema(conn, schema, "source_schema.sql", *(["source_indexes.sql"] if indexes else []))


def create_source_indexes(conn, schema: str) -> None:
    """Create the production database's secondary indexes (after a bulk load)."""
    _run_in_schema(conn, schema, "source_indexes.sql")


# Imported last: generate.py uses the two functions above.
from .generate import SCALES, Scale, generate, simulate_activity  # noqa: E402

__all__ = ["SCALES", "Scale", "create_source_indexes", "create_source_schema", "generate",
           "simulate_activity"]
