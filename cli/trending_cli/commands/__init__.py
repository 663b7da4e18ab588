"""The `trending` subcommands: each module has register(subparsers), which
adds its parser with a `handler` returning the exit status."""

from . import bench, compare, demo, doctor, install, recompute, status, top, uninstall
from . import explain, movers, preview  # issue 11
from . import pause  # issue 16

MODULES = (doctor, install, uninstall, status, recompute, top, compare, demo, bench)
MODULES += (preview, explain, movers)  # issue 11
MODULES += (pause,)  # issue 16
