"""The upstream's source tables and a synthetic data generator.

``create_source_schema`` creates SPEC's source tables in a schema of their
own (many datasets can live side by side in one database); ``generate`` fills
them with deterministic synthetic data.
"""

from __future__ import annotations

from importlib import resources

from psycopg import sql


def _sql_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def create_source_schema(conn, schema: str, *, indexes: bool = True) -> None:
    """Create `schema` (dropping any previous one) with SPEC's source tables."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)))
        cur.execute(_sql_text("source_schema.sql"))
        if indexes:
            cur.execute(_sql_text("source_indexes.sql"))
        cur.execute("RESET search_path")


def create_source_indexes(conn, schema: str) -> None:
    """Create the production database's secondary indexes (after a bulk load)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)))
        cur.execute(_sql_text("source_indexes.sql"))
        cur.execute("RESET search_path")


# Imported last: generate.py uses the two functions above.
from .generate import SCALES, Scale, generate, simulate_activity  # noqa: E402

__all__ = ["SCALES", "Scale", "create_source_indexes", "create_source_schema", "generate",
           "simulate_activity"]
