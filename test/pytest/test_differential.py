"""Differential test: the extension vs the independent Python oracle on 200
seeded adversarial datasets (support/random_datasets.py), one item per seed.

Each dataset lives in its own schema for one cycle (all four strategies on,
recompute at the dataset's `now`), then the stored rows are compared with the
oracle: the same keys, equal genres, scores within relative 1e-9, and the
summary's bad_rows counters. A failure names the seed, so it can be replayed
with `pytest test/pytest/test_differential.py -k 'seed_17'`.
"""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest

from oracle import ALL_STRATEGIES
from support.random_datasets import random_dataset, run_cycle

SEEDS = range(200)
RANGE_KEYS = {"inserted", "updated", "deleted", "unchanged", "ms"}
COVERAGE = {"seeds": set(), "rows": Counter(), "bad_rows": Counter()}


@pytest.fixture(scope="module")
def dconn(dsn):
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


def _check_summary(result) -> list[str]:
    """The summary's shape, and its counters consistent with the stored rows."""
    summary, problems = result.summary, []
    if summary.get("status") != "ok":
        problems.append(f"status {summary.get('status')!r}")
    stored = Counter((k[1], k[2], k[3]) for k in result.got_tracks)
    stored.update((k[1], k[2], k[3]) for k in result.got_playlists)
    strategies = summary.get("strategies", {})
    for typ, version in ALL_STRATEGIES:
        entry = strategies.get(f"{typ}/{version}")
        if not entry or entry.get("enabled") is not True:
            problems.append(f"strategy {typ}/{version} missing or not enabled in summary: {entry!r}")
            continue
        for rng, counts in entry.get("ranges", {}).items():
            if not RANGE_KEYS <= set(counts):
                problems.append(f"{typ}/{version}/{rng}: keys {sorted(counts)}")
                continue
            live = counts["inserted"] + counts["updated"] + counts["unchanged"]
            if live != stored[(typ, version, rng)]:
                problems.append(f"{typ}/{version}/{rng}: inserted+updated+unchanged = {live}, "
                                f"but {stored[(typ, version, rng)]} rows stored ({counts})")
    return problems


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed_{s}" for s in SEEDS])
def test_matches_oracle(dconn, seed):
    dataset = random_dataset(seed)
    result = run_cycle(dconn, f"diff_{seed}", dataset)
    COVERAGE["seeds"].add(seed)
    COVERAGE["rows"].update((k[1], k[2], k[3]) for k in [*result.expected_tracks, *result.expected_playlists])
    COVERAGE["bad_rows"].update({k: 1 for k, v in result.expected_bad_rows.items() if v})
    result.assert_matches_oracle()
    problems = _check_summary(result)
    assert not problems, f"{dataset.summary()}: summary problems:\n  " + "\n  ".join(problems)


def test_datasets_exercise_every_output():
    """Run after the seeds: the datasets must have produced rows of every
    strategy and range, and every kind of bad row (else the test above proves little)."""
    if len(COVERAGE["seeds"]) < len(SEEDS):
        pytest.skip("needs every seed of test_matches_oracle in this run")
    for typ, version in ALL_STRATEGIES:
        ranges = ("week", "month", "year") if typ == "PLAYLISTS" else ("week", "month", "allTime")
        for rng in ranges:
            assert COVERAGE["rows"][(typ, version, rng)] > 200, (typ, version, rng, COVERAGE["rows"])
    for counter in ("duplicate_current_tracks", "duplicate_current_playlists", "playlists_track_ids_not_array",
                    "null_play_counts", "playlist_karma_over_int4"):
        assert COVERAGE["bad_rows"][counter] >= 10, (counter, COVERAGE["bad_rows"])
