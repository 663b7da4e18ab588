"""`trending preview`: what a cycle at a given time would write, without writing it."""

from __future__ import annotations

import re

from ..db import connect, require_extension
from ..errors import CliError
from ..output import table

SLICE = re.compile(r"^([A-Za-z_]+)/([A-Za-z]+)/([A-Za-z]+)$")


def register(commands) -> None:
    parser = commands.add_parser(
        "preview", help="what a cycle at a given time would insert, update and delete (writes nothing)",
        description="Run trending.preview(): a cycle's staging at --at (default now) without writing anything. "
                    "Prints the inserts, updates and deletes per slice, then the biggest rank moves, the best "
                    "new entries and the best exits.")
    parser.add_argument("--at", metavar="TIME",
                        help="the cycle's now, any timestamptz PostgreSQL parses (default: now), "
                             "e.g. '2024-03-31 12:00+00'")
    parser.add_argument("--slice", action="append", metavar="TYPE/version/range", dest="slices",
                        help="only this slice, e.g. TRACKS/pnagD/week (repeatable; default all)")
    parser.add_argument("--limit", type=int, default=10, metavar="N",
                        help="rows per list of moves, entries and exits (default 10; 0 for the summary only)")
    parser.set_defaults(handler=run)


def _slices(values) -> list[tuple[str, str, str]]:
    out = []
    for value in values or ():
        match = SLICE.match(value)
        if not match:
            raise CliError(f"--slice {value!r} is not TYPE/version/range",
                           "e.g. --slice TRACKS/pnagD/week or --slice PLAYLISTS/pnagD/month")
        out.append(match.groups())
    return out


def run(args) -> int:
    if args.limit < 0:
        raise CliError("--limit must be 0 or more", "e.g. --limit 20")
    slices = _slices(args.slices)
    with connect(args.dsn) as conn:
        require_extension(conn, since="1.1")
        with conn.transaction():
            # once, kept for the three reports below (dropped at commit)
            conn.execute("CREATE TEMP TABLE trending_cli_preview ON COMMIT DROP AS "
                         "SELECT * FROM trending.preview(COALESCE(%s::timestamptz, pg_catalog.now()))", (args.at,))
            if slices:
                conn.execute("DELETE FROM trending_cli_preview p WHERE (p.type, p.version, p.time_range) "
                             "NOT IN (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
                             ([s[0] for s in slices], [s[1] for s in slices], [s[2] for s in slices]))
            at = conn.execute("SELECT to_char(COALESCE(%s::timestamptz, now()) AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD HH24:MI:SS')", (args.at,)).fetchone()[0]
            summary = conn.execute("""
SELECT type || '/' || version, time_range,
       count(*) FILTER (WHERE action = 'insert'), count(*) FILTER (WHERE action = 'update'),
       count(*) FILTER (WHERE action = 'delete')
FROM trending_cli_preview GROUP BY kind, type, version, time_range
ORDER BY kind DESC, type, version, array_position(ARRAY['week', 'month', 'year', 'allTime'], time_range)
""").fetchall()
            lists = []
            if args.limit:
                slice_ = "type || '/' || version || '/' || time_range"
                lists = [
                    ("biggest moves", ["slice", "id", "old rank", "new rank", "move", "old score", "new score"],
                     conn.execute(f"""
SELECT {slice_}, id, old_rank, new_rank, old_rank - new_rank, old_score, new_score FROM trending_cli_preview
WHERE action = 'update' AND old_rank <> new_rank
ORDER BY abs(old_rank - new_rank) DESC, new_rank LIMIT %s""", (args.limit,)).fetchall()),
                    ("best new entries", ["slice", "id", "new rank", "new score"], conn.execute(f"""
SELECT {slice_}, id, new_rank, new_score FROM trending_cli_preview WHERE action = 'insert'
ORDER BY new_rank, kind DESC, type, version, time_range LIMIT %s""", (args.limit,)).fetchall()),
                    ("best exits", ["slice", "id", "old rank", "old score"], conn.execute(f"""
SELECT {slice_}, id, old_rank, old_score FROM trending_cli_preview WHERE action = 'delete'
ORDER BY old_rank, kind DESC, type, version, time_range LIMIT %s""", (args.limit,)).fetchall()),
                ]
    print(f"A cycle at {at} UTC would write (nothing is written):")
    if not summary:
        print("(no changes" + (" in the slices asked for)" if slices else ")"))
        return 0
    print(table(["strategy", "range", "inserts", "updates", "deletes"], [list(r) for r in summary],
                align="llrrr"))
    for title, headers, rows in lists:
        if rows:
            print(f"\n{title}")
            print(table(headers, [list(r) for r in rows]))
    return 0
