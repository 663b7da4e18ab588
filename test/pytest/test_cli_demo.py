"""`trending demo`, the embedded default, end to end: it starts its own
cluster with pg_cron, loads sample data, installs and schedules the
extension, runs a cycle and prints real lists; --keep leaves a cluster one
can connect to, watch and stop as it says."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

TRENDING = [sys.executable, "-m", "trending_cli"]
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TRENDING, *args], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def section(output: str, title: str) -> list[str]:
    """The data rows printed under `title` (after its header and rule lines)."""
    lines = output.splitlines()
    start = lines.index(title) + 3
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def demo_output() -> str:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_prints_the_lists_and_the_summary(demo_output):
    out = demo_output
    assert "  extension: created trending 1.2 in database postgres\n" in out
    assert "  source schema: set to music (was public)\n" in out
    assert re.search(r"^  schedule: created pg_cron job \d+ in database postgres: '0 \* \* \* \*' runs "
                     r"CALL trending.scheduled_recompute\(\) in database postgres as role trending_job$", out, re.M)
    assert "  pg_cron: created the extension in database postgres" in out, "install creates pg_cron itself"
    assert "  job role: created role trending_job (LOGIN, no password, not a superuser;" in out
    assert "SELECT trending.recompute(now() - interval '1 hour'): ok" in out, "the first cycle runs an hour back"
    assert "\nAn hour later, SELECT trending.recompute(): ok" in out, "the second at the real now"
    movers_title = "Movers of the week's top 100 tracks in that hour (trending.movers())"
    after = out[out.index(movers_title) + len(movers_title) + 1:].splitlines()
    assert after == ["(nothing moved)"] or (after[0].split() == ["movement", "track_id", "was", "now", "climb"]
                                            and {line.split()[0] for line in after[2:]} <= {"entry", "exit", "climb"}
                                            and len(after) > 2), "the demo ends with the movers of that hour"
    top = section(out, "Top 10 tracks of the week")
    assert len(top) == 10, out
    ranks = [int(line.split()[0]) for line in top]
    assert ranks == list(range(1, 11))
    scores = [float(line.split()[2].replace(",", "")) for line in top]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    genre_titles = [line for line in out.splitlines() if re.fullmatch(r"Top 10 .+ tracks of the week", line)
                    and line != "Top 10 tracks of the week"]
    assert len(genre_titles) == 1
    genre = genre_titles[0][len("Top 10 "):-len(" tracks of the week")]
    genre_rows = section(out, genre_titles[0])
    assert genre_rows and all(line.rstrip().endswith(genre) for line in genre_rows)
    assert len(section(out, "Top 5 playlists of the week")) == 5
    assert re.search(r"^TRACKS/pnagD\s+week\s+[1-9][\d,]*\s+0\s+0\s+0\s", out, re.M), \
        "the summary shows the first cycle's inserts per slice"
    assert "bad rows: " in out and "duplicate_current_tracks" in out


def _shape(line: str) -> str:
    """A printed line, numbers aside: every number is N, runs of spaces or of
    dashes (table alignment, which follows the numbers' widths) count once."""
    line = re.sub(r"\d[\d,]*(?:\.\d+)?", "N", line)
    return re.sub(r"-{2,}", "-", re.sub(r"\s+", " ", line)).strip()


def readme_demo_sample() -> list[str]:
    text = README.read_text()
    start = text.index("What the demo prints")
    block = text[text.index("```\n", start) + 4:]
    return block[:block.index("```")].splitlines()


def test_readme_sample_is_what_the_demo_prints(demo_output):
    """The README's sample of the demo's output, numbers aside, is the demo's
    own output: its runs of lines (a `...` line separates runs) appear in
    order, each run as consecutive lines."""
    printed = [_shape(line) for line in demo_output.splitlines()]
    runs, run = [], []
    for line in readme_demo_sample():
        if line.strip() == "...":
            runs.append(run)
            run = []
        else:
            run.append(_shape(line))
    runs.append(run)
    assert sum(map(len, runs)) >= 10, "the README should show a sample of the demo's output"
    at = 0
    for run in filter(None, runs):
        found = next((i for i in range(at, len(printed) - len(run) + 1) if printed[i:i + len(run)] == run), None)
        assert found is not None, ("the README's sample of the demo's output is not what the demo prints: "
                                   f"these lines do not appear (in order, numbers aside):\n" + "\n".join(run)
                                   + "\n\n--- the demo printed\n" + demo_output)
        at = found + len(run)


def test_demo_keep_leaves_a_cluster_to_connect_to():
    result = run_cli("demo", "--keep", "--json", "--seed", "7")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    conninfo = re.search(r'psql "([^"]+)"', out).group(1)
    stop = re.search(r"^  (runuser .* stop) && rm -rf (\S+)$", out, re.M)
    try:
        summary = json.loads(out[out.index("The cycle's summary\n") + len("The cycle's summary\n"):
                                 out.index("\n\nAn hour later")])
        assert summary["status"] == "ok"
        with psycopg.connect(conninfo) as conn:
            rows = conn.execute("SELECT count(*) FROM trending.top_tracks(lim => 1000)").fetchone()[0]
            # the second cycle's changes to the week's list, from its run row
            (second,) = conn.execute("SELECT slice_rows -> 'TRACKS/pnagD/week' FROM trending.runs "
                                     "WHERE status = 'ok' ORDER BY run_id DESC LIMIT 1").fetchone()
            (ages,) = conn.execute("SELECT array_agg(cycle_now ORDER BY run_id) FROM trending.runs "
                                   "WHERE status = 'ok'").fetchone()
            movers = conn.execute("SELECT movement, id FROM trending.movers('week')").fetchall()
        assert rows == (summary["strategies"]["TRACKS/pnagD"]["ranges"]["week"]["inserted"]
                        + second["inserted"] - second["deleted"])
        assert len(ages) == 2 and 3600 <= (ages[1] - ages[0]).total_seconds() < 7200, \
            "the first cycle an hour before the second"
        printed = out[out.index("(trending.movers())\n") + len("(trending.movers())\n"):
                      out.index("\nThe cluster keeps running")].splitlines()
        assert [(line.split()[0], int(line.split()[1].replace(",", ""))) for line in printed[2:]] == movers \
            if movers else printed == ["(nothing moved)"]
        # the hint names a command that runs as printed (`trending` is on no PATH here)
        watch = shlex.split(re.search(r"^  (.+ status --dsn .+)$", out, re.M).group(1))
        assert watch[0] != "trending", "the hint must name a trending that this shell can run"
        status = subprocess.run(watch, capture_output=True, text=True, timeout=120,
                                env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
        assert status.returncode == 0, status.stderr
        assert re.search(r"^schedule: '0 \* \* \* \*' \(GMT\), pg_cron job \d+ in database postgres, "
                         r"as role trending_job, active$", status.stdout, re.M)
        doctor = run_cli("doctor", "--dsn", conninfo)
        assert doctor.returncode == 0 and doctor.stdout.endswith("trending doctor: all good\n"), doctor.stdout
    finally:
        subprocess.run(shlex.split(stop.group(1)), capture_output=True)
        subprocess.run(["rm", "-rf", stop.group(2)])


def test_unknown_scale_is_one_clear_line():
    result = run_cli("demo", "--scale", "huge")
    assert result.returncode != 0
    assert "unknown scale 'huge'" in result.stderr and "Traceback" not in result.stderr
