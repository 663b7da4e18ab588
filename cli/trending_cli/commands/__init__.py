"""The `trending` subcommands: each module has register(subparsers), which
adds its parser with a `handler` returning the exit status."""

from . import bench, compare, demo, doctor, install, recompute, status, top, uninstall

MODULES = (doctor, install, uninstall, status, recompute, top, compare, demo, bench)
