"""The benchmark at the upstream's production size (issue 18, item 5): the prod
protocol's contenders and phases, and the extrapolation (a power law fitted
on log-log over the scales of results.json files, labelled as one). No
cluster: synthetic results."""

from __future__ import annotations

import json

import pytest

from trending_cli.bench import extrapolate


def _cycle(phase: str, contender: str, wall_s: float, blocks: int, status: str = "ok") -> dict:
    return {"phase": phase, "contender": contender, "wall_s": wall_s, "blocks": {"touched": blocks},
            "wal_bytes": 1_000_000, "status": status}


def _results(*scales) -> dict:
    """scales: (key, track ids, cycles)."""
    return {"scales": {key: {"data": {"tracks": int(tracks * 1.1), "aggregate_track": tracks}, "cycles": cycles}
                       for key, tracks, cycles in scales}}


def _law(tracks: int, a: float = 2e-5, b: float = 1.2) -> float:
    return a * tracks ** b


def test_a_power_law_is_recovered_and_extrapolated():
    """Points on t = 2e-5 * tracks^1.2 at three sizes (one failed cycle and a
    growth variant beside them, both ignored): a, b and the prediction come
    back, with R^2 = 1."""
    sizes = (200_000, 1_000_000, 2_000_000)
    runs = [("medium", _results(("medium", sizes[0], [_cycle("cold", "C0", _law(sizes[0]), 100)]),
                                ("medium+growth", 600_000, [_cycle("cold", "C0", 1.0, 1)]))),
            ("large", _results(("large", sizes[1], [_cycle("cold", "C0", _law(sizes[1]), 500),
                                                    _cycle("cold", "C0", 999.0, 1, status="failed")]))),
            ("prod", _results(("prod", sizes[2], [_cycle("cold", "C0", _law(sizes[2]), 1000)])))]
    rows = extrapolate.extrapolate(runs, metrics=("wall_s",), at=(4_200_000,))
    (row,) = rows
    assert [p.tracks for p in row["points"]] == list(sizes)
    assert row["fit"].a == pytest.approx(2e-5, rel=1e-9) and row["fit"].b == pytest.approx(1.2, rel=1e-9)
    assert row["fit"].r2 == pytest.approx(1.0)
    assert row["predicted"][4_200_000] == pytest.approx(_law(4_200_000), rel=1e-9)


def test_hourly_cycles_are_one_point_and_a_lone_size_is_not_fitted():
    """hour01.. are one point (their median); a series measured at one size
    gets a note instead of a curve; blocks are fitted like wall time."""
    runs = [("m", _results(("medium", 1000, [_cycle("hour01", "trending", 1.0, 10), _cycle("hour02", "trending", 3.0, 30),
                                             _cycle("hour03", "trending", 2.0, 20),
                                             _cycle("day", "trending", 5.0, 50)]))),
            ("l", _results(("large", 10_000, [_cycle("hour01", "trending", 20.0, 200)])))]
    rows = {(r["phase"], r["metric"]): r for r in extrapolate.extrapolate(runs, at=(100_000,))}
    hourly = rows[("hourly", "wall_s")]
    assert [p.value for p in hourly["points"]] == [2.0, 20.0]
    assert hourly["fit"].b == pytest.approx(1.0) and hourly["predicted"][100_000] == pytest.approx(200.0)
    assert rows[("hourly", "blocks")]["predicted"][100_000] == pytest.approx(2000.0)
    assert "fit" not in rows[("day", "wall_s")] and "two sizes" in rows[("day", "wall_s")]["note"]


