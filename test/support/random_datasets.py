"""Small adversarial source datasets: a builder for hand-made ones and a seeded
random generator, plus loading into a schema of their own.

A `Dataset` holds rows per source table (dicts of column -> value) and the
`now` (an aware datetime) its cycle should run at. JSON columns hold JSON
*text* (or None for SQL NULL), so a jsonb 'null' can be told from SQL NULL.
A timestamp column holds a naive UTC datetime or PostgreSQL's text for what
datetime cannot hold ('infinity', '-infinity', '4713-01-01 00:00:00 BC').
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional

from psycopg import sql

from trending_cli.sample_data import create_source_schema

COLUMNS = {
    "users": ["user_id", "txhash", "is_current", "cover_photo", "cover_photo_sizes", "profile_picture",
              "profile_picture_sizes", "bio"],
    "tracks": ["track_id", "txhash", "owner_id", "genre", "created_at", "release_date", "is_current",
               "is_delete", "is_unlisted", "stem_of", "is_available"],
    "playlists": ["playlist_id", "txhash", "playlist_owner_id", "is_album", "is_private", "is_current",
                  "is_delete", "playlist_contents", "created_at", "release_date"],
    "plays": ["id", "user_id", "play_item_id", "created_at"],
    "saves": ["user_id", "save_item_id", "save_type", "txhash", "is_current", "is_delete", "created_at"],
    "reposts": ["user_id", "repost_item_id", "repost_type", "txhash", "is_current", "is_delete", "created_at"],
    "aggregate_user": ["user_id", "follower_count", "following_count"],
    "aggregate_track": ["track_id", "repost_count", "save_count"],
    "aggregate_plays": ["play_item_id", "count"],
    "aggregate_playlist": ["playlist_id", "is_album", "repost_count", "save_count"],
}


class _JsonNull:
    """Marker: store the jsonb value 'null' (not SQL NULL)."""

    def __repr__(self) -> str:
        return "JSON_NULL"


JSON_NULL = _JsonNull()
_UNSET = object()


def _json_text(value) -> Optional[str]:
    if value is None:
        return None
    if value is JSON_NULL:
        return "null"
    return json.dumps(value)


@dataclass
class Dataset:
    """Rows per source table plus the cycle's `now` (aware)."""
    now: datetime
    seed: Optional[int] = None
    tables: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in COLUMNS})
    _tx: int = 0
    _play_id: int = 0

    @property
    def now_utc(self) -> datetime:
        return self.now.astimezone(timezone.utc).replace(tzinfo=None)

    def _txhash(self) -> str:
        self._tx += 1
        return f"tx{self._tx}"

    def _add(self, table: str, **row) -> dict:
        assert set(row) == set(COLUMNS[table]), (table, set(row) ^ set(COLUMNS[table]))
        self.tables[table].append(row)
        return row

    # -- rows ------------------------------------------------------------
    def user(self, user_id, *, is_current=True, cover_photo="cover", cover_photo_sizes=None,
             profile_picture="pic", profile_picture_sizes=None, bio="bio", followers=_UNSET,
             following=0):
        """A users row (full profile by default); `followers` also adds an aggregate_user row."""
        self._add("users", user_id=user_id, txhash=self._txhash(), is_current=is_current,
                  cover_photo=cover_photo, cover_photo_sizes=cover_photo_sizes,
                  profile_picture=profile_picture, profile_picture_sizes=profile_picture_sizes, bio=bio)
        if followers is not _UNSET:
            self.agg_user(user_id, followers, following)

    def agg_user(self, user_id, follower_count, following_count=0):
        self._add("aggregate_user", user_id=user_id, follower_count=follower_count,
                  following_count=following_count)

    def track(self, track_id, owner_id, created_at, *, genre="Electronic", release_date=None,
              is_current=True, is_delete=False, is_unlisted=False, stem_of=None, is_available=True):
        """stem_of: None = SQL NULL, JSON_NULL = jsonb 'null', else a JSON-able value."""
        self._add("tracks", track_id=track_id, txhash=self._txhash(), owner_id=owner_id, genre=genre,
                  created_at=created_at, release_date=release_date, is_current=is_current,
                  is_delete=is_delete, is_unlisted=is_unlisted, stem_of=_json_text(stem_of),
                  is_available=is_available)

    def play(self, item_id, created_at, user_id=None):
        self._play_id += 1
        self._add("plays", id=self._play_id, user_id=user_id, play_item_id=item_id, created_at=created_at)

    def save(self, user_id, item_id, created_at, *, type="track", is_current=True, is_delete=False):
        self._add("saves", user_id=user_id, save_item_id=item_id, save_type=type, txhash=self._txhash(),
                  is_current=is_current, is_delete=is_delete, created_at=created_at)

    def repost(self, user_id, item_id, created_at, *, type="track", is_current=True, is_delete=False):
        self._add("reposts", user_id=user_id, repost_item_id=item_id, repost_type=type,
                  txhash=self._txhash(), is_current=is_current, is_delete=is_delete, created_at=created_at)

    def agg_track(self, track_id, repost_count=0, save_count=0):
        self._add("aggregate_track", track_id=track_id, repost_count=repost_count, save_count=save_count)

    def agg_plays(self, track_id, count):
        self._add("aggregate_plays", play_item_id=track_id, count=count)

    def agg_playlist(self, playlist_id, repost_count=0, save_count=0, is_album=False):
        self._add("aggregate_playlist", playlist_id=playlist_id, is_album=is_album,
                  repost_count=repost_count, save_count=save_count)

    def playlist(self, playlist_id, owner_id, created_at, *, track_ids=(1, 2, 3), contents=_UNSET,
                 release_date=None, is_album=False, is_private=False, is_current=True, is_delete=False):
        """contents: the whole playlist_contents (None = SQL NULL, JSON_NULL = jsonb 'null');
        by default {"track_ids": [{"track": id, "time": 0}, ...]} from `track_ids`."""
        if contents is _UNSET:
            contents = {"track_ids": [{"track": t, "time": 1700000000 + i} for i, t in enumerate(track_ids)]}
        self._add("playlists", playlist_id=playlist_id, txhash=self._txhash(), playlist_owner_id=owner_id,
                  is_album=is_album, is_private=is_private, is_current=is_current, is_delete=is_delete,
                  playlist_contents=_json_text(contents), created_at=created_at, release_date=release_date)

    def summary(self) -> str:
        sizes = ", ".join(f"{t}={len(r)}" for t, r in self.tables.items() if r)
        return f"seed={self.seed} now={self.now.isoformat()} ({sizes})"


