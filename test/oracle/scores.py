"""A reference evaluation of the trending formulas of docs/reference.md, in plain Python.

Independent of the extension: it reads the source tables with plain SELECTs
(``fetch_source``) and evaluates every formula row by row with dicts and
loops (``expected_scores``, ``expected_bad_rows``). Datasets are small, so
clarity wins over speed.

Readings of the reference (docs/reference.md) used here (agreed for the project):
1. an id with more than one ``is_current IS TRUE`` row (tracks, playlists) is
   skipped;
2. NULL flags make a row ineligible (IS TRUE / IS FALSE semantics);
3. ``stem_of IS NULL`` is SQL NULL (a jsonb 'null' is not NULL);
4. track karma is a SQL SUM over (contribution x profile-matching users row)
   pairs, 0 when no value; playlist karma is a SQL SUM that stays NULL
   (factor 1) when there is no non-NULL value;
5. profile check: (cover_photo or cover_photo_sizes) and (profile_picture or
   profile_picture_sizes) and bio, each IS NOT NULL ('' counts as present);
6. playlist entries: playlist_contents->'track_ids' must be a JSON array of
   at least 3 elements;
7. owner followers NULL is not < 3; playlists need an aggregate_user row for
   the owner;
8. windows: tracks '7 days' / '1 mon' (calendar), playlists '7/30/365 days';
   counts use created_at > bound, playlist karma created_at >= bound; no
   upper bound; all in naive UTC;
9. age_days: whole days of now_utc - base, truncated toward zero;
10. allTime: no row without a non-NULL aggregate_plays.count; missing
    aggregate_track / aggregate_playlist counts are 0;
11. only non-zero scores are stored; tracks carry their genre.

the reference's "Absurd rows" (docs/reference-absurd-rows.md), read here as:
12. timestamps are read as text and kept as integer microseconds since
    1970-01-01 or +/-inf (``calendar.parse_pg_timestamp``), so the whole of
    PostgreSQL's range works; a track or playlist with an infinite created_at
    is not eligible; an infinite release_date and infinite event dates follow
    the rules as written (comparisons with +/-inf); ages are not clamped here;
13. a negative follower_count: a contributor adds nothing (as if it had no
    aggregate_user row); an owner is < Y;
14. a genre over 1,000 bytes (UTF-8) is stored as NULL; karma is an exact int.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from psycopg import sql
from psycopg.adapt import Loader
from psycopg.rows import namedtuple_row

from .calendar import is_finite, parse_pg_timestamp, subtract, to_utc_naive, usecs, whole_days

# the reference's constants.
N, F, O, R, I, Q, Y = 1, 50, 1, 0.25, 0.01, 100000, 3

TRACK_RANGES = {"week": ("7 days", 7), "month": ("1 mon", 30)}          # count window, decay w
PLAYLIST_RANGES = {"week": 7, "month": 30, "year": 365}                  # '<w> days', decay w

TRACK_STRATEGIES = [("TRACKS", "pnagD"), ("TRACKS", "AnlGe"), ("UNDERGROUND_TRACKS", "pnagD")]
PLAYLIST_STRATEGIES = [("PLAYLISTS", "pnagD")]
ALL_STRATEGIES = TRACK_STRATEGIES + PLAYLIST_STRATEGIES

INT4_MAX = 2_147_483_647
INT8_MAX = 9_223_372_036_854_775_807
GENRE_MAX_BYTES = 1000


# ---------------------------------------------------------------------------
# Source rows (only the columns docs/reference.md says are read)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackRow:
    track_id: int
    owner_id: int
    genre: Optional[str]
    created_at: Any                 # calendar.usecs value (or a naive datetime)
    release_date: Any               # the same, or None
    is_current: Optional[bool]
    is_delete: Optional[bool]
    is_unlisted: Optional[bool]
    stem_of_is_null: bool
    is_available: Optional[bool]


@dataclass(frozen=True)
class PlayRow:
    id: int
    play_item_id: int
    created_at: Any                 # calendar.usecs value (or a naive datetime)
    user_id: Optional[int]


@dataclass(frozen=True)
class ActionRow:
    """A saves or reposts row: item_id/item_type are save_item_id/save_type or
    repost_item_id/repost_type."""
    user_id: int
    item_id: int
    item_type: str
    is_current: Optional[bool]
    is_delete: Optional[bool]
    created_at: Any                 # calendar.usecs value (or a naive datetime)


@dataclass(frozen=True)
class UserRow:
    user_id: int
    is_current: Optional[bool]
    cover_photo: Optional[str]
    cover_photo_sizes: Optional[str]
    profile_picture: Optional[str]
    profile_picture_sizes: Optional[str]
    bio: Optional[str]


@dataclass(frozen=True)
class PlaylistRow:
    playlist_id: int
    playlist_owner_id: int
    is_album: Optional[bool]
    is_private: Optional[bool]
    is_current: Optional[bool]
    is_delete: Optional[bool]
    playlist_contents: Any          # the jsonb value as Python (None for SQL NULL or JSON null)
    created_at: Any                 # calendar.usecs value (or a naive datetime)
    release_date: Any               # the same, or None


@dataclass
class Source:
    tracks: list[TrackRow] = field(default_factory=list)
    plays: list[PlayRow] = field(default_factory=list)
    saves: list[ActionRow] = field(default_factory=list)
    reposts: list[ActionRow] = field(default_factory=list)
    users: list[UserRow] = field(default_factory=list)
    aggregate_user: dict[int, tuple[Optional[int], Optional[int]]] = field(default_factory=dict)  # follower, following
    aggregate_track: dict[int, tuple[int, int]] = field(default_factory=dict)      # repost_count, save_count
    aggregate_plays: dict[int, Optional[int]] = field(default_factory=dict)        # count
    aggregate_playlist: dict[int, tuple[int, int]] = field(default_factory=dict)   # repost_count, save_count
    playlists: list[PlaylistRow] = field(default_factory=list)


class _TimestampLoader(Loader):
    """timestamp text -> microseconds since 1970 or +/-inf (any year, infinities)."""

    def load(self, data):
        return parse_pg_timestamp(bytes(data).decode())


def fetch_source(conn, schema: str) -> Source:
    """Read the columns a cycle reads (docs/reference.md) of every source table of `schema` (plain SELECTs).
    Timestamps come back as ``calendar.usecs`` values, not datetimes."""

    def rows(query: str):
        stmt = sql.SQL(query).format(s=sql.Identifier(schema))
        # the loader parses ISO output, whatever the session's DateStyle
        (previous,) = conn.execute("SELECT pg_catalog.current_setting('DateStyle')").fetchone()
        conn.execute("SELECT pg_catalog.set_config('DateStyle', 'ISO, YMD', false)")
        try:
            with conn.cursor(row_factory=namedtuple_row) as cur:
                cur.adapters.register_loader("timestamp", _TimestampLoader)
                return cur.execute(stmt).fetchall()
        finally:
            conn.execute("SELECT pg_catalog.set_config('DateStyle', %s, false)", (previous,))

    src = Source()
    src.tracks = [TrackRow(r.track_id, r.owner_id, r.genre, r.created_at, r.release_date,
                           r.is_current, r.is_delete, r.is_unlisted, r.stem_of_is_null, r.is_available)
                  for r in rows("SELECT track_id, owner_id, genre, created_at, release_date, is_current, "
                                "is_delete, is_unlisted, stem_of IS NULL AS stem_of_is_null, is_available "
                                "FROM {s}.tracks")]
    src.plays = [PlayRow(r.id, r.play_item_id, r.created_at, r.user_id)
                 for r in rows("SELECT id, play_item_id, created_at, user_id FROM {s}.plays")]
    src.saves = [ActionRow(r.user_id, r.save_item_id, r.save_type, r.is_current, r.is_delete, r.created_at)
                 for r in rows("SELECT user_id, save_item_id, save_type::text AS save_type, is_current, "
                               "is_delete, created_at FROM {s}.saves")]
    src.reposts = [ActionRow(r.user_id, r.repost_item_id, r.repost_type, r.is_current, r.is_delete,
                             r.created_at)
                   for r in rows("SELECT user_id, repost_item_id, repost_type::text AS repost_type, "
                                 "is_current, is_delete, created_at FROM {s}.reposts")]
    src.users = [UserRow(r.user_id, r.is_current, r.cover_photo, r.cover_photo_sizes, r.profile_picture,
                         r.profile_picture_sizes, r.bio)
                 for r in rows("SELECT user_id, is_current, cover_photo, cover_photo_sizes, profile_picture, "
                               "profile_picture_sizes, bio FROM {s}.users")]
    src.aggregate_user = {r.user_id: (r.follower_count, r.following_count)
                          for r in rows("SELECT user_id, follower_count, following_count "
                                        "FROM {s}.aggregate_user")}
    src.aggregate_track = {r.track_id: (r.repost_count, r.save_count)
                           for r in rows("SELECT track_id, repost_count, save_count FROM {s}.aggregate_track")}
    src.aggregate_plays = {r.play_item_id: r.count
                           for r in rows("SELECT play_item_id, count FROM {s}.aggregate_plays")}
    src.aggregate_playlist = {r.playlist_id: (r.repost_count, r.save_count)
                              for r in rows("SELECT playlist_id, repost_count, save_count "
                                            "FROM {s}.aggregate_playlist")}
    src.playlists = [PlaylistRow(r.playlist_id, r.playlist_owner_id, r.is_album, r.is_private, r.is_current,
                                 r.is_delete, r.playlist_contents, r.created_at, r.release_date)
                     for r in rows("SELECT playlist_id, playlist_owner_id, is_album, is_private, is_current, "
                                   "is_delete, playlist_contents, created_at, release_date "
                                   "FROM {s}.playlists")]
    return src


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------
def _current_rows(rows, key):
    """{id: [rows with is_current IS TRUE]}."""
    out = defaultdict(list)
    for row in rows:
        if row.is_current is True:
            out[key(row)].append(row)
    return out


def duplicate_current_ids(rows, key) -> set[int]:
    return {i for i, current in _current_rows(rows, key).items() if len(current) > 1}


def single_current_rows(rows, key) -> dict[int, Any]:
    """{id: its only current row}, skipping ids with several current rows."""
    return {i: current[0] for i, current in _current_rows(rows, key).items() if len(current) == 1}


def listed_tracks(src: Source) -> dict[int, TrackRow]:
    """Single current rows that pass every flag of eligibility."""
    return {tid: t for tid, t in single_current_rows(src.tracks, lambda r: r.track_id).items()
            if t.is_delete is False and t.is_unlisted is False and t.stem_of_is_null}


def eligible_tracks(src: Source) -> dict[int, TrackRow]:
    return {tid: t for tid, t in listed_tracks(src).items() if is_finite(t.created_at)}


def track_ids_array(contents) -> Optional[list]:
    """playlist_contents->'track_ids' when it is a JSON array, else None."""
    if not isinstance(contents, dict):
        return None
    value = contents.get("track_ids")
    return value if isinstance(value, list) else None


def _visible_playlists(src: Source) -> dict[int, PlaylistRow]:
    """Single current rows that are current, not deleted and not private."""
    return {pid: p for pid, p in single_current_rows(src.playlists, lambda r: r.playlist_id).items()
            if p.is_delete is False and p.is_private is False}


def eligible_playlists(src: Source) -> dict[int, PlaylistRow]:
    out = {}
    for pid, p in _visible_playlists(src).items():
        entries = track_ids_array(p.playlist_contents)
        if entries is None or len(entries) < 3:
            continue
        if p.playlist_owner_id not in src.aggregate_user:
            continue
        if not is_finite(p.created_at):
            continue
        out[pid] = p
    return out


def has_profile(u: UserRow) -> bool:
    return ((u.cover_photo is not None or u.cover_photo_sizes is not None)
            and (u.profile_picture is not None or u.profile_picture_sizes is not None)
            and u.bio is not None)


def live_actions(rows: list[ActionRow], item_type: str) -> list[ActionRow]:
    """Current, non-deleted saves/reposts of one type."""
    return [a for a in rows if a.item_type == item_type and a.is_current is True and a.is_delete is False]


def follower_count(src: Source, user_id: int) -> Optional[int]:
    """An owner's follower_count (a negative one is < Y like any other)."""
    agg = src.aggregate_user.get(user_id)
    return None if agg is None else agg[0]


