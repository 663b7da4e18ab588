"""Read the extension's configuration: trending.settings and trending.strategies."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    type: str
    version: str
    kind: str  # 'track' or 'playlist': which score table it writes
    time_ranges: tuple[str, ...]
    enabled: bool

    @property
    def key(self) -> str:
        return f"{self.type}/{self.version}"


def read_settings(plpy) -> dict[str, str]:
    rows = plpy.execute("SELECT name, value FROM trending.settings")
    return {row["name"]: row["value"] for row in rows}


def read_strategies(plpy) -> list[Strategy]:
    rows = plpy.execute(
        "SELECT type, version, kind, time_ranges, enabled FROM trending.strategies"
        " ORDER BY kind DESC, type, version")
    return [Strategy(r["type"], r["version"], r["kind"], tuple(r["time_ranges"]), bool(r["enabled"]))
            for r in rows]
