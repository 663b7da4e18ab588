#!/usr/bin/env python3
"""Assemble an install or upgrade script from the sql/ parts and the Python package.

The parts are concatenated in the order given (the Makefile sorts them), each
preceded by a "-- source:" line. With --or-replace (upgrade scripts),
"CREATE FUNCTION" / "PROCEDURE" / "VIEW" become "CREATE OR REPLACE ...": an
upgrade redefines the routines and views it already has, in place, so their
grants and extension membership stay; a fresh install keeps plain CREATE, so
it fails rather than adopt a routine someone created beforehand. The marker line "#@TRENDING_PL_SOURCES@" in a
part is replaced by the package's modules as Python string literals plus a
digest of them (see sql/functions/_python_init.sql). The output depends only
on the inputs' bytes: building twice gives the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

MARKER = "#@TRENDING_PL_SOURCES@"
DOLLAR_QUOTE = "$python$"


def package_modules(package_dir: Path) -> dict[str, str]:
    """{module name: source} for every .py file of the package, sorted by name."""
    package = package_dir.name
    modules = {}
    for path in sorted(package_dir.glob("*.py")):
        name = package if path.name == "__init__.py" else f"{package}.{path.stem}"
        source = path.read_text(encoding="utf-8")
        if DOLLAR_QUOTE in source:
            raise SystemExit(f"{path}: contains {DOLLAR_QUOTE}, which would end the function body")
        modules[name] = source
    if package not in modules:
        raise SystemExit(f"{package_dir}: not a package (no __init__.py)")
    return dict(sorted(modules.items()))


def embedded_sources(modules: dict[str, str]) -> str:
    """Python source defining SOURCES and DIGEST."""
    digest = hashlib.sha256()
    lines = ["SOURCES = {"]
    for name, source in modules.items():
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
        lines.append(f"    {name!r}: {source!r},")
    lines.append("}")
    lines.append(f"DIGEST = {digest.hexdigest()!r}")
    return "\n".join(lines)


CREATE_ROUTINE = re.compile(r"^CREATE (FUNCTION|PROCEDURE|VIEW) ", re.M)


def assemble(parts: list[Path], modules: dict[str, str], or_replace: bool = False) -> str:
    chunks = []
    markers = 0
    for part in parts:
        text = part.read_text(encoding="utf-8")
        if or_replace:
            text = CREATE_ROUTINE.sub(r"CREATE OR REPLACE \1 ", text)
        if MARKER in text:
            markers += text.count(MARKER)
            text = text.replace(MARKER, embedded_sources(modules))
        chunks.append(f"-- source: {part.as_posix()}\n{text.rstrip()}\n")
    if markers != 1:
        raise SystemExit(f"expected exactly one {MARKER} line in the parts, found {markers}")
    return "\n".join(chunks)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--python-package", required=True, type=Path)
    parser.add_argument("--or-replace", action="store_true",
                        help="CREATE OR REPLACE the routines (for upgrade scripts)")
    parser.add_argument("parts", nargs="+", type=Path)
    args = parser.parse_args(argv)

    script = assemble(args.parts, package_modules(args.python_package), args.or_replace)
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text(script, encoding="utf-8", newline="\n")
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