def contributor_followers(src: Source, user_id: int) -> Optional[int]:
    """A karma contributor's follower_count; a negative one adds nothing, as if
    the user had no aggregate_user row."""
    count = follower_count(src, user_id)
    return None if count is None or count < 0 else count


def negative_followers(src: Source, user_id: int) -> bool:
    count = follower_count(src, user_id)
    return count is not None and count < 0


def age_days(now_utc, created_at, release_date) -> int:
    """Whole days of now - base; every argument a datetime or ``usecs`` value,
    created_at finite. Unbounded (Python ints): no clamping needed here."""
    now, created = usecs(now_utc), usecs(created_at)
    release = None if release_date is None else usecs(release_date)
    if release is None or release > now:
        base = created
    else:
        base = max(release, created)
    return whole_days(now, base)


def stored_genre(genre: Optional[str]) -> Optional[str]:
    """What a track's rows store as genre: NULL when it is over 1,000 bytes."""
    if genre is not None and len(genre.encode("utf-8")) > GENRE_MAX_BYTES:
        return None
    return genre


def decay(age: int, window: int) -> float:
    if age <= window:
        return 1.0
    return max(1 / Q, Q ** max(-10.0, 1 - age / window))


def followers_too_few(followers: Optional[int]) -> bool:
    return followers is not None and followers < Y


