"""The single source of pysandbox's version (read by setup.cfg and both binaries)."""

__version__ = "0.1.0"
