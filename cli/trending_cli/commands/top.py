"""`trending top`: the lists the service's API serves, from the score tables."""

from __future__ import annotations

from .. import charts
from ..db import connect, require_extension
from ..errors import CliError
from ..output import table


def register(commands) -> None:
    parser = commands.add_parser(
        "top", help="the trending tracks (or playlists) of a time range",
        description="Print trending.top_tracks() or, with --playlists, trending.top_playlists(): rank, id, "
                    "score (and genre), by score descending.")
    parser.add_argument("--range", default="week", dest="time_range",
                        help="week (default), month, allTime for tracks; week, month, year for playlists")
    parser.add_argument("--genre", metavar="G", help="only this genre (tracks only)")
    parser.add_argument("--limit", type=int, default=10, metavar="N", help="how many (1..1000, default 10)")
    parser.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N (default 0)")
    parser.add_argument("--playlists", action="store_true", help="trending playlists instead of tracks")
    parser.add_argument("--chart", action="store_true",
                        help="draw the scores as a bar chart (on a terminal; a plain table otherwise)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.playlists and args.genre:
        raise CliError("--genre applies to tracks only", "drop --genre, or --playlists")
    with connect(args.dsn) as conn:
        require_extension(conn)
        if args.playlists:
            headers = ["rank", "playlist_id", "score"]
            rows = conn.execute("SELECT rank, playlist_id, score FROM trending.top_playlists(%s, %s, %s)",
                                (args.time_range, args.limit, args.offset)).fetchall()
        else:
            headers = ["rank", "track_id", "score", "genre"]
            rows = conn.execute("SELECT rank, track_id, score, genre FROM trending.top_tracks(%s, %s, %s, %s)",
                                (args.time_range, args.genre, args.limit, args.offset)).fetchall()
        if not rows and args.genre and not args.offset:
            _unknown_genre(conn, args.genre, args.time_range)
        if not rows:
            ran = conn.execute("SELECT scores_as_of IS NOT NULL FROM trending.status").fetchone()[0]
            print("(no rows)" if ran else "(no rows: no cycle has succeeded yet; run `trending recompute`)")
            return 0
    if args.chart:
        console = charts.make_console()
        if console.is_terminal:
            what = f"{args.time_range} playlists" if args.playlists else \
                f"{args.time_range} tracks" + (f" in {args.genre}" if args.genre else "")
            charts.score_chart(console, f"trending {what}", headers[1], [tuple(r) for r in rows])
            return 0
    print(table(headers, [list(r) for r in rows]))
    return 0


def _unknown_genre(conn, genre: str, time_range: str) -> None:
    """No rows for a genre: say which genres there are (genres match exactly,
    so 'electronic' finds nothing when the tracks say 'Electronic')."""
    genres = [r[0] for r in conn.execute("""
SELECT genre FROM trending.track_trending_scores
WHERE type = 'TRACKS' AND version = 'pnagD' AND time_range = %s AND genre IS NOT NULL AND genre <> ''
GROUP BY genre ORDER BY count(*) DESC, genre""", (time_range,)).fetchall()]
    if not genres:
        return  # no scores at all: the caller says so
    same = [g for g in genres if g.casefold() == genre.casefold()]
    if same:
        raise CliError(f"no {time_range} tracks in genre {genre!r}; genres match exactly",
                       f"did you mean {' or '.join(repr(g) for g in same)}? --genre {same[0]!r}")
    shown = genres[:20]
    raise CliError(f"no {time_range} tracks in genre {genre!r}",
                   f"the genres with {time_range} scores ({len(genres)}, most tracks first): {', '.join(shown)}"
                   + (", ..." if len(genres) > len(shown) else ""))