def _sql_sum(values) -> Optional[int]:
    """SQL SUM: NULL when no non-NULL value."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


# ---------------------------------------------------------------------------
# Tracks
# ---------------------------------------------------------------------------
def track_karma(src: Source) -> dict[int, int]:
    """{track_id: karma} over every live track save and repost (no window),
    once per users row (current or not) of the contributor with a full profile."""
    profile_rows = Counter(u.user_id for u in src.users if has_profile(u))
    values = defaultdict(list)
    for action in live_actions(src.reposts, "track") + live_actions(src.saves, "track"):
        for _ in range(profile_rows[action.user_id]):
            values[action.item_id].append(contributor_followers(src, action.user_id))
    return {tid: (_sql_sum(v) or 0) for tid, v in values.items()}


def _count_after(rows, key_of, bound: datetime) -> Counter:
    bound = usecs(bound)
    return Counter(key_of(r) for r in rows if usecs(r.created_at) > bound)


def expected_track_scores(src: Source, now: datetime,
                          strategies=TRACK_STRATEGIES) -> dict[tuple, tuple]:
    now_utc = to_utc_naive(now)
    tracks = eligible_tracks(src)
    karma = track_karma(src)
    reposts = live_actions(src.reposts, "track")
    saves = live_actions(src.saves, "track")

    counts = {}
    for rng, (interval, _w) in TRACK_RANGES.items():
        bound = subtract(now_utc, interval)
        counts[rng] = (_count_after(src.plays, lambda p: p.play_item_id, bound),
                       _count_after(reposts, lambda a: a.item_id, bound),
                       _count_after(saves, lambda a: a.item_id, bound))

    out = {}
    for tid, t in tracks.items():
        if followers_too_few(follower_count(src, t.owner_id)):
            continue                                   # every score is 0: nothing stored
        repost_total, save_total = src.aggregate_track.get(tid, (0, 0))
        age = age_days(now_utc, t.created_at, t.release_date)
        k_pnagd = karma.get(tid, 0)
        ks = {"pnagD": float(k_pnagd), "AnlGe": 1 + math.log10(1 + k_pnagd)}

        raw = {}
        for rng, (_interval, window) in TRACK_RANGES.items():
            listens, reposts_r, saves_r = (c[tid] for c in counts[rng])
            s = N * listens + F * reposts_r + O * saves_r + R * repost_total + I * save_total
            raw[rng] = (decay(age, window), float(s))
        play_total = src.aggregate_plays.get(tid)
        if play_total is not None:
            raw["allTime"] = (1.0, float(N * play_total + R * repost_total + I * save_total))

        for typ, version in strategies:
            k = ks[version]
            for rng, (d, s) in raw.items():
                score = d * s * k
                if score != 0:
                    out[(tid, typ, version, rng)] = (score, stored_genre(t.genre))
    return out


# ---------------------------------------------------------------------------
# Playlists
# ---------------------------------------------------------------------------
def expected_playlist_scores(src: Source, now: datetime,
                             strategies=PLAYLIST_STRATEGIES) -> dict[tuple, float]:
    if ("PLAYLISTS", "pnagD") not in strategies:
        return {}
    now_utc = to_utc_naive(now)
    out = {}
    for pid, p in eligible_playlists(src).items():
        for rng, score in _playlist_range_scores(src, now_utc, p).items():
            if score is not None and score != 0:
                out[(pid, "PLAYLISTS", "pnagD", rng)] = score
    return out


def playlist_karma(src: Source, now_utc: datetime, pid: int, window: int) -> Optional[int]:
    bound = usecs(subtract(now_utc, f"{window} days"))
    current_profiles = Counter(u.user_id for u in src.users if u.is_current is True and has_profile(u))
    values = []
    for action in live_actions(src.reposts, "playlist") + live_actions(src.saves, "playlist"):
        if action.item_id == pid and usecs(action.created_at) >= bound:
            for _ in range(current_profiles[action.user_id]):
                values.append(contributor_followers(src, action.user_id))
    return _sql_sum(values)


def _playlist_range_scores(src: Source, now_utc: datetime, p: PlaylistRow) -> dict:
    """{range: score (None when the owner has fewer than Y followers)} for one eligible playlist."""
    pid = p.playlist_id
    too_few = followers_too_few(follower_count(src, p.playlist_owner_id))
    agg_reposts, agg_saves = src.aggregate_playlist.get(pid, (0, 0))
    age = age_days(now_utc, p.created_at, p.release_date)
    out = {}
    for rng, w in PLAYLIST_RANGES.items():
        bound = usecs(subtract(now_utc, f"{w} days"))
        reposts_w = sum(1 for a in live_actions(src.reposts, "playlist")
                        if a.item_id == pid and usecs(a.created_at) > bound)
        saves_w = sum(1 for a in live_actions(src.saves, "playlist")
                      if a.item_id == pid and usecs(a.created_at) > bound)
        karma = playlist_karma(src, now_utc, pid, w)
        s = N * 1 + F * reposts_w + O * saves_w + R * agg_reposts + I * agg_saves
        k = 1.0 if karma is None else float(karma)
        out[rng] = None if too_few else decay(age, w) * float(s) * k
    return out


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------
def expected_scores(source: Source, now: datetime, strategies=ALL_STRATEGIES):
    """(tracks {(track_id, type, version, time_range): (score, genre)},
        playlists {(playlist_id, type, version, time_range): score})
    for the enabled `strategies` at `now` (an aware datetime)."""
    tracks = expected_track_scores(source, now, [s for s in strategies if s in TRACK_STRATEGIES])
    playlists = expected_playlist_scores(source, now, [s for s in strategies if s in PLAYLIST_STRATEGIES])
    return tracks, playlists


def _absurd_track_rows(src: Source, now_utc: datetime) -> dict:
    """the reference's "Absurd rows" counters for tracks (docs/reference-absurd-rows.md)."""
    tracks = eligible_tracks(src)
    live = live_actions(src.reposts, "track") + live_actions(src.saves, "track")
    profiles = {u.user_id for u in src.users if has_profile(u)}            # any users row
    negative = {t.owner_id for t in tracks.values() if negative_followers(src, t.owner_id)}
    negative |= {a.user_id for a in live if a.item_id in tracks and a.user_id in profiles
                 and negative_followers(src, a.user_id)}
    karma = track_karma(src)
    return {
        "tracks_created_at_infinite": sum(1 for t in listed_tracks(src).values() if not is_finite(t.created_at)),
        "tracks_release_date_infinite": sum(1 for t in tracks.values()
                                            if t.release_date is not None and not is_finite(t.release_date)),
        "track_events_created_at_infinite":
            sum(1 for p in src.plays if p.play_item_id in tracks and not is_finite(p.created_at))
            + sum(1 for a in live if a.item_id in tracks and not is_finite(a.created_at)),
        "track_genres_over_1000_bytes": sum(1 for t in tracks.values()
                                            if t.genre is not None and stored_genre(t.genre) is None),
        "track_users_negative_followers": len(negative),
        "track_karma_over_int8": sum(1 for tid in tracks if karma.get(tid, 0) > INT8_MAX),
    }


