"""An extrapolation of the benchmark's figures to a size it did not run at
(issue 18, item 5): `python -m trending_cli.bench.extrapolate RESULTS.json ...`.

For each contender and phase, a power law t = a * tracks^b is fitted by least
squares on log(tracks) and log(figure) over every scale of the given
results.json files (medium, large and the largest that fit, say), and the
fitted value printed at the sizes asked for. tracks is the number of track
ids (aggregate_track has one row per id; the tracks table also holds history
rows). The output is labelled an extrapolation: it is a curve through a few
measured points, not a measurement.

Phases: cold, steady, day and reconcile as they are; the hourly cycles
(hour01, ...) as one point, their median. Failed cycles are left out, and so
are the variants (growth, older plays: other data at the same size).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_AT = (4_200_000,)
METRICS = {"wall_s": ("wall s", lambda v: f"{v:,.2f}"),
           "blocks": ("blocks touched", lambda v: f"{v:,.0f}"),
           "wal_bytes": ("WAL MB", lambda v: f"{v / 1e6:,.1f}")}
PHASE_ORDER = ("cold", "steady", "hourly", "day", "reconcile")


@dataclass(frozen=True)
class Point:
    tracks: int
    value: float
    source: str        # "file:scale"


@dataclass(frozen=True)
class Fit:
    a: float
    b: float
    r2: float | None   # None with two points (the curve passes through both)

    def at(self, tracks: float) -> float:
        return self.a * tracks ** self.b


def fit_power_law(points) -> Fit:
    """Least squares of log(value) = log(a) + b * log(tracks); needs two
    distinct sizes and positive values."""
    xs = [math.log(p.tracks) for p in points]
    ys = [math.log(p.value) for p in points]
    if len(set(xs)) < 2:
        raise ValueError("a power law needs points at two sizes at least")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    log_a = my - b * mx
    r2 = None
    if len(set(xs)) > 2:
        total = sum((y - my) ** 2 for y in ys)
        residual = sum((y - (log_a + b * x)) ** 2 for x, y in zip(xs, ys))
        r2 = 1.0 - residual / total if total else 1.0
    return Fit(a=math.exp(log_a), b=b, r2=r2)


def track_ids(data: dict) -> int | None:
    """The run's track ids: aggregate_track's rows (one per id)."""
    counts = data.get("data", {})
    return counts.get("aggregate_track") or None


def metric_value(record: dict, metric: str):
    if metric == "blocks":
        return record.get("blocks", {}).get("touched")
    return record.get(metric)


def phase_group(phase: str) -> str:
    return "hourly" if phase.startswith("hour") else phase


def collect(results: dict, source: str, metric: str) -> dict:
    """(contender, phase) -> the run's points for `metric`, one per scale."""
    points: dict = {}
    for key, data in results.get("scales", {}).items():
        tracks = track_ids(data)
        if "+" in key or not tracks:
            continue
        values: dict = {}
        for record in data.get("cycles", []):
            value = metric_value(record, metric)
            if record.get("status") != "ok" or value is None or value <= 0:
                continue
            values.setdefault((record["contender"], phase_group(record["phase"])), []).append(value)
        for series, found in values.items():
            points.setdefault(series, []).append(Point(tracks, statistics.median(found), f"{source}:{key}"))
    return points


def extrapolate(runs, metrics=("wall_s", "blocks"), at=DEFAULT_AT) -> list:
    """Rows (dicts) of the fitted curves: runs are (source name, results dict)."""
    rows = []
    for metric in metrics:
        series: dict = {}
        for source, results in runs:
            for key, found in collect(results, source, metric).items():
                series.setdefault(key, []).extend(found)
        order = sorted(series, key=lambda k: (k[0], PHASE_ORDER.index(k[1]) if k[1] in PHASE_ORDER else 99, k[1]))
        for contender, phase in order:
            points = sorted(series[(contender, phase)], key=lambda p: (p.tracks, p.source))
            row = {"contender": contender, "phase": phase, "metric": metric, "points": points}
            try:
                fit = fit_power_law(points)
            except ValueError as error:
                row["note"] = str(error)
            else:
                row.update(fit=fit, predicted={size: fit.at(size) for size in at})
            rows.append(row)
    return rows


def markdown(rows, at=DEFAULT_AT) -> str:
    """The extrapolation table, labelled as one."""
    sizes = " | ".join(f"predicted at {size:,} tracks" for size in at)
    lines = ["## extrapolation (a fitted curve, not a measurement)", "",
             "Power law t = a * tracks^b fitted by least squares on log-log over the measured scales "
             "(tracks = track ids); R^2 only with three sizes or more (two points fix the curve).", "",
             f"| contender | phase | figure | measured (tracks: value) | a | b | R^2 | {sizes} |",
             "|---|---|---|---|---|---|---|" + "---|" * len(at)]
    for row in rows:
        label, fmt = METRICS[row["metric"]]
        measured = "; ".join(f"{p.tracks:,}: {fmt(p.value)} ({p.source})" for p in row["points"])
        fit = row.get("fit")
        if fit is None:
            cells = ["", "", ""] + [row.get("note", "")] + [""] * (len(at) - 1)
        else:
            cells = [f"{fit.a:.4g}", f"{fit.b:.3f}", "" if fit.r2 is None else f"{fit.r2:.3f}"] \
                + [fmt(row["predicted"][size]) for size in at]
        lines.append(f"| {row['contender']} | {row['phase']} | {label} | {measured} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def load(paths) -> list:
    """(source name, results) per file: the name is the file's directory."""
    runs = []
    for path in map(Path, paths):
        runs.append((path.parent.name or path.name, json.loads(path.read_text(encoding="utf-8"))))
    return runs


def _sizes(text: str) -> tuple:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trending_cli.bench.extrapolate",
        description="Fit t = a * tracks^b per contender and phase over benchmark results.json files "
                    "and print the extrapolation to other sizes (issue 18, item 5).")
    parser.add_argument("results", nargs="+", help="results.json files (e.g. medium, large and prod runs)")
    parser.add_argument("--at", type=_sizes, default=DEFAULT_AT,
                        help="comma-separated track counts to predict at (default 4200000)")
    parser.add_argument("--metrics", default="wall_s,blocks",
                        help=f"comma-separated figures among {', '.join(METRICS)} (default wall_s,blocks)")
    parser.add_argument("--out", default=None, help="write the markdown there too")
    args = parser.parse_args(argv)
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    text = markdown(extrapolate(load(args.results), metrics, args.at), args.at)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
