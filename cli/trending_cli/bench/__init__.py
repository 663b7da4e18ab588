"""The benchmark of issue 3: the extension against the upstream job's three
write strategies (A, B, C and C0, reimplemented from docs/reference.md in upstream.py), on
the generator's data, in a throwaway cluster with real durability.

`run()` is the entry point (the CLI's `bench` calls it); `python -m
trending_cli.bench` is the command line. See runner.py for the protocol.
"""

from .runner import CONTENDERS, run

__all__ = ["CONTENDERS", "run"]