def _absurd_playlist_rows(src: Source, now_utc: datetime) -> dict:
    """the reference's "Absurd rows" counters for playlists."""
    playlists = eligible_playlists(src)
    live = live_actions(src.reposts, "playlist") + live_actions(src.saves, "playlist")
    year_bound = usecs(subtract(now_utc, f"{max(PLAYLIST_RANGES.values())} days"))
    current_profiles = {u.user_id for u in src.users if u.is_current is True and has_profile(u)}
    negative = {p.playlist_owner_id for p in playlists.values()
                if negative_followers(src, p.playlist_owner_id)}
    negative |= {a.user_id for a in live if a.item_id in playlists and a.user_id in current_profiles
                 and usecs(a.created_at) >= year_bound and negative_followers(src, a.user_id)}
    over_int8 = 0
    for pid in playlists:
        karmas = [playlist_karma(src, now_utc, pid, w) for w in PLAYLIST_RANGES.values()]
        over_int8 += any(k is not None and k > INT8_MAX for k in karmas)
    return {
        "playlists_created_at_infinite": sum(1 for p in _visible_playlists(src).values()
                                             if not is_finite(p.created_at)),
        "playlists_release_date_infinite": sum(1 for p in playlists.values()
                                               if p.release_date is not None and not is_finite(p.release_date)),
        "playlist_events_created_at_infinite": sum(1 for a in live
                                                   if a.item_id in playlists and not is_finite(a.created_at)),
        "playlist_users_negative_followers": len(negative),
        "playlist_karma_over_int8": over_int8,
    }


