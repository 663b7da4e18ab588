"""`trending explain track|playlist ID`: why an item has the score it has."""

from __future__ import annotations

import json

from ..db import connect, require_extension
from ..errors import CliError
from ..output import table


def register(commands) -> None:
    parser = commands.add_parser(
        "explain", help="explain one track's or playlist's score: inputs, formula terms, stored score",
        description="Print trending.explain_track() or trending.explain_playlist() readably: every input, each "
                    "term of the formula, the decay and K, the computed and the stored score and whether they "
                    "agree; for an item that is not eligible, the rule that excludes it.")
    parser.add_argument("kind", choices=("track", "playlist"))
    parser.add_argument("id", type=int, metavar="ID", help="the track_id or playlist_id")
    parser.add_argument("--range", default="week", dest="time_range",
                        help="week (default), month, allTime for tracks; week, month, year for playlists")
    parser.add_argument("--version", default="pnagD", help="pnagD (default) or AnlGe (tracks only)")
    parser.add_argument("--at", metavar="TIME",
                        help="explain as of this now (default: the now of the stored scores)")
    parser.add_argument("--json", action="store_true", help="print the jsonb document as it is")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.kind == "playlist" and args.version != "pnagD":
        raise CliError("--version applies to tracks only", "drop --version for a playlist")
    with connect(args.dsn) as conn:
        require_extension(conn, since="1.1")
        if args.kind == "track":
            row = conn.execute("SELECT trending.explain_track(%s, %s, %s, %s::timestamptz)",
                               (args.id, args.time_range, args.version, args.at)).fetchone()
        else:
            row = conn.execute("SELECT trending.explain_playlist(%s, %s, %s::timestamptz)",
                               (args.id, args.time_range, args.at)).fetchone()
    doc = row[0]
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(render(doc))
    return 0


# jsonb orders object keys by length: show the inputs in reading order
INPUT_ORDER = ("track_id", "playlist_id", "owner_id", "owner_followers", "genre", "age_days",
               "listens_week", "listens_month", "reposts_week", "reposts_month", "reposts_year",
               "saves_week", "saves_month", "saves_year", "repost_total", "save_total", "play_total",
               "karma", "karma_week", "karma_month", "karma_year")


def _number(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(doc: dict) -> str:
    """The document as a few short sections."""
    title = f"{doc['kind']} {doc['id']}: {doc['type']}/{doc['version']}/{doc['time_range']}"
    lines = [title, f"now: {doc['now']} ({doc['now_source']}); source schema {doc['source_schema']}"
             + ("" if doc["strategy_enabled"] else "; strategy switched off")]
    if doc.get("bad_rows"):
        lines.append("bad rows: " + ", ".join(f"{k} {v}" for k, v in doc["bad_rows"].items()))
    if not doc["eligible"]:
        lines.append(f"not eligible: {doc['excluded_by']}")
    else:
        lines.append("")
        lines.append("inputs")
        order = sorted(doc["inputs"], key=lambda k: (INPUT_ORDER.index(k) if k in INPUT_ORDER else len(INPUT_ORDER), k))
        lines.append(table(["input", "value"], [[k, _number(doc["inputs"][k])] for k in order], align="lr"))
        contributors = doc.get("karma_contributors") or []
        if contributors:
            lines.append("")
            lines.append(f"karma: biggest contributors ({len(contributors)} of {doc['karma_contributors_total']})")
            lines.append(table(["user_id", "followers", "engagements", "profile rows", "contribution"],
                               [[c["user_id"], c["follower_count"], c["engagements"], c["profile_rows"],
                                 c["contribution"]] for c in contributors]))
        f = doc["formula"]
        lines.append("")
        lines.append("formula: " + f["expression"] + "  (S = the sum of the terms)")
        rows = [[t["term"], _number(t["value"])] for t in f["terms"]]
        rows += [["S", _number(f["S"])], ["decay" + (f" (window {f['decay_window_days']} days)"
                                                     if f["decay_window_days"] else ""), _number(f["decay"])],
                 [f"K ({f['K_is']})", _number(f["K"])],
                 ["owner_followers < Y", "yes: score 0" if f["owner_below_min_followers"] else "no"]]
        lines.append(table(["term", "value"], rows, align="lr"))
    lines.append("")
    computed = doc.get("computed_score")
    lines.append(f"computed score: {_number(computed)}"
                 + (f" (no row: {doc['no_row_because']})" if doc.get("no_row_because") else ""))
    stored = doc.get("stored")
    lines.append("stored score:   " + ("none" if stored is None else
                                       f"{_number(float(stored['score']))} (written {stored['created_at']} UTC)"))
    lines.append("agree: " + ("yes" if doc["agrees"] else "NO (another now, or the sources changed since)"))
    return "\n".join(lines)