def test_the_command_prints_a_table_labelled_extrapolation(tmp_path, capsys):
    for key, tracks in (("medium", 200_000), ("large", 1_000_000)):
        (tmp_path / key).mkdir()
        (tmp_path / key / "results.json").write_text(json.dumps(_results(
            (key, tracks, [_cycle("steady", "trending-incr", _law(tracks), 7)]))))
    out = tmp_path / "extrapolation.md"
    assert extrapolate.main([str(tmp_path / "medium" / "results.json"), str(tmp_path / "large" / "results.json"),
                             "--at", "4200000", "--metrics", "wall_s", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text == out.read_text()
    assert text.startswith("## extrapolation")
    (line,) = [line for line in text.splitlines() if line.startswith("| trending-incr | steady |")]
    assert "1.200" in line and f"{_law(4_200_000):,.2f}" in line and "200,000: " in line and "(large:large)" in line


# ---------------------------------------------------------------------------
# the prod protocol's choice of contenders and phases (no cluster)
# ---------------------------------------------------------------------------
def test_the_prod_protocol_measures_each_contender_in_its_phases_and_the_reference_in_all():
    """C0 runs cold and steady only; trending is measured there too but runs
    every phase trending-incr runs, as the reference its scores are checked
    against; the prod scale picks the prod protocol by default."""
    from trending_cli.bench import runner
    prod = runner.protocol_for("prod", None)
    assert prod.name == "prod" and runner.protocol_for("tiny", None).name == "standard"
    assert runner.protocol_for("tiny", "prod") is prod
    with pytest.raises(ValueError, match="unknown protocol"):
        runner.protocol_for("tiny", "fast")
    names = runner.contenders_for("tiny", None, prod)
    assert names == ("C0", "trending", "trending-incr")
    config = runner.ScaleConfig(scale="tiny", contenders=names, hourly_cycles=prod.hourly_cycles,
                                options=runner.Options(), only=prod.only, reconcile=prod.reconcile)
    bench = runner.ScaleRun(cluster=None, config=config, progress=lambda line: None)
    ran = {phase.name: [c.name for c in bench.running_in(phase)]
           for phase in runner.phases(runner.AS_OF, config.hourly_cycles, config.reconcile)}
    assert ran == {"cold": list(names), "steady": list(names), "day": ["trending", "trending-incr"],
                   "hour01": ["trending", "trending-incr"], "hour02": ["trending", "trending-incr"],
                   "hour03": ["trending", "trending-incr"], "reconcile": ["trending", "trending-incr"]}
    # without trending-incr, nothing needs the reference after steady
    alone = runner.ScaleRun(cluster=None, config=runner.ScaleConfig(
        scale="tiny", contenders=("C0", "trending"), hourly_cycles=0, options=runner.Options(), only=prod.only),
        progress=lambda line: None)
    assert [c.name for c in alone.running_in(runner.Phase("day", runner.AS_OF, None))] == []


def test_a_contender_past_its_last_phase_is_retired_but_never_the_reference():
    """After steady, C0 (no later phase) drops its schema; trending, limited to
    the same phases but the reference, keeps everything."""
    from trending_cli.bench import runner

    class Admin:
        def __init__(self):
            self.statements = []

        def execute(self, statement, *args):
            self.statements.append(repr(statement))

    prod = runner.PROTOCOLS["prod"]
    config = runner.ScaleConfig(scale="tiny", contenders=("C0", "trending", "trending-incr"), hourly_cycles=0,
                                options=runner.Options(), only=prod.only)
    bench = runner.ScaleRun(cluster=None, config=config, progress=lambda line: None)
    bench.admin = {"bench": Admin(), "bench_incr": Admin()}
    later = [runner.Phase("day", runner.AS_OF, None)]
    bench.retire_finished(bench.contenders, [runner.Phase("steady", runner.AS_OF, None)] + later)
    assert bench.admin["bench"].statements == [] and "retired" not in bench.result
    bench.retire_finished(bench.contenders, later)
    assert bench.result["retired"] == ["C0"]
    (drop,) = bench.admin["bench"].statements
    assert "DROP SCHEMA" in drop and "upstream_c0" in drop and bench.admin["bench_incr"].statements == []


def test_a_gap_phase_comes_after_the_hourly_cycles_and_before_reconcile():
    """--gap-hours N: one cycle N hours after the last hourly one (the
    catch-up after a gap shorter than the day's), then the reconciling hour."""
    from datetime import timedelta

    from trending_cli.bench import runner
    plan = runner.phases(runner.AS_OF, 2, reconcile=True, gap_hours=6)
    assert [p.name for p in plan] == ["cold", "steady", "day", "hour01", "hour02", "gap6h", "reconcile"]
    gap, hour02 = plan[-2], plan[-3]
    assert gap.advance_from == hour02.now and gap.now - hour02.now == timedelta(hours=6)
    assert [p.name for p in runner.phases(runner.AS_OF, 0)] == ["cold", "steady", "day"]


def test_the_rotation_protocol_runs_a_day_of_hours_with_c0_beside_the_steady_one():
    from trending_cli.bench import runner
    rotation = runner.protocol_for("medium", "rotation")
    names = runner.contenders_for("medium", None, rotation)
    config = runner.ScaleConfig(scale="medium", contenders=names, hourly_cycles=rotation.hourly_cycles,
                                options=runner.Options(), only=rotation.only, reconcile=rotation.reconcile,
                                reconcile_every=rotation.reconcile_every)
    bench = runner.ScaleRun(cluster=None, config=config, progress=lambda line: None)
    # the round of the default day: one of the 24 hours completes it, each checks 1/24 of the state
    assert {c.name: c.reconcile_every for c in bench.contenders if hasattr(c, "reconcile_every")} == {
        "trending-incr": "1 day", "trending-full": "1 day"}
    assert runner.ScaleConfig(scale="medium", contenders=names, hourly_cycles=1,
                              options=runner.Options()).reconcile_every == "7 days"
    ran = {phase.name: [c.name for c in bench.running_in(phase)]
           for phase in runner.phases(runner.AS_OF, config.hourly_cycles, config.reconcile, gap_hours=6)}
    assert ran["steady"] == ["C0", "trending", "trending-incr", "trending-full"]
    assert ran["day"] == ["trending", "trending-incr", "trending-full"]
    assert ran["hour24"] == ran["gap6h"] == ran["reconcile"] == ["trending", "trending-incr"]