def expected_bad_rows(source: Source, now: datetime) -> dict:
    """The summary's bad_rows counters: the reference's known traps and absurd rows."""
    now_utc = to_utc_naive(now)
    tracks = eligible_tracks(source)
    not_array = sum(1 for p in _visible_playlists(source).values()
                    if track_ids_array(p.playlist_contents) is None)
    null_plays = sum(1 for tid in tracks
                     if tid in source.aggregate_plays and source.aggregate_plays[tid] is None)
    over_int4 = 0
    for pid in eligible_playlists(source):
        karmas = [playlist_karma(source, now_utc, pid, w) for w in PLAYLIST_RANGES.values()]
        if any(k is not None and k > INT4_MAX for k in karmas):
            over_int4 += 1
    return {
        "duplicate_current_tracks": len(duplicate_current_ids(source.tracks, lambda r: r.track_id)),
        "duplicate_current_playlists": len(duplicate_current_ids(source.playlists, lambda r: r.playlist_id)),
        "playlists_track_ids_not_array": not_array,
        "null_play_counts": null_plays,
        "playlist_karma_over_int4": over_int4,
        **_absurd_track_rows(source, now_utc),
        **_absurd_playlist_rows(source, now_utc),
    }


# ---------------------------------------------------------------------------
# Comparing with what the extension stored
# ---------------------------------------------------------------------------
def _close(expected: float, got, rel: float) -> bool:
    if got is None:
        return False
    return abs(expected - got) <= rel * max(abs(expected), abs(got))


