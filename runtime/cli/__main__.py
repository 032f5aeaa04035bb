"""``python -m runtime.cli``: the ``pysandbox`` command."""

from runtime.cli.entry import run

run()
