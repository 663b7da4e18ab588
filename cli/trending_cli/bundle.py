"""The built extension files the package carries, for `trending install`.

`trending install` must work from a pip-installed CLI, without a checkout or
PGXS on the database server, so the package carries the control file and the
SQL scripts `make` builds, in extension_files/. In the checkout these are
symlinks to the root's files (one source of truth, never stale); building a
wheel copies their content into it.
"""

from __future__ import annotations

import re
from pathlib import Path

EXTENSION = "trending"
BUNDLE_DIR = Path(__file__).resolve().parent / "extension_files"
CHECKOUT = Path(__file__).resolve().parents[2]


def _names(directory: Path) -> list[str]:
    """The extension's files in `directory`: the control file and every script."""
    names = sorted(p.name for p in directory.glob(f"{EXTENSION}--*.sql"))
    if (directory / f"{EXTENSION}.control").exists():
        names.insert(0, f"{EXTENSION}.control")
    return names


def files() -> dict[str, bytes]:
    """Name -> content of the carried files (empty if the package carries none)."""
    return {name: (BUNDLE_DIR / name).read_bytes() for name in _names(BUNDLE_DIR)} if BUNDLE_DIR.is_dir() else {}


def default_version(control: bytes) -> str | None:
    """default_version of a control file's text."""
    match = re.search(rb"^\s*default_version\s*=\s*'([^']*)'", control, re.M)
    return match.group(1).decode() if match else None


def missing(checkout: Path = CHECKOUT) -> list[str]:
    """The checkout's extension files the package does not carry, or carries
    with other content (a script added without its link in extension_files/)."""
    return [name for name in _names(checkout)
            if not (BUNDLE_DIR / name).exists()
            or (BUNDLE_DIR / name).read_bytes() != (checkout / name).read_bytes()]
