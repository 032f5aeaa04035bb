"""The ``pysandbox`` command line (runc/runsc compatible)."""
