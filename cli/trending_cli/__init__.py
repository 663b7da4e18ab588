"""trending_cli: install, schedule, run and watch the trending extension."""

__version__ = "1.0.0"
