"""Terminal bar charts (issue 11) drawn with rich, for `trending top --chart`
and `trending movers`. Only on a terminal: when stdout is a pipe or a file,
the commands print the plain tables of output.py, so scripts see the same
text as before."""

from __future__ import annotations

import sys

from rich.bar import Bar
from rich.console import Console
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 40


def make_console() -> Console:
    """The console charts go to: stdout (tests replace this with one that
    forces a terminal and records its output)."""
    return Console(file=sys.stdout, highlight=False)


def score_chart(console: Console, title: str, id_header: str, rows: list) -> None:
    """rows: (rank, id, score[, genre]): one bar per row, as long as its
    score relative to the first (the highest)."""
    top = max((float(r[2]) for r in rows), default=0.0) or 1.0
    console.print(Text(title, style="bold"))
    chart = Table(show_edge=False, box=None, pad_edge=False)
    chart.add_column("rank", justify="right")
    chart.add_column(id_header, justify="right")
    chart.add_column("score", justify="right")
    chart.add_column("", width=BAR_WIDTH, no_wrap=True)
    if rows and len(rows[0]) > 3:
        chart.add_column("genre")
    for row in rows:
        cells = [f"{row[0]:,}", f"{row[1]}", f"{float(row[2]):,.4f}",
                 Bar(top, 0, float(row[2]), width=BAR_WIDTH, color="cyan")]
        if len(row) > 3:
            cells.append(row[3] or "")
        chart.add_row(*cells)
    console.print(chart)


MOVEMENT_STYLE = {"entry": "green", "climb": "cyan", "exit": "red"}


def movers_chart(console: Console, title: str, id_header: str, rows: list, top_n: int) -> None:
    """rows: (movement, id, previous_rank, rank, climb): a bar per row, its
    length the climb for climbs, the new rank's height in the list for
    entries (rank 1 is a full bar) and the lost rank's for exits."""
    console.print(Text(title, style="bold"))
    chart = Table(show_edge=False, box=None, pad_edge=False)
    for header, justify in (("", "left"), (id_header, "right"), ("was", "right"), ("now", "right")):
        chart.add_column(header, justify=justify)
    chart.add_column("", width=BAR_WIDTH, no_wrap=True)
    chart.add_column("")
    biggest = max([r[4] for r in rows if r[4]] + [1])
    for movement, id_, previous, rank, climb in rows:
        style = MOVEMENT_STYLE[movement]
        if movement == "climb":
            size, end, note = biggest, climb, f"+{climb}"
        elif movement == "entry":
            size, end, note = top_n, top_n - rank + 1, "new"
        else:
            size, end, note = top_n, top_n - previous + 1, "out"
        chart.add_row(Text(movement, style=style), f"{id_}", "" if previous is None else f"{previous:,}",
                      "" if rank is None else f"{rank:,}", Bar(size, 0, end, width=BAR_WIDTH, color=style),
                      Text(note, style=style))
    console.print(chart)
