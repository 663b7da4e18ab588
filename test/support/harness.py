"""Run trending cycles from tests and read what they wrote.

Only the extension's public SQL surface is used here: the settings and
strategies views, trending.recompute() and the two score tables.
"""

from __future__ import annotations

import json
from datetime import datetime

ALL_STRATEGIES = [("TRACKS", "pnagD"), ("TRACKS", "AnlGe"),
                  ("UNDERGROUND_TRACKS", "pnagD"), ("PLAYLISTS", "pnagD")]


def use_source_schema(conn, schema: str) -> None:
    conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (schema,))


def enable_strategies(conn, enabled=ALL_STRATEGIES) -> None:
    """Enable exactly the given (type, version) strategies."""
    conn.execute(
        "UPDATE trending.strategies SET enabled = ((type, version) IN (SELECT * FROM unnest(%s::text[], %s::text[])))",
        ([t for t, _ in enabled], [v for _, v in enabled]))


def recompute(conn, now: datetime) -> dict:
    """One cycle at `now` (an aware datetime); returns the summary."""
    (summary,) = conn.execute("SELECT trending.recompute(%s)", (now,)).fetchone()
    return summary if isinstance(summary, dict) else json.loads(summary)


def track_scores(conn) -> dict[tuple, tuple]:
    """{(track_id, type, version, time_range): (score, genre)} for every stored row."""
    rows = conn.execute("SELECT track_id, type, version, time_range, score, genre "
                        "FROM trending.track_trending_scores").fetchall()
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5]) for r in rows}


def playlist_scores(conn) -> dict[tuple, float]:
    """{(playlist_id, type, version, time_range): score} for every stored row."""
    rows = conn.execute("SELECT playlist_id, type, version, time_range, score "
                        "FROM trending.playlist_trending_scores").fetchall()
    return {(r[0], r[1], r[2], r[3]): r[4] for r in rows}