def score_mismatches(expected: dict, got: dict, *, rel: float = 1e-9, with_genre: bool) -> list[str]:
    """Human-readable differences between expected and stored rows, sorted by key.
    Values are (score, genre) when `with_genre`, else bare scores."""
    out = []
    for key in sorted(set(expected) | set(got), key=repr):
        if key not in got:
            out.append(f"missing row {key}: expected {expected[key]!r}")
        elif key not in expected:
            out.append(f"unexpected row {key}: got {got[key]!r}")
        else:
            e, g = expected[key], got[key]
            e_score, g_score = (e[0], g[0]) if with_genre else (e, g)
            if not _close(e_score, g_score, rel):
                out.append(f"score {key}: expected {e_score!r}, got {g_score!r}")
            if with_genre and e[1] != g[1]:
                out.append(f"genre {key}: expected {e[1]!r}, got {g[1]!r}")
    return out


# ---------------------------------------------------------------------------
# Per-item inputs (issue 11: trending.explain_track/explain_playlist are
# checked against these). Built from the same building blocks as the scores
# above; nothing above uses them, so the oracle's results do not change.
# ---------------------------------------------------------------------------
def expected_track_inputs(src: Source, now: datetime) -> dict[int, dict]:
    """{track_id: inputs} for every eligible track, with the names the
    explanation uses."""
    now_utc = to_utc_naive(now)
    karma = track_karma(src)
    reposts = live_actions(src.reposts, "track")
    saves = live_actions(src.saves, "track")
    counts = {}
    for rng, (interval, _w) in TRACK_RANGES.items():
        bound = subtract(now_utc, interval)
        counts[rng] = (_count_after(src.plays, lambda p: p.play_item_id, bound),
                       _count_after(reposts, lambda a: a.item_id, bound),
                       _count_after(saves, lambda a: a.item_id, bound))
    out = {}
    for tid, t in eligible_tracks(src).items():
        repost_total, save_total = src.aggregate_track.get(tid, (0, 0))
        row = {"owner_id": t.owner_id, "owner_followers": follower_count(src, t.owner_id),
               "genre": stored_genre(t.genre), "age_days": age_days(now_utc, t.created_at, t.release_date),
               "repost_total": repost_total, "save_total": save_total,
               "play_total": src.aggregate_plays.get(tid), "karma": karma.get(tid, 0)}
        for rng in TRACK_RANGES:
            listens, reposts_r, saves_r = (c[tid] for c in counts[rng])
            row.update({f"listens_{rng}": listens, f"reposts_{rng}": reposts_r, f"saves_{rng}": saves_r})
        out[tid] = row
    return out


def expected_playlist_inputs(src: Source, now: datetime) -> dict[int, dict]:
    """{playlist_id: inputs} for every eligible playlist (karma_<range> None
    when no contributor: factor 1)."""
    now_utc = to_utc_naive(now)
    out = {}
    for pid, p in eligible_playlists(src).items():
        repost_total, save_total = src.aggregate_playlist.get(pid, (0, 0))
        row = {"owner_id": p.playlist_owner_id, "owner_followers": follower_count(src, p.playlist_owner_id),
               "age_days": age_days(now_utc, p.created_at, p.release_date),
               "repost_total": repost_total, "save_total": save_total}
        for rng, w in PLAYLIST_RANGES.items():
            bound = usecs(subtract(now_utc, f"{w} days"))
            row[f"reposts_{rng}"] = sum(1 for a in live_actions(src.reposts, "playlist")
                                        if a.item_id == pid and usecs(a.created_at) > bound)
            row[f"saves_{rng}"] = sum(1 for a in live_actions(src.saves, "playlist")
                                      if a.item_id == pid and usecs(a.created_at) > bound)
            row[f"karma_{rng}"] = playlist_karma(src, now_utc, pid, w)
        out[pid] = row
    return out
