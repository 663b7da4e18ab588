"""`trending movers`: who entered, left and climbed a top list since the
previous cycle (trending.movers()), as a chart on a terminal."""

from __future__ import annotations

from .. import charts
from ..db import connect, require_extension
from ..errors import CliError
from ..output import table


def register(commands) -> None:
    parser = commands.add_parser(
        "movers", help="the entries, exits and climbs of a top list since the previous cycle",
        description="Print trending.movers(): the entries into the top N (the movers_top_n setting), the "
                    "exits from it and the climbs within it between the previous successful cycle and the "
                    "last one, with both ranks. A bar chart on a terminal, a plain table otherwise.")
    parser.add_argument("--range", default="week", dest="time_range",
                        help="week (default), month, allTime for tracks; week, month, year for playlists")
    parser.add_argument("--genre", metavar="G", help="the genre's own list (tracks only; see movers_max_genres)")
    parser.add_argument("--playlists", action="store_true", help="the playlists' list instead of the tracks'")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.playlists and args.genre:
        raise CliError("--genre applies to tracks only", "drop --genre, or --playlists")
    kind = "playlist" if args.playlists else "track"
    id_header = f"{kind}_id"
    with connect(args.dsn) as conn:
        require_extension(conn, since="1.1")
        rows = conn.execute("SELECT movement, id, previous_rank, rank, climb, previous_score, score, "
                            "to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
                            "to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
                            "FROM trending.movers(%s, %s, %s)", (args.time_range, args.genre, kind)).fetchall()
        top_n = int(conn.execute("SELECT value FROM trending.settings WHERE name = 'movers_top_n'").fetchone()[0])
    what = f"{args.time_range} {kind}s" + (f" in {args.genre}" if args.genre else "")
    if not rows:
        print(f"no movers in the top {top_n} {what} since the previous cycle (nothing moved up, in or out, "
              "or fewer than two successful cycles have recorded this list)")
        return 0
    since, as_of = rows[0][7], rows[0][8]
    counts = {m: sum(1 for r in rows if r[0] == m) for m in ("entry", "exit", "climb")}
    title = (f"top {top_n} {what}, {since} -> {as_of} UTC: {counts['entry']} in, {counts['exit']} out, "
             f"{counts['climb']} up")
    console = charts.make_console()
    if console.is_terminal:
        charts.movers_chart(console, title, id_header, [r[:5] for r in rows], top_n)
        return 0
    print(title)
    print(table(["movement", id_header, "was", "now", "climb", "old score", "new score"],
                [list(r[:7]) for r in rows], align="lrrrrrr"))
    return 0
