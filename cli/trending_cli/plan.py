"""Planned steps: the one list that `trending install` and `trending
uninstall` execute and that their --dry-run prints, so the two cannot drift
apart.

A command first reads the catalogs (nothing else) and builds its steps: each
says what it would do, the SQL it would run and where, and how to run it.
The real run executes them in order; --dry-run prints them and runs none.
A note is a step that changes nothing (what stays as it is, or what is left
for the DBA with the command that removes it): both print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# run() returns the lines that say what it did, and whether it changed anything
Outcome = tuple[list[str], bool]


@dataclass
class Step:
    area: str                        # "extension", "job role", ...: the line's prefix
    what: str                        # what it would do, for --dry-run ("create role x ...")
    sql: list[str] = field(default_factory=list)   # what it runs, shown by --dry-run
    run: Callable[[], Outcome] | None = None        # None: a note, nothing to run
    database: str | None = None      # where the SQL runs, when not the target database
    checks_only: bool = False        # it runs, but finds nothing to change (a dry run shows it as a note)

    @property
    def changes(self) -> bool:
        return self.run is not None and not self.checks_only


def note(area: str, text: str) -> Step:
    return Step(area, text)


def execute(steps: list[Step], out) -> bool:
    """Run the steps in order, printing what each did; True if any changed something."""
    changed = False
    for step in steps:
        if step.run is None:
            out(f"{step.area}: {step.what}")
            continue
        lines, did = step.run()
        for line in lines:
            out(line)
        changed |= did
    return changed


def show(steps: list[Step], command: str, database: str, out) -> None:
    """--dry-run: every step, what it would do and its SQL; nothing runs."""
    planned = [s for s in steps if s.changes]
    out(f"trending {command} --dry-run: database {database}; nothing is changed, no lock a writer waits for is "
        "taken (only the catalogs are read)")
    for step in steps:
        if not step.changes:
            out(f"  {step.area}: {step.what}")  # a note, or a step that changes nothing
            continue
        out(f"  would {step.area}: {step.what}")
        if step.database and step.database != database:
            out(f"      -- in database {step.database}")
        for statement in step.sql:
            out(f"      {statement}")
    out(f"trending {command} --dry-run: {len(planned)} step{'s' * (len(planned) != 1)} would change something"
        if planned else f"trending {command} --dry-run: nothing would change")
