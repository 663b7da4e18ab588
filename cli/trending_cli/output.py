"""Plain-text tables for the terminal, and a cycle's summary as one."""

from __future__ import annotations


def table(headers: list[str], rows: list[list], *, align: str | None = None) -> str:
    """Columns padded to their widest cell; `align` has one 'l' or 'r' per column
    (numbers right-aligned by default)."""
    cells = [[_cell(v) for v in row] for row in rows]
    if align is None:
        align = "".join("r" if rows and all(isinstance(r[i], (int, float)) for r in rows) else "l"
                        for i in range(len(headers)))
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.rjust(w) if a == "r" else v.ljust(w)
                         for v, w, a in zip(values, widths, align)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


RANGE_ORDER = ("week", "month", "year", "allTime")
STEP_ORDER = ("check_sources", "track_inputs", "track_changes", "playlist_inputs", "playlist_changes", "slices",
              "record_movers", "write_state")


def _ordered(keys, order) -> list:
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def format_summary(summary: dict) -> str:
    """The summary as a table per strategy and range, then steps and bad rows.
    (jsonb sorts object keys by length; put them back in reading order.)"""
    rows = []
    strategies = summary["strategies"]
    for key in sorted(strategies, key=lambda k: (not strategies[k]["enabled"], k)):
        strategy = strategies[key]
        for time_range in _ordered(strategy["ranges"], RANGE_ORDER):
            c = strategy["ranges"][time_range]
            rows.append([key if strategy["enabled"] else f"{key} (off)", time_range, c["inserted"], c["updated"],
                         c["deleted"], c["unchanged"], f"{c['ms']:.1f}"])
    lines = [table(["strategy", "range", "inserted", "updated", "deleted", "unchanged", "ms"], rows,
                   align="llrrrrr")]
    steps = summary["steps"]
    lines.append("steps (ms): " + ", ".join(f"{k} {steps[k]:,.1f}" for k in _ordered(steps, STEP_ORDER))
                 + f"; total {summary['ms']:,.1f}")
    counted = [f"{k} {v}" for k, v in sorted(summary["bad_rows"].items()) if v is not None]
    lines.append("bad rows: " + (", ".join(counted) if counted else "not counted (an incremental cycle)"))
    cycle = summary.get("cycle") or {}
    if cycle.get("kind"):
        line = f"cycle: {cycle['kind']} ({cycle.get('reason')})"
        if cycle.get("affected"):
            line += "; items rescored: " + ", ".join(f"{k} {v:,}" for k, v in sorted(cycle["affected"].items()))
        if cycle.get("drift") is not None:
            line += "; drift: " + ", ".join(f"{k} {v:,}" for k, v in sorted(cycle["drift"].items()))
        lines.append(line)
    lines.append(f"run {summary['run_id']}: now {summary['now']} UTC, source schema {summary['source_schema']}, "
                 f"WAL {summary['wal_bytes']:,} bytes")
    return "\n".join(lines)
