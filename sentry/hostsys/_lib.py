"""Loads the compiled cffi module and turns C failures into ``OSError``."""

from __future__ import annotations

import os
from typing import Any

try:
    from sentry.hostsys._hostsys import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "sentry.hostsys._hostsys is not built; run `pip install -e .` in the source tree"
    ) from exc

__all__ = ["check", "ffi", "lib"]


def check(result: int, what: str) -> int:
    """Return ``result``, or raise ``OSError(errno)`` if it is negative (-1 convention)."""
    if result < 0:
        err = ffi.errno
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def new(ctype: str, init: Any = None) -> Any:
    """``ffi.new`` with a shorter name for the wrappers."""
    return ffi.new(ctype, init)
