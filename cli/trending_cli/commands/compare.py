"""`trending compare`: the evidence a team wants before cutting the API over.
A legacy score table (the service's own, or any relation with its columns)
against trending's, per slice, through trending.compare_scores(): rows on
one side only, scores differing beyond a relative tolerance, genres
differing, the overlap of the top N. Exit status 0 when nothing differs, 1
when something does (like diff)."""

from __future__ import annotations

from ..db import connect, require_extension
from ..errors import CliError
from ..output import table

KINDS = {"track_id": "track", "playlist_id": "playlist"}
HEADERS = ["type", "version", "range", "computed", "legacy", "trending", "legacy zeros", "only legacy",
           "only trending", "scores differ", "max rel diff", "genres differ", "top overlap", "same order"]


def register(commands) -> None:
    parser = commands.add_parser(
        "compare", help="compare a legacy score table with trending's, per slice",
        description="Compare legacy score tables (any relation with the upstream's columns: track_id or "
                    "playlist_id, type, version, time_range, score; genre optional) with trending's, per "
                    "(type, version, time_range): rows on one side only, scores differing beyond --tolerance "
                    "(relative), genres differing, and the overlap of each side's top --top (score DESC, "
                    "id DESC). Legacy zero-score rows are counted apart: trending stores none. Compare at the "
                    "same moment: run `trending recompute` right after the legacy job. Exit status 0 when "
                    "nothing differs, 1 when something does.")
    parser.add_argument("legacy", nargs="+", metavar="TABLE",
                        help="the legacy table, e.g. public.track_trending_scores (kind from its id column)")
    parser.add_argument("--kind", choices=sorted(set(KINDS.values())),
                        help="track or playlist (default: from the table's id column)")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative score tolerance (default 1e-9)")
    parser.add_argument("--top", type=int, default=100, metavar="N", help="compare the top N per slice (default 100)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    differing = total = 0
    with connect(args.dsn) as conn:
        require_extension(conn, since="1.1")
        for index, relation in enumerate(args.legacy):
            if index:
                print()
            d, n = _compare(conn, relation, args)
            differing, total = differing + d, total + n
    if differing:
        print(f"trending compare: differences in {differing} of {total} slices")
        return 1
    print(f"trending compare: no differences in {total} slices")
    return 0


def _compare(conn, relation: str, args) -> tuple[int, int]:
    """Print one relation's comparison; (slices that differ, slices)."""
    oid, name = conn.execute("SELECT %s::regclass::oid, %s::regclass::text", (relation, relation)).fetchone()
    kind = args.kind or _kind(conn, oid, name)
    rows = conn.execute("SELECT * FROM trending.compare_scores(%s::oid::regclass, %s, %s, %s)",
                        (oid, kind, args.tolerance, args.top)).fetchall()
    print(f"{name} ({kind}s) vs trending.{kind}_trending_scores, tolerance {args.tolerance:g}, top {args.top}")
    cells, notes, differing = [], [], 0
    for (type_, version, time_range, enabled, legacy_rows, trending_rows, zeros, only_legacy, only_trending,
         score_differs, max_rel, genre_differs, top_compared, top_overlap, same_order) in rows:
        differs = bool(only_legacy or only_trending or score_differs or genre_differs
                       or top_overlap != top_compared or not same_order)
        differing += differs
        cells.append([type_, version, time_range, "yes" if enabled else "NO", legacy_rows, trending_rows, zeros,
                      only_legacy, only_trending, score_differs, "" if max_rel is None else f"{max_rel:.1e}",
                      "" if genre_differs is None else genre_differs, f"{top_overlap}/{top_compared}",
                      "yes" if same_order else "no"])
        if not enabled:
            notes.append(_not_computed(conn, type_, version, time_range))
    print(table(HEADERS, cells, align="llllrrrrrrrrrl") if cells else "(no rows on either side)")
    if not any(row[4] for row in rows):
        notes.insert(0, f"{name} is empty: there is nothing to compare trending's scores with (run the legacy "
                        "job first, or name the table it fills)")
    for note in notes:
        print(note)
    return differing, len(rows)


def _not_computed(conn, type_: str, version: str, time_range: str) -> str:
    """Why trending has no rows for a slice the legacy table has, and what to do."""
    where = f"{type_}/{version}/{time_range}"
    row = conn.execute("SELECT time_ranges, enabled FROM trending.strategies WHERE type = %s AND version = %s",
                       (type_, version)).fetchone()
    if row is None:
        registered = [f"{t}/{v}" for t, v in conn.execute(
            "SELECT type, version FROM trending.strategies ORDER BY type, version").fetchall()]
        return f"{where}: trending has no such strategy (registered: {', '.join(registered)})"
    if time_range not in row[0]:
        return f"{where}: strategy {type_}/{version} has no range {time_range} (it has {', '.join(row[0])})"
    return (f"{where}: strategy {type_}/{version} is switched off in trending: UPDATE trending.strategies "
            f"SET enabled = true WHERE type = '{type_}' AND version = '{version}';")


def _kind(conn, oid: int, name: str) -> str:
    columns = {r[0] for r in conn.execute(
        "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped "
        "AND attname = ANY (%s)", (oid, list(KINDS))).fetchall()}
    if len(columns) != 1:
        raise CliError(f"cannot tell whether {name} holds tracks or playlists "
                       f"({'both' if columns else 'neither'} track_id and playlist_id)",
                       "say which: --kind track or --kind playlist")
    return KINDS[columns.pop()]