def load_dataset(conn, schema: str, dataset: Dataset) -> None:
    """Create `schema` with the source tables (dropping it first) and COPY the rows in."""
    with conn.transaction():
        create_source_schema(conn, schema, indexes=True)
        with conn.cursor() as cur:
            for table, rows in dataset.tables.items():
                if not rows:
                    continue
                cols = COLUMNS[table]
                stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                    sql.Identifier(schema), sql.Identifier(table),
                    sql.SQL(", ").join(sql.Identifier(c) for c in cols))
                with cur.copy(stmt) as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in cols])


def drop_schema(conn, schema: str) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ---------------------------------------------------------------------------
# The seeded random generator
# ---------------------------------------------------------------------------
def _minus_months(ts: datetime, months: int) -> datetime:
    """PostgreSQL's ts - interval 'n mon' (clamped day). Kept local on purpose:
    the generator only needs boundary instants, the oracle has its own copy."""
    index = ts.year * 12 + ts.month - 1 - months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = (datetime(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return ts.replace(year=year, month=month, day=min(ts.day, last))


US = timedelta(microseconds=1)
SEC = timedelta(seconds=1)
DAY = timedelta(days=1)


def _pick_now(rnd: random.Random) -> datetime:
    kind = rnd.random()
    fixed = [
        datetime(2024, 3, 31, 12, 0), datetime(2023, 3, 31, 0, 0), datetime(2024, 3, 31, 23, 59, 59, 999999),
        datetime(2024, 2, 29, 6, 30), datetime(2024, 2, 29, 0, 0), datetime(2023, 12, 31, 23, 0),
        datetime(2024, 12, 31, 0, 0), datetime(2024, 5, 1, 0, 0), datetime(2023, 1, 1, 0, 0),
        datetime(2024, 1, 31, 18, 0, 0, 500000), datetime(2024, 10, 31, 1, 2, 3), datetime(2100, 3, 31, 9, 0),
        datetime(2025, 3, 30, 0, 0), datetime(2024, 7, 31, 23, 59, 59),
    ]
    if kind < 0.45:
        naive = rnd.choice(fixed)
    else:
        start = datetime(2019, 1, 1)
        naive = start + timedelta(seconds=rnd.randrange(9 * 365 * 86400))
        if rnd.random() < 0.6:
            naive = naive.replace(microsecond=rnd.randrange(1, 1_000_000))
        elif rnd.random() < 0.3:
            naive = naive.replace(hour=0, minute=0, second=0)
    aware = naive.replace(tzinfo=timezone.utc)
    # Sometimes express the same instant in another offset: only the instant matters.
    if rnd.random() < 0.25:
        aware = aware.astimezone(timezone(timedelta(hours=rnd.choice([-8, -5, 2, 5.5, 13]))))
    return aware


def _pick_time(rnd: random.Random, now: datetime) -> datetime:
    """A naive UTC timestamp, often exactly on (or next to) a window or age boundary."""
    r = rnd.random()
    if r < 0.35:
        month = _minus_months(now, 1)
        year = _minus_months(now, 12)
        special = [
            now - 7 * DAY, now - 7 * DAY + SEC, now - 7 * DAY - SEC, now - 7 * DAY + US, now - 7 * DAY - US,
            month, month + US, month - US, month + SEC, year, year - US,
            now - 30 * DAY, now - 30 * DAY + US, now - 30 * DAY - US, now - 31 * DAY,
            now - 365 * DAY, now - 365 * DAY + US, now - 365 * DAY - US, now - 366 * DAY,
            now - 8 * DAY, now - 8 * DAY + US, now - 6 * DAY, now - 29 * DAY, now - 364 * DAY,
            now - 7 * DAY - (DAY - US), now - 8 * DAY + US,
            now, now + US, now - US, now + DAY, now + 40 * DAY, now + 400 * DAY,
            now - 10 * 365 * DAY, now - 3000 * DAY,
        ]
        return rnd.choice(special)
    if r < 0.6:
        span = 10 * DAY
    elif r < 0.8:
        span = 40 * DAY
    elif r < 0.95:
        span = 400 * DAY
    else:
        span = 5 * 365 * DAY
    back = timedelta(microseconds=rnd.randrange(int(span.total_seconds() * 1_000_000)))
    ts = now - back
    if rnd.random() < 0.5:
        ts = ts.replace(microsecond=0)
    return ts


def _pick_flag(rnd: random.Random, usual: bool, p_other=0.08, p_null=0.04):
    r = rnd.random()
    if r < p_null:
        return None
    if r < p_null + p_other:
        return not usual
    return usual


def _pick_followers(rnd: random.Random):
    r = rnd.random()
    if r < 0.05:
        return None
    if r < 0.25:
        return rnd.choice([0, 1, 2, 3, 4])
    if r < 0.8:
        return rnd.randint(0, 5000)
    if r < 0.93:
        return rnd.randint(5000, 2_000_000)
    return rnd.randint(10 ** 9, 10 ** 12)


def _user_rows(rnd: random.Random, ds: Dataset, uid: int) -> None:
    def profile_row(is_current, full):
        cols = {"cover_photo": "c", "cover_photo_sizes": None, "profile_picture": "p",
                "profile_picture_sizes": None, "bio": "hello"}
        if rnd.random() < 0.3:
            cols["cover_photo"], cols["cover_photo_sizes"] = None, "sizes"
        if rnd.random() < 0.3:
            cols["profile_picture"], cols["profile_picture_sizes"] = None, "sizes"
        if rnd.random() < 0.1:
            cols["bio"] = ""
        if not full:
            missing = rnd.choice(["cover", "picture", "bio", "all"])
            if missing in ("cover", "all"):
                cols["cover_photo"] = cols["cover_photo_sizes"] = None
            if missing in ("picture", "all"):
                cols["profile_picture"] = cols["profile_picture_sizes"] = None
            if missing in ("bio", "all"):
                cols["bio"] = None
        ds.user(uid, is_current=is_current, **cols)

    r = rnd.random()
    if r < 0.05:
        pass                                                         # no users row at all
    elif r < 0.8:
        profile_row(_pick_flag(rnd, True, 0.03, 0.03), rnd.random() < 0.75)
    else:
        # several rows: history, sometimes two current ones, sometimes NULL is_current
        for _ in range(rnd.randint(2, 4)):
            profile_row(rnd.choice([True, False, False, None]), rnd.random() < 0.6)


def random_dataset(seed: int) -> Dataset:
    rnd = random.Random(seed)
    now = _pick_now(rnd)
    ds = Dataset(now=now, seed=seed)
    t0 = ds.now_utc

    # Users and their aggregate rows.
    user_ids = rnd.sample(range(1, 200), rnd.randint(5, 40))
    for uid in user_ids:
        _user_rows(rnd, ds, uid)
        if rnd.random() < 0.9:
            ds.agg_user(uid, _pick_followers(rnd), rnd.choice([None, 0, 10, 1499, 1500, rnd.randint(0, 9999)]))
    ghost_users = [900, 901]                                          # ids with no rows anywhere
    ds.agg_user(902, rnd.randint(10 ** 11, 10 ** 12), 0)              # a whale without users rows

    # Whales with full profiles and huge follower counts (karma above 2^31).
    whales = []
    for uid in (950, 951):
        if rnd.random() < 0.5:
            ds.user(uid, followers=rnd.randint(10 ** 9, 10 ** 12))
            whales.append(uid)

    def any_user():
        r = rnd.random()
        if r < 0.05:
            return rnd.choice(ghost_users + [902])
        if r < 0.12 and whales:
            return rnd.choice(whales)
        return rnd.choice(user_ids)

    # Tracks.
    track_ids = rnd.sample(range(1, 500), rnd.randint(5, 60))
    genres = ["Electronic", "Rock", "Hip-Hop/Rap", "Lo-Fi", None, ""]
    for tid in track_ids:
        owner = any_user() if rnd.random() < 0.9 else rnd.choice(user_ids)
        genre = rnd.choice(genres)
        created = _pick_time(rnd, t0)
        r = rnd.random()
        if r < 0.35:
            release = None
        elif r < 0.5:
            release = created
        elif r < 0.65:
            release = created - timedelta(days=rnd.randint(0, 400), seconds=rnd.randint(0, 86399))
        elif r < 0.8:
            release = created + timedelta(days=rnd.randint(0, 60), seconds=rnd.randint(1, 86399))
        else:
            release = _pick_time(rnd, t0)
        r = rnd.random()
        stem = None
        if r < 0.05:
            stem = {"parent_track_id": rnd.choice(track_ids), "category": "other"}
        elif r < 0.08:
            stem = JSON_NULL
        elif r < 0.09:
            stem = {}
        shape = rnd.random()
        if shape < 0.1:                                               # history rows too
            for _ in range(rnd.randint(1, 2)):
                ds.track(tid, owner if rnd.random() < 0.7 else any_user(), _pick_time(rnd, t0),
                         genre=rnd.choice(genres), is_current=rnd.choice([False, False, None]),
                         is_delete=_pick_flag(rnd, False), is_unlisted=_pick_flag(rnd, False))
        if shape < 0.04:                                              # two current rows
            ds.track(tid, owner, created, genre=rnd.choice(genres))
        if shape > 0.97:                                              # no current row at all
            continue
        ds.track(tid, owner, created, genre=genre, release_date=release,
                 is_current=_pick_flag(rnd, True, 0.0, 0.03),
                 is_delete=_pick_flag(rnd, False, 0.07, 0.03),
                 is_unlisted=_pick_flag(rnd, False, 0.07, 0.03),
                 stem_of=stem, is_available=_pick_flag(rnd, True, 0.1, 0.1))

    # Playlists.
    playlist_ids = rnd.sample(range(1, 100), rnd.randint(0, 15))
    for pid in playlist_ids:
        owner = any_user()
        created = _pick_time(rnd, t0)
        release = rnd.choice([None, None, created, created - 3 * DAY, created + 5 * DAY, _pick_time(rnd, t0)])
        entries = [{"track": rnd.choice(track_ids), "time": 1700000000 + i} for i in range(rnd.randint(0, 5))]
        r = rnd.random()
        if r < 0.65:
            contents = {"track_ids": entries}
        elif r < 0.72:
            contents = {"track_ids": [e["track"] for e in entries]}   # bare ids: still an array
        elif r < 0.77:
            contents = {}
        elif r < 0.81:
            contents = {"track_ids": {"track": 1, "time": 2}}
        elif r < 0.84:
            contents = {"track_ids": "1,2,3,4"}
        elif r < 0.87:
            contents = None
        elif r < 0.89:
            contents = JSON_NULL
        elif r < 0.91:
            contents = {"track_ids": None}
        elif r < 0.93:
            contents = [1, 2, 3, 4]
        else:
            contents = {"track_ids": entries, "other": 1}
        shape = rnd.random()
        if shape < 0.12:
            ds.playlist(pid, owner, _pick_time(rnd, t0), is_current=rnd.choice([False, None]),
                        contents={"track_ids": [1, 2, 3, 4]})
        if shape < 0.05:
            ds.playlist(pid, owner, created)
        if shape > 0.97:
            continue
        ds.playlist(pid, owner, created, contents=contents, release_date=release,
                    is_album=rnd.random() < 0.2, is_private=_pick_flag(rnd, False, 0.1, 0.04),
                    is_current=_pick_flag(rnd, True, 0.0, 0.03), is_delete=_pick_flag(rnd, False, 0.07, 0.03))

    # Plays (some of ids that do not exist).
    for _ in range(rnd.randint(0, 300)):
        item = rnd.choice(track_ids) if rnd.random() < 0.95 else rnd.randint(600, 700)
        ds.play(item, _pick_time(rnd, t0), user_id=None if rnd.random() < 0.2 else any_user())

    # Saves and reposts.
    def item_for(kind):
        if rnd.random() < 0.03:
            return rnd.randint(600, 700)                              # does not exist
        if kind == "track" or not playlist_ids:
            return rnd.choice(track_ids)
        if kind == "album" and rnd.random() < 0.5:
            return rnd.choice(track_ids)                              # album action on a track id
        return rnd.choice(playlist_ids)

    def action(add, uid, kind, item, created):
        add(uid, item, created, type=kind, is_current=_pick_flag(rnd, True, 0.08, 0.03),
            is_delete=_pick_flag(rnd, False, 0.1, 0.03))

    for add in (ds.save, ds.repost):
        for _ in range(rnd.randint(0, 120)):
            kind = rnd.choices(["track", "playlist", "album"], [0.7, 0.2, 0.1])[0]
            uid, item, created = any_user(), item_for(kind), _pick_time(rnd, t0)
            action(add, uid, kind, item, created)
            r = rnd.random()
            if r < 0.08:                                              # history row of the same pair
                add(uid, item, _pick_time(rnd, t0), type=kind, is_current=False, is_delete=rnd.random() < 0.5)
            elif r < 0.11:                                            # a second current row
                add(uid, item, _pick_time(rnd, t0), type=kind)
            if r > 0.85:                                              # the same user also does the other action
                other = ds.repost if add is ds.save else ds.save
                action(other, uid, kind, item, _pick_time(rnd, t0))

    # Whales acting recently on playlists (playlist karma above 2^31).
    for uid in whales:
        if playlist_ids:
            for _ in range(rnd.randint(1, 3)):
                rnd.choice([ds.save, ds.repost])(uid, rnd.choice(playlist_ids), t0 - rnd.random() * 6 * DAY,
                                                 type="playlist")

    # Aggregates (some for ids that do not exist, some NULL play counts).
    for tid in track_ids + [rnd.randint(600, 700)]:
        if rnd.random() < 0.8:
            ds.agg_track(tid, rnd.randint(0, 1000), rnd.randint(0, 5000))
        r = rnd.random()
        if r < 0.1:
            ds.agg_plays(tid, None)
        elif r < 0.85:
            ds.agg_plays(tid, rnd.randint(0, 10 ** 6) if rnd.random() < 0.95 else rnd.randint(10 ** 9, 10 ** 12))
    for pid in playlist_ids:
        if rnd.random() < 0.7:
            ds.agg_playlist(pid, rnd.randint(0, 500), rnd.randint(0, 2000), is_album=rnd.random() < 0.2)
    return ds


# ---------------------------------------------------------------------------
# One cycle of the extension on a dataset, next to the oracle's answer
# ---------------------------------------------------------------------------
@dataclass
class CycleResult:
    dataset: Dataset
    summary: dict
    got_tracks: dict
    got_playlists: dict
    expected_tracks: dict
    expected_playlists: dict
    expected_bad_rows: dict

    def mismatches(self, limit: int = 15) -> list[str]:
        from oracle import score_mismatches
        out = score_mismatches(self.expected_tracks, self.got_tracks, with_genre=True)
        out += score_mismatches(self.expected_playlists, self.got_playlists, with_genre=False)
        return out[:limit] if limit else out

    def assert_matches_oracle(self) -> None:
        problems = self.mismatches(limit=0)
        bad = self.summary.get("bad_rows")
        # an incremental cycle reads only the affected items: it counts no absurd rows
        incremental = (self.summary.get("cycle") or {}).get("kind") == "incremental"
        expected = dict.fromkeys(self.expected_bad_rows) if incremental else self.expected_bad_rows
        if bad != expected:
            problems.insert(0, f"bad_rows: expected {expected}, got {bad}")
        if problems:
            raise AssertionError(f"{self.dataset.summary()}: {len(problems)} mismatches vs the oracle:\n  "
                                 + "\n  ".join(problems[:15]))


ENTRY_POINTS = ("recompute", "scheduled")


def scheduled_summary(conn, now: datetime) -> dict:
    """CALL trending.scheduled_recompute(now) and its run's row as a summary-like
    dict: status, message and bad_rows (every counter, None when not counted,
    as recompute()'s summary has them)."""
    from oracle import expected_bad_rows, Source

    (before,) = conn.execute("SELECT COALESCE(max(run_id), 0) FROM trending.runs").fetchone()
    error = None
    try:
        conn.execute("CALL trending.scheduled_recompute(%s)", (now,))
    except Exception as exc:        # the run row says what failed; report both
        error = exc
    row = conn.execute("SELECT run_id, status, message, bad_rows, cycle_kind FROM trending.runs "
                       "WHERE run_id > %s AND trigger = 'scheduled' ORDER BY run_id DESC LIMIT 1",
                       (before,)).fetchone()
    if row is None:
        raise AssertionError(f"scheduled_recompute left no run row (error: {error!r})")
    run_id, status, message, recorded, kind = row
    bad_rows = dict.fromkeys(expected_bad_rows(Source(), now))
    bad_rows.update(recorded if isinstance(recorded, dict) else json.loads(recorded or "{}"))
    return {"status": status, "run_id": run_id, "message": message, "error": error, "bad_rows": bad_rows,
            "cycle": {"kind": kind}}


def run_cycle(conn, schema: str, dataset: Dataset, strategies=None, *, load: bool = True,
              keep_schema: bool = False, entry: str = "recompute") -> CycleResult:
    """Load `dataset` into `schema`, run a cycle at dataset.now with `strategies`
    enabled (all by default) through `entry` ("recompute": SELECT
    trending.recompute(); "scheduled": CALL trending.scheduled_recompute()),
    and return stored rows and the oracle's. A cycle that fails raises."""
    from oracle import ALL_STRATEGIES, expected_bad_rows, expected_scores, fetch_source
    from support.harness import (enable_strategies, playlist_scores, recompute, track_scores,
                                 use_source_schema)

    if entry not in ENTRY_POINTS:
        raise ValueError(f"entry must be one of {ENTRY_POINTS}")
    strategies = list(ALL_STRATEGIES if strategies is None else strategies)
    if load:
        load_dataset(conn, schema, dataset)
    try:
        source = fetch_source(conn, schema)
        use_source_schema(conn, schema)
        enable_strategies(conn, strategies)
        if entry == "recompute":
            summary = recompute(conn, dataset.now)
        else:
            summary = scheduled_summary(conn, dataset.now)
            if summary["status"] != "ok":
                raise AssertionError(f"{dataset.summary()}: scheduled run {summary['status']}: "
                                     f"{summary['message']} ({summary['error']!r})")
        got_tracks, got_playlists = track_scores(conn), playlist_scores(conn)
    finally:
        if not keep_schema:
            drop_schema(conn, schema)
    exp_tracks, exp_playlists = expected_scores(source, dataset.now, strategies)
    return CycleResult(dataset, summary, got_tracks, got_playlists, exp_tracks, exp_playlists,
                       expected_bad_rows(source, dataset.now))
