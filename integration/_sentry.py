"""Shared fixtures for the integration/test_sentry_*.py tests."""

from __future__ import annotations

import shutil

import pytest

from integration.syscalls import harness


def require_sentry() -> None:
    """Skip (with the reason) where the ptrace platform cannot run (for the
    tests that run on the default platform only, such as the host-pty ones)."""
    reason = harness.ptrace_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def workdir(sentry_platform: str):
    """A directory outside /tmp (the sandbox has its own /tmp); the test
    runs once per platform (``sentry_platform``, integration/conftest.py)."""
    path = harness.workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)
