"""Session-wide guards for the unit tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _cpu_affinity_restored() -> Iterator[None]:
    """The ptrace platform's default pinning (``sticky``) pins the thread
    that switches into a stub, and many tests switch on pytest's own
    thread without releasing their context: put its CPU set back after
    each test so one test's pin does not slow the rest."""
    allowed = os.sched_getaffinity(0)
    yield
    if os.sched_getaffinity(0) != allowed:
        os.sched_setaffinity(0, allowed)
