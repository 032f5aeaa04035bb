"""Choosing the backend: the runtime library, or one named for tests.

``PYSANDBOX_SHIM_BACKEND=module:factory`` makes the shim (every binary
action) build its backend with ``factory(config)`` instead. It exists so
the whole shim, containerd included, can be exercised with a backend that
runs plain host processes while the sandbox is not available; it is a test
seam, documented as such, and never set in production configurations.
"""

from __future__ import annotations

import importlib
import os

from shim.backend import Backend
from shim.options import ShimConfig

ENV = "PYSANDBOX_SHIM_BACKEND"


class BackendError(Exception):
    """The configured backend cannot be loaded."""


def load(config: ShimConfig, container_id: str = "") -> Backend:
    """The backend for ``config`` (``$PYSANDBOX_SHIM_BACKEND`` overrides)."""
    override = os.environ.get(ENV, "")
    if override:
        module_name, _, attr = override.partition(":")
        if not module_name or not attr:
            raise BackendError(f"{ENV}={override!r}: expected module:factory")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"{ENV}={override!r}: {exc}") from None
        backend: Backend = factory(config)
        return backend
    from shim.runtime_backend import RuntimeBackend

    return RuntimeBackend(config)
