"""What test_faults.py injects: a server crash (pg_ctl stop -m immediate) and
restart, the service's indexer writing while a cycle runs, and the oracle's
verdict on whatever the source tables hold at the end.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from trending_cli.cluster import Cluster, pg_bindir


class CrashableCluster(Cluster):
    """A throwaway cluster that can be killed like a power cut of the server
    processes (the OS survives) and started again, running crash recovery."""

    def crash(self) -> None:
        """pg_ctl stop -m immediate: every server process quits at once, no
        checkpoint, no shutdown record; the next start replays the WAL."""
        self._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
        self.running = False

    def restart(self) -> None:
        self._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                             "-w", "-t", "60", "start"])
        self.running = True


def oracle_mismatches(conn, schema: str, now: datetime, strategies) -> list[str]:
    """The stored scores against the independent oracle's, on the source rows
    `schema` holds now (empty when they agree)."""
    from oracle import expected_scores, fetch_source, score_mismatches
    from support.harness import playlist_scores, track_scores

    tracks, playlists = expected_scores(fetch_source(conn, schema), now, strategies)
    return (score_mismatches(tracks, track_scores(conn), with_genre=True)
            + score_mismatches(playlists, playlist_scores(conn), with_genre=False))


class ServiceWriter:
    """The service's indexer on its own connection: each batch inserts plays,
    a save and a repost (of tracks and playlists) dated shortly before
    `now_utc`, bumps the aggregate counters, and commits, then rests `pace`
    seconds (a steady stream, not a flood). It loops until stop() or
    `max_batches` or `max_seconds`, whichever comes first; an error
    ends it and is kept. `overlapping` counts the batches committed while
    the `during` event was set (the test sets it around a cycle)."""

    def __init__(self, dsn: str, schema: str, now_utc: datetime, *, seed: int = 1,
                 max_batches: int = 5000, max_seconds: float = 30.0, pace: float = 0.005):
        self.dsn, self.schema, self.now_utc, self.pace = dsn, schema, now_utc, pace
        self.rnd = random.Random(seed)
        self.max_batches, self.max_seconds = max_batches, max_seconds
        self.batches = self.overlapping = 0
        self.rows = {"plays": 0, "saves": 0, "reposts": 0}
        self.error: Exception | None = None
        self.during = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(60)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))

    def _run(self) -> None:
        try:
            with psycopg.connect(self.dsn) as conn:
                tracks = [r[0] for r in conn.execute(self._q("SELECT DISTINCT track_id FROM {s}.tracks"))]
                playlists = [r[0] for r in conn.execute(self._q("SELECT DISTINCT playlist_id FROM {s}.playlists"))]
                users = [r[0] for r in conn.execute(self._q("SELECT DISTINCT user_id FROM {s}.users"))]
                next_play = conn.execute(self._q("SELECT coalesce(max(id), 0) + 1 FROM {s}.plays")).fetchone()[0]
                conn.commit()
                deadline = time.monotonic() + self.max_seconds
                while not self._stop.is_set() and self.batches < self.max_batches and time.monotonic() < deadline:
                    next_play = self._batch(conn, tracks, playlists, users, next_play)
                    overlapping = self.during.is_set()
                    conn.commit()
                    self.batches += 1
                    self.overlapping += overlapping
                    self._stop.wait(self.pace)
        except Exception as error:  # noqa: BLE001 - kept for the test to report
            self.error = error

    def _when(self) -> datetime:
        return self.now_utc - timedelta(seconds=self.rnd.randint(60, 6 * 86400))

    def _batch(self, conn, tracks, playlists, users, next_play: int) -> int:
        rnd = self.rnd
        track = rnd.choice(tracks)
        plays = [(next_play + i, rnd.choice(users + [None]), track, self._when()) for i in range(3)]
        with conn.cursor() as cur:
            cur.executemany(self._q("INSERT INTO {s}.plays (id, user_id, play_item_id, created_at) "
                                    "VALUES (%s, %s, %s, %s)"), plays)
            cur.execute(self._q("UPDATE {s}.aggregate_plays SET count = count + 3 WHERE play_item_id = %s"),
                        (track,))
            for table, item_col, type_col, counter in (("saves", "save_item_id", "save_type", "save_count"),
                                                       ("reposts", "repost_item_id", "repost_type", "repost_count")):
                kind = "playlist" if playlists and rnd.random() < 0.3 else "track"
                item = rnd.choice(playlists if kind == "playlist" else tracks)
                cur.execute(self._q(f"INSERT INTO {{s}}.{table} (user_id, {item_col}, {type_col}, txhash, "
                                    "is_current, is_delete, created_at) VALUES (%s, %s, %s, %s, true, false, %s)"),
                            (rnd.choice(users), item, kind, f"writer-{self.batches}", self._when()))
                aggregate, key = ("aggregate_playlist", "playlist_id") if kind == "playlist" else \
                    ("aggregate_track", "track_id")
                cur.execute(self._q(f"UPDATE {{s}}.{aggregate} SET {counter} = {counter} + 1 WHERE {key} = %s"),
                            (item,))
                self.rows[table] += 1
        self.rows["plays"] += 3
        return next_play + 3
